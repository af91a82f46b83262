"""`endotrial stats compare-proportions` and `endotrial power`: a statistician's calculator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from endotrial.cli.app import app, user_errors

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
