"""`endotrial screen`: screen a CSV or Parquet file of candidates against the protocol."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import ProtocolOption
from endotrial.cli.output import ForceOption, progress_bar
from endotrial.eligibility import stream_file
from endotrial.eligibility.results import (
    JsonWriter,
    checked_output_path,
    python_rows,
    result_file,
)
from endotrial.files import check_output_file
from endotrial.protocol import load_protocol


@app.command("screen")
@user_errors
def screen(
    path: Annotated[Path, typer.Argument(help="Candidates as .csv or .parquet, one per row.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write one row per candidate (.csv, .parquet or .pq); an existing file only "
            "with --force, never the input.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    force: ForceOption = False,
    protocol_id: ProtocolOption = None,
) -> None:
    """Decide eligible, ineligible or incomplete for each candidate, naming criteria and items.

    The file is read and screened in batches, so any length fits in memory; a progress bar
    shows on a terminal. Without --out or --json each candidate is listed, then the summary."""
    if out is not None:  # before screening, so a wrong name costs no wait
        check_output_file(checked_output_path(out), inputs=(path,), force=force)
    protocol = load_protocol(protocol_id)
    stream = stream_file(protocol, path)
    kinds = {criterion.id: criterion.kind for criterion in protocol.criteria}
    list_rows = out is None and not as_json
    # The bar only where it cannot mix with rows printed on the same terminal.
    shows_bar = not (as_json or list_rows) or not sys.stdout.isatty()
    with ExitStack() as stack:
        results = stack.enter_context(result_file(out)) if out is not None else None
        json_out = JsonWriter(_echo, stream.header()) if as_json else None
        advance = stack.enter_context(progress_bar(stream.total, "screening", enabled=shows_bar))
        for batch in stream:
            if results is not None:
                results.write(batch)
            if json_out is not None:
                json_out.write(batch)
            elif list_rows:
                for rows in python_rows(batch):
                    _echo("".join(_row_line(row, kinds) + "\n" for row in rows))
            advance(batch.num_rows)
        if json_out is not None:
            json_out.finish(stream.counts)
    if not as_json:
        typer.echo(("\n" if list_rows else "") + stream.summary())
    if out is not None:
        typer.echo(f"wrote {stream.screened} results to {out}", err=True)


def _echo(text: str) -> None:
    typer.echo(text, nl=False)


def _row_line(row: dict[str, Any], kinds: Mapping[str, str]) -> str:
    """One candidate on one line: decision, then why."""
    reasons = [
        *(
            f"{'excluded by' if kinds.get(c) == 'exclusion' else 'not met'} {c}"
            for c in row["failed_criteria"]
        ),
        *(f"needs {item}" for item in row["missing_items"]),
        *row["arm_notes"],
        *row["errors"],
    ]
    candidate = row["candidate_id"] or "(no id)"
    return f"  row {row['row']:>4}  {candidate:<12} {row['decision']:<10}  " + "; ".join(reasons)
