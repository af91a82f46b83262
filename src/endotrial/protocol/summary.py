"""Read-outs of a protocol for people: its labelled assumptions and a short overview."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel

from endotrial.protocol.models import Arm, Assumption, DoseRule, Protocol


@dataclass(frozen=True)
class AssumptionEntry:
    location: str
    reason: str
    source: str | None


def assumptions(protocol: Protocol) -> list[AssumptionEntry]:
    """Every value the registry leaves open, with where it sits in the file and why."""
    return list(_walk(protocol, ""))


def _walk(node: object, location: str) -> Iterator[AssumptionEntry]:
    if isinstance(node, BaseModel):
        found = getattr(node, "assumption", None)
        if isinstance(found, Assumption):
            yield AssumptionEntry(location or "(protocol)", found.reason, found.source)
        for field in type(node).model_fields:
            if field != "assumption":
                yield from _walk(getattr(node, field), _join(location, field))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            key = getattr(child, "id", None) or getattr(child, "name", None) or index
            yield from _walk(child, f"{location}[{key}]")
    elif isinstance(node, dict):
        for key, child in node.items():
            yield from _walk(child, _join(location, str(key)))


def _join(location: str, field: str) -> str:
    return f"{location}.{field}" if location else field


def overview(protocol: Protocol) -> str:
    """A readable summary of the protocol, for `endotrial protocol show`."""
    return "\n".join(
        [
            *_identity_lines(protocol),
            *_arm_lines(protocol),
            *_criteria_lines(protocol),
            *_schedule_lines(protocol),
            "",
            "Outcomes:",
            *(f"  [{o.kind}] {o.id}: {o.title} ({o.time_frame})" for o in protocol.outcomes),
            "",
            f"{len(assumptions(protocol))} labelled assumptions (show them with --assumptions).",
        ]
    )


def _identity_lines(protocol: Protocol) -> list[str]:
    identity, design = protocol.identity, protocol.design
    return [
        f"{identity.nct_id}  {identity.brief_title}",
        f"  org id {identity.org_study_id}; sponsor {identity.sponsor}",
        f"  status {identity.overall_status}; phase {identity.phase}; {identity.study_type}; "
        f"{identity.start_date} to {identity.completion_date}; "
        f"{identity.enrollment_target} participants",
        f"  design {design.allocation}, {design.intervention_model}, {design.primary_purpose}, "
        f"masking {design.masking}; sex {design.sex}, "
        f"{design.minimum_age_years}-{design.maximum_age_years} years",
    ]


def _arm_lines(protocol: Protocol) -> list[str]:
    lines = ["", "Arms:"]
    for arm in protocol.arms:
        lines.append(f"  {arm.id} ({arm.type}): {arm.label}")
        for regimen in map(protocol.regimen, arm.regimens):
            lines.append(
                f"    {regimen.drug} {regimen.dose:g} {regimen.unit} {regimen.frequency}, "
                f"{regimen.days_text()}"
            )
        for procedure in map(protocol.procedure, arm.procedures):
            lines.extend(_procedure_lines(protocol, arm, procedure.id))
    return lines


def _procedure_lines(protocol: Protocol, arm: Arm, procedure_id: str) -> list[str]:
    procedure = protocol.procedure(procedure_id)
    cycles = procedure.cycles_given()
    when = f"{procedure.cycle} cycle day {procedure.cycle_day}"
    if len(cycles) > 1:
        when = (
            f"cycle day {procedure.cycle_day} of each of {', '.join(cycles)} ({len(cycles)} times)"
        )
    lines = [
        f"    {procedure.name}: {when}, "
        f"{procedure.frequency.lower()}, {procedure.observation_hours} h observation",
        "      before: " + "; ".join(check.label for check in procedure.pre_checks),
    ]
    lines += [f"      {step.number}. {step.name}: {step.description}" for step in procedure.steps]
    # The arm's own rule (its dose group, or none: a vehicle) comes before the procedure's.
    rule_id = arm.dose_rules.get(procedure.id, procedure.dose_rule)
    if rule_id is not None:
        lines.append("      dose: " + _dose_text(protocol.dose_rule(rule_id)))
    else:
        lines.append("      dose: no cells (the procedure without a dose rule)")
    return lines


def _dose_text(rule: DoseRule) -> str:
    """'fixed 2 × 10^7 cells in 1 mL', or '1,000,000 cells/kg … at most 9 × 10^7 cells'."""
    if rule.kind == "fixed":
        text = (
            f"fixed {_cells(rule.cells or 0.0)} cells whatever the weight, in {rule.volume_ml:g} mL"
        )
    else:
        text = f"{rule.cells_per_kg or 0.0:,.0f} cells/kg in {rule.volume_ml:g} mL"
    if rule.weight_min_kg is not None and rule.weight_max_kg is not None:
        text += f" (weight {rule.weight_min_kg:g}-{rule.weight_max_kg:g} kg)"
    if rule.max_total_cells is not None:
        text += f", capped at {_cells(rule.max_total_cells)} cells"
    return f"{text} [rule {rule.id}]"


def _cells(value: float) -> str:
    """2e7 → '2 × 10^7', 1.4e8 → '1.4 × 10^8': a cell count as the lab writes it."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{float(mantissa):g} × 10^{int(exponent)}"


def _criteria_lines(protocol: Protocol) -> list[str]:
    lines = ["", "Eligibility:"]
    for criterion in protocol.criteria:
        scope = f" [arms: {', '.join(criterion.arms)}]" if criterion.arms else ""
        rule = criterion.expression or f"enforced by {criterion.enforced_by}"
        lines.append(f"  {criterion.id:<7} {criterion.kind:<9} {criterion.text}{scope}")
        lines.append(f"          ⇒ {' '.join(rule.split())}")
    for gap in protocol.criteria_gaps:
        lines.append(f"  GAP     {gap.kind} {gap.number}: {gap.note}")
    return lines


def _schedule_lines(protocol: Protocol) -> list[str]:
    lines = ["", "Schedule of activities:"]
    for event in protocol.schedule:
        if event.cycle is not None:
            when = f"{event.cycle} cycle day {event.cycle_day}"
        elif event.anchor is not None:
            when = f"{event.anchor} {event.offset_days:+d} d"
        else:
            when = "date given by the site"
        window = f" (window -{event.window_before_days}/+{event.window_after_days} d)"
        arms = f" [arms: {', '.join(event.arms)}]" if event.arms else ""
        lines.append(f"  {event.id}: {when}{window}{arms}")
    return lines
