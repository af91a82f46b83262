"""`endotrial stats compare-proportions`, `stats paired-change` and `endotrial power`: a
statistician's calculator."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.errors import InputError

if TYPE_CHECKING:
    from endotrial.analysis.results import AnalysisResult

# scipy and statsmodels are imported inside the commands: every other command starts faster.

stats_app = typer.Typer(
    help="Statistics for two groups: every interval and test.", no_args_is_help=True
)
app.add_typer(stats_app, name="stats")

JsonOption = Annotated[bool, typer.Option("--json", help="JSON instead of text.")]


@stats_app.command("compare-proportions")
@user_errors
def compare_proportions_command(
    events: Annotated[
        tuple[int, int], typer.Option("--events", help="Events in group A and in group B.")
    ],
    totals: Annotated[
        tuple[int, int], typer.Option("--totals", help="Participants in group A and in group B.")
    ],
    labels: Annotated[
        tuple[str, str], typer.Option("--labels", help="Names of the two groups.")
    ] = ("A", "B"),
    confidence: Annotated[
        float, typer.Option("--confidence", help="Confidence level of the intervals (0.95).")
    ] = 0.95,
    as_json: JsonOption = False,
) -> None:
    """Rates, risk difference (Newcombe, Miettinen-Nurminen), risk and odds ratios, Fisher's
    and Boschloo's tests for A against B."""
    from endotrial.analysis.proportions import TwoGroups, compare_proportions

    groups = TwoGroups(events[0], totals[0], events[1], totals[1], labels[0], labels[1])
    _print(compare_proportions(groups, confidence=confidence), as_json)


@stats_app.command("paired-change")
@user_errors
def paired_change_command(
    csv_file: Annotated[
        Path, typer.Argument(help="CSV file: one row per participant, a header row.")
    ],
    before: Annotated[str, typer.Option("--before", help="Column of the baseline values.")],
    after: Annotated[str, typer.Option("--after", help="Column of the follow-up values.")],
    what: Annotated[
        str, typer.Option("--what", help="What changes (e.g. 'thickness (mm)').")
    ] = "change",
    confidence: Annotated[
        float, typer.Option("--confidence", help="Confidence level of the intervals (0.95).")
    ] = 0.95,
    as_json: JsonOption = False,
) -> None:
    """A single-arm before/after comparison: mean change with the paired t test, and the
    Hodges-Lehmann change with Wilcoxon's signed-rank test (exact as R's wilcox.test when it
    can be); a row missing either value is left out and counted."""
    from endotrial.analysis.paired import paired_change

    first, second = read_pairs(csv_file, before, after)
    _print(paired_change(first, second, confidence=confidence, what=what), as_json)


def read_pairs(path: Path, before: str, after: str) -> tuple[list[float], list[float]]:
    """The two columns as numbers (an empty cell: missing, nan); a column the file does not
    have, or a cell that is not a number, is refused naming the line, the column and the value."""
    rows, columns = _csv_rows(path)
    for column in (before, after):
        if column not in columns:
            raise InputError(f"{path}: no column '{column}': the columns are {', '.join(columns)}")
    pairs = [(_number(path, line, row, before), _number(path, line, row, after))
             for line, row in rows]  # fmt: skip
    if not pairs:
        raise InputError(f"{path}: no rows under the header: one row per participant")
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _csv_rows(path: Path) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = [(reader.line_num, row) for row in reader]
            return rows, list(reader.fieldnames or [])
    except FileNotFoundError:
        raise InputError(f"{path}: no such file: check the path") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text: save the file as CSV (UTF-8)") from None
    except (OSError, csv.Error) as error:
        raise InputError(f"{path}: cannot be read as CSV ({error})") from None


def _number(path: Path, line: int, row: dict[str, str], column: str) -> float:
    text = (row.get(column) or "").strip()
    if not text:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        value = math.nan
        text = text[:40]
    else:
        if math.isfinite(value):
            return value
    raise InputError(
        f"{path}, line {line}, column '{column}': '{text}' is not a number: correct it, or "
        "leave the cell empty for a missing value"
    )


@app.command("power")
@user_errors
def power_command(
    p1: Annotated[float, typer.Option("--p1", help="Expected rate in group 1 (e.g. 0.25).")],
    p2: Annotated[float, typer.Option("--p2", help="Expected rate in group 2 (e.g. 0.55).")],
    n: Annotated[
        int | None, typer.Option("--n", help="Participants per group: gives the power.")
    ] = None,
    power: Annotated[
        float | None, typer.Option("--power", help="Target power (e.g. 0.8): gives n per group.")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Two-sided significance level.")] = 0.05,
    exact: Annotated[
        bool,
        typer.Option("--exact", help="Also the exact power of Fisher's and Boschloo's tests."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Power or sample size for comparing two proportions (two-sided)."""
    from endotrial.analysis.power import power_report

    _print(power_report(p1=p1, p2=p2, n=n, power=power, alpha=alpha, exact=exact), as_json)


def _print(results: list[AnalysisResult], as_json: bool) -> None:
    from endotrial.analysis.results import results_json

    if as_json:
        typer.echo(results_json(results))
        return
    for result in results:
        typer.echo(result.summary())
        for note in result.notes:
            typer.echo(f"    {note}")
