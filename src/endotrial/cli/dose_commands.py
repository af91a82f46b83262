"""`endotrial dose`: the cell dose for a weight (or a fixed dose), with the protocol's limits and
release checks; a protocol with several dose groups is asked which (--arm or --rule)."""

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
from endotrial.dosing.engine import VIABILITY_RESULT_ID, arm_dose_rule
from endotrial.errors import InputError
from endotrial.protocol import Protocol, load_protocol
from endotrial.protocol.models import DoseRule


@app.command("dose")
@user_errors
def dose(
    weight_kg: Annotated[
        float | None,
        typer.Option("--weight-kg", help="Body weight in kg (a fixed dose needs none)."),
    ] = None,
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
    arm: Annotated[
        str | None,
        typer.Option("--arm", help="The arm whose dose group to compute (several dose rules)."),
    ] = None,
    rule: Annotated[
        str | None, typer.Option("--rule", help="The dose rule to use, by its id.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
    protocol_id: ProtocolOption = None,
) -> None:
    """Total cells, concentration in the protocol's volume and what to draw."""
    protocol = load_protocol(protocol_id)
    chosen = _chosen_rule(protocol, arm, rule)
    results: dict[str, float | str] = {
        key: _number_or_text(value)
        for key, value in parse_pairs(release or [], "--release").items()
    }
    plan = compute_dose(
        protocol if chosen is None else chosen,
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


def _chosen_rule(protocol: Protocol, arm: str | None, rule: str | None) -> DoseRule | None:
    """The rule named by --rule, or the one dosing --arm's group; None: the protocol's only
    rule (with several, the engine's error lists the choices)."""
    if arm is not None and rule is not None:
        raise InputError("give --arm or --rule, not both: an arm's dose group names its rule")
    if rule is not None:
        return protocol.dose_rule(rule)
    if arm is None:
        return None
    found = arm_dose_rule(protocol, arm)
    if found is None:
        raise InputError(
            f"arm '{arm}' of protocol {protocol.protocol_id} gives no cells (its procedures have "
            "no dose rule, e.g. a vehicle control): there is no dose to compute"
        )
    return found


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
