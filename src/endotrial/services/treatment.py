"""The treatment and transfer cycles: cycle starts, medication and the cell infusion."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.dosing import DosePlan, ReleaseStatus, compute_dose, dose_within_tolerance
from endotrial.protocol.models import Protocol
from endotrial.services._common import (
    allocated_participant,
    check_finite,
    check_moments,
    check_not_before_enrolment,
    check_not_future,
    check_protocol_cycle,
    check_window,
    cycle_of,
    open_edit_query,
    require_role,
    scheduled_events,
)
from endotrial.services.errors import RuleViolation
from endotrial.services.permissions import Operation, authorize
from endotrial.store import (
    Cycle,
    MedicationRecord,
    Participant,
    Procedure,
    Role,
    unit_of_work,
)


def start_cycle(
    engine: Engine,
    protocol: Protocol,
    *,
    participant_id: int,
    cycle: str,
    start_date: dt.date,
    user: str,
) -> int:
    """Record day 1 of the protocol's cycle `cycle` (cycles start in the protocol's order); a
    start outside its schedule window opens a query."""
    check_protocol_cycle(protocol, cycle)
    check_not_future(start_date=start_date)
    with unit_of_work(engine, user=user) as session:
        authorize(session, user, Operation.START_CYCLE)
        participant = allocated_participant(session, participant_id)
        check_not_before_enrolment(participant, "start_date", start_date)
        if cycle_of(session, participant_id, cycle) is not None:
            raise RuleViolation(
                f"participant {participant.study_id} already has a {cycle} cycle: "
                "a cycle starts once (if its date was wrong, record a deviation saying so)"
            )
        _check_earlier_cycles_started(session, protocol, participant_id, cycle, start_date)
        row = Cycle(participant_id=participant_id, kind=cycle, start_date=start_date)
        session.add(row)
        start_event = protocol.cycle(cycle).start_event
        check_window(session, protocol, participant, row, "start_date", start_event, start_date)
        session.flush()
        return row.id


def _check_earlier_cycles_started(
    session: Session, protocol: Protocol, participant_id: int, cycle: str, start_date: dt.date
) -> None:
    order = [c.id for c in protocol.cycles]
    for earlier in order[: order.index(cycle)]:
        previous = cycle_of(session, participant_id, earlier)
        if previous is None:
            raise RuleViolation(f"start the {earlier} cycle before the {cycle} cycle")
        if start_date <= previous.start_date:
            raise RuleViolation(
                f"the {cycle} cycle cannot start on {start_date}: her {earlier} cycle started "
                f"on {previous.start_date}, and cycles follow one another"
            )


@dataclass(frozen=True)
class MedicationInput:
    """Doses of one regimen taken over `days` days ending on `taken_on` (1 = that day only)."""

    participant_id: int
    regimen_id: str
    taken_on: dt.date
    doses_taken: int
    days: int = 1


def record_medication(
    engine: Engine, protocol: Protocol, medication: MedicationInput, *, user: str
) -> int:
    """Record doses of a regimen of the participant's arm, within its cycle. Doses outside the
    drug's days in her schedule are kept (they happened) and open a query."""
    regimen = protocol.regimen(medication.regimen_id)
    doses_planned = regimen.doses_per_day * medication.days
    check_not_future(taken_on=medication.taken_on)
    if not 0 <= medication.doses_taken <= doses_planned or medication.days < 1:
        raise RuleViolation(
            f"doses_taken {medication.doses_taken} must lie between 0 and {doses_planned} "
            f"({regimen.doses_per_day} a day for {medication.days} day(s)) for {regimen.id}"
        )
    with unit_of_work(engine, user=user) as session:
        authorize(session, user, Operation.RECORD_MEDICATION)
        participant = allocated_participant(session, medication.participant_id)
        if regimen.id not in protocol.arm(participant.arm or "").regimens:
            raise RuleViolation(f"regimen {regimen.id} is not part of arm '{participant.arm}'")
        cycle = cycle_of(session, participant.id, regimen.cycle)
        if cycle is None:
            raise RuleViolation(f"start the {regimen.cycle} cycle before recording {regimen.id}")
        row = MedicationRecord(
            participant_id=participant.id,
            cycle_id=cycle.id,
            regimen_id=regimen.id,
            taken_on=medication.taken_on,
            doses_taken=medication.doses_taken,
            doses_planned=doses_planned,
        )
        session.add(row)
        session.flush()
        _check_regimen_days(session, protocol, participant, row, medication)
        return row.id


def _check_regimen_days(
    session: Session,
    protocol: Protocol,
    participant: Participant,
    row: MedicationRecord,
    medication: MedicationInput,
) -> None:
    """Doses outside the drug's start and stop in her schedule (which follows her recorded
    dates, so a drug tied to the transfer moves with it) open a query on the record."""
    regimen_id = row.regimen_id
    start, stop = scheduled_events(
        session, protocol, participant, f"{regimen_id}_start", f"{regimen_id}_stop"
    )
    if start is None or stop is None:
        return  # her schedule cannot be dated yet: nothing to compare with
    period_start = medication.taken_on - dt.timedelta(days=medication.days - 1)
    if start.date <= period_start and medication.taken_on <= stop.date:
        return
    text = (
        f"{regimen_id} is given {protocol.regimen(regimen_id).days_text()} ({start.date} to "
        f"{stop.date} for her); {period_start} to {medication.taken_on} falls outside: "
        "confirm the dates, or record a deviation"
    )
    open_edit_query(session, row, "taken_on", text, "medication_days")


@dataclass(frozen=True)
class ProcedureInput:
    """The infusion as done: the weight and viability decide the dose the protocol wants."""

    participant_id: int
    procedure_date: dt.date
    weight_kg: float
    viability_pct: float
    dose_given_cells: int
    release_results: Mapping[str, float | str]
    pre_checks: Mapping[str, str] = field(default_factory=dict)
    checklist: Mapping[str, Any] = field(default_factory=dict)
    cell_lot: str | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    complications: str | None = None
    override_reason: str | None = None


@dataclass(frozen=True)
class ProcedureRecord:
    procedure_id: int
    plan: DosePlan
    overridden: bool
    problems: tuple[str, ...]


def record_procedure(
    engine: Engine, protocol: Protocol, procedure: ProcedureInput, *, user: str
) -> ProcedureRecord:
    """Record the infusion with the dose computed by the protocol's dose rule.

    A dose out of tolerance or a product not released (a failed or untested check) is refused
    unless the acting user is an investigator who gives `override_reason`. A positive iodine
    allergy test blocks the procedure outright.
    """
    check_not_future(procedure_date=procedure.procedure_date)
    check_finite(weight_kg=procedure.weight_kg, viability_pct=procedure.viability_pct)
    check_moments(procedure.started_at, procedure.ended_at)
    plan = compute_dose(
        protocol,
        procedure.weight_kg,
        viability_pct=procedure.viability_pct,
        release_results=procedure.release_results,
    )
    problems = _dose_problems(plan, procedure.dose_given_cells)
    with unit_of_work(engine, user=user) as session:
        authorize(session, user, Operation.RECORD_PROCEDURE)
        participant = allocated_participant(session, procedure.participant_id)
        spec = _arm_procedure(protocol, participant)
        _check_pre_checks(protocol, spec, procedure.pre_checks)
        overridden = _check_override(session, problems, procedure.override_reason, user)
        _check_once(session, participant)
        row = _procedure_row(session, procedure, plan, protocol.procedure(spec).cycle)
        check_window(
            session, protocol, participant, row, "procedure_date", spec, procedure.procedure_date
        )
        return ProcedureRecord(row.id, plan, overridden, problems)


def _dose_problems(plan: DosePlan, dose_given_cells: int) -> tuple[str, ...]:
    problems = [
        f"release check {c.criterion_id} {c.status.value} (value {c.value}, limit {c.limit})"
        for c in plan.release_checks
        if c.status is not ReleaseStatus.passed
    ]
    if not dose_within_tolerance(plan, dose_given_cells):
        problems.append(
            f"dose given {dose_given_cells:.3g} cells is outside "
            f"{plan.dose_min_viable_cells:.3g}-{plan.dose_max_viable_cells:.3g} "
            f"(±{plan.tolerance_pct:g}% of {plan.dose_viable_cells:.3g})"
        )
    return tuple(problems)


def _arm_procedure(protocol: Protocol, participant: Participant) -> str:
    procedures = protocol.arm(participant.arm or "").procedures
    if not procedures:
        raise RuleViolation(
            f"arm '{participant.arm}' of participant {participant.study_id} has no procedure"
        )
    return procedures[0]


def _check_pre_checks(protocol: Protocol, procedure_id: str, results: Mapping[str, str]) -> None:
    for check in protocol.procedure(procedure_id).pre_checks:
        blocker = check.blocks_procedure_if
        if blocker is not None and results.get(check.id, "").strip().lower() == blocker:
            raise RuleViolation(
                f"pre-check '{check.label}' is {blocker}: the procedure cannot be done "
                "(record an adverse event or withdrawal as appropriate)"
            )


def _check_override(
    session: Session, problems: tuple[str, ...], override_reason: str | None, user: str
) -> bool:
    if not problems:
        return False
    if not (override_reason or "").strip():
        raise RuleViolation(
            "the infusion cannot be recorded as given: "
            + "; ".join(problems)
            + ". An investigator may override with a reason (override_reason)"
        )
    require_role(session, user, Role.INVESTIGATOR, "overriding the dose or release checks")
    return True


def _check_once(session: Session, participant: Participant) -> None:
    existing = session.scalar(select(Procedure).where(Procedure.participant_id == participant.id))
    if existing is not None:
        raise RuleViolation(
            f"participant {participant.study_id} already had the infusion on "
            f"{existing.procedure_date} (single intervention)"
        )


def _procedure_row(
    session: Session, procedure: ProcedureInput, plan: DosePlan, cycle_id: str
) -> Procedure:
    cycle = cycle_of(session, procedure.participant_id, cycle_id)
    if cycle is None:
        raise RuleViolation(f"start the {cycle_id} cycle before recording the procedure")
    row = Procedure(
        participant_id=procedure.participant_id,
        cycle_id=cycle.id,
        procedure_date=procedure.procedure_date,
        checklist=dict(procedure.checklist),
        pre_checks={**procedure.pre_checks, "release_results": dict(procedure.release_results)},
        cell_lot=procedure.cell_lot,
        viability_pct=procedure.viability_pct,
        weight_kg=procedure.weight_kg,
        dose_cells=procedure.dose_given_cells,
        volume_ml=plan.volume_ml,
        started_at=procedure.started_at,
        ended_at=procedure.ended_at,
        complications=procedure.complications,
        override_reason=(procedure.override_reason or "").strip() or None,
    )
    session.add(row)
    session.flush()
    return row
