"""`endotrial dose`: the cell dose for a weight, with the protocol's limits and release checks."""

from __future__ import annotations

from typing import Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import ProtocolOption, parse_pairs
from endotrial.dosing import (
    DosePlan,
    ReleaseStatus,
    compute_dose,
    render_dose_json,
    render_dose_text,
)
from endotrial.dosing.engine import VIABILITY_RESULT_ID
from endotrial.protocol import load_protocol


@app.command("dose")
@user_errors
def dose(
    weight_kg: Annotated[float, typer.Option("--weight-kg", help="Body weight in kg.")],
    viability_pct: Annotated[
        float | None,
        typer.Option("--viability-pct", help="Viability of the product in % (92, not 0.92)."),
    ] = None,
    stock_cells_per_ml: Annotated[
        float | None,
        typer.Option("--stock-cells-per-ml", help="Cell concentration of the stock to draw from."),
    ] = None,
    release: Annotated[
        list[str] | None,
        typer.Option(
            "--release",
            help="ID=VALUE release result, repeatable, e.g. sterility=negative or "
            "endotoxin_eu_ml=0.12 (the ids are listed in the output).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
    protocol_id: ProtocolOption = None,
) -> None:
    """Total cells, concentration in the protocol's volume and what to draw."""
    protocol = load_protocol(protocol_id)
    results: dict[str, float | str] = {
        key: _number_or_text(value)
        for key, value in parse_pairs(release or [], "--release").items()
    }
    plan = compute_dose(
        protocol,
        weight_kg,
        viability_pct=viability_pct,
        stock_cells_per_ml=stock_cells_per_ml,
        release_results=results or None,
    )
    if as_json:
        typer.echo(render_dose_json(plan))
        return
    typer.echo(render_dose_text(plan), nl=False)
    untested = [
        c
        for c in plan.release_checks
        if c.status is ReleaseStatus.not_tested and c.criterion_id != VIABILITY_RESULT_ID
    ]  # viability has its own option, --viability-pct
    if untested:
        typer.echo(f"\n{_release_hint(plan, untested[0].criterion_id)}")


def _release_hint(plan: DosePlan, example_id: str) -> str:
    example = next(c for c in plan.release_checks if c.criterion_id == example_id)
    limit = f"{example.limit:g}" if isinstance(example.limit, float) else str(example.limit)
    return (
        "Give the lab's results with --release ID=VALUE, one per test, using the ids above "
        f"(e.g. --release {example.criterion_id}={limit})."
    )


def _number_or_text(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value
