"""`endotrial screen`: screen a CSV or Parquet file of candidates against the protocol."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import ProtocolOption
from endotrial.eligibility import screen_file
from endotrial.eligibility.results import checked_output_path
from endotrial.protocol import load_protocol


@app.command("screen")
@user_errors
def screen(
    path: Annotated[Path, typer.Argument(help="Candidates as .csv or .parquet, one per row.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write one row per candidate (.csv, .parquet or .pq)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    protocol_id: ProtocolOption = None,
) -> None:
    """Decide eligible, ineligible or incomplete for each candidate, naming criteria and items."""
    if out is not None:
        checked_output_path(out)  # before screening, so a wrong name costs no wait
    protocol = load_protocol(protocol_id)
    run = screen_file(protocol, path)
    kinds = {criterion.id: criterion.kind for criterion in protocol.criteria}
    if as_json:
        typer.echo(run.to_json())
    else:
        typer.echo(run.summary())
        if out is None:
            typer.echo("")
            for row in run.rows():
                typer.echo(_row_line(row, kinds))
    if out is not None:
        run.write(out)
        typer.echo(f"wrote {run.total} results to {out}", err=True)


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
