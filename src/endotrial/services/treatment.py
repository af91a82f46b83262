"""The treatment and transfer cycles: cycle starts, medication and the cell infusion."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, NoReturn

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from endotrial.dosing import DosePlan, ReleaseStatus, compute_dose, dose_within_tolerance
from endotrial.dosing.engine import procedure_dose_rule
from endotrial.errors import InputError
from endotrial.protocol.models import DoseRule, DrugRegimen, ProcedureSpec, Protocol
from endotrial.protocol.settings import WEIGHT_CHANGE_QUERY_PCT
from endotrial.schedule.engine import procedure_event_id
from endotrial.services import _rehearsal
from endotrial.services._common import (
    allocated_participant,
    check_moments,
    check_not_before_enrolment,
    check_protocol_id,
    check_study_dates,
    check_window,
    cycle_of,
    cycle_on,
    event_in_schedule,
    meaningful_reason,
    named_event,
    open_edit_query,
    require_role,
    scheduled_events,
)
from endotrial.services._input import Label, OptionalText, RecordId, ServiceInput
from endotrial.services.context import Actor, Study, Tx, writing
from endotrial.services.enrolment import check_arm_open
from endotrial.services.errors import InvalidInput, RuleViolation
from endotrial.services.permissions import Operation
from endotrial.store import (
    Cycle,
    MedicationRecord,
    Participant,
    Procedure,
    Role,
    Screening,
)

ProtocolId = Annotated[Label, Field(max_length=32)]


class CycleStartInput(ServiceInput):
    participant_id: RecordId
    cycle: ProtocolId
    start_date: dt.date


def start_cycle(study: Study, actor: Actor, start: CycleStartInput) -> int:
    """Record day 1 of the protocol's cycle `cycle` (cycles start in the protocol's order, once
    each); a start outside its schedule window opens a query."""
    cycle = check_protocol_id(study.protocol, "cycle", start.cycle, "cycle")
    with writing(study, actor, Operation.START_CYCLE) as tx:
        participant = allocated_participant(tx, start.participant_id, treatment=True)
        check_study_dates(tx, participant.site_id, start_date=start.start_date)
        check_not_before_enrolment(participant, "start_date", start.start_date)
        if cycle_of(tx.session, participant.id, cycle) is not None:
            raise RuleViolation(
                "cycle.already", field="cycle", study_id=participant.study_id, cycle=cycle
            )
        _check_earlier_cycles_started(tx, participant.id, cycle, start.start_date)
        start_event = tx.protocol.cycle(cycle).start_event
        row = Cycle(
            participant_id=participant.id,
            kind=cycle,
            start_date=start.start_date,
            event_id=event_in_schedule(tx.protocol, participant, start_event),
        )
        tx.session.add(row)
        check_window(tx, participant, row, "start_date", start_event, start.start_date)
        tx.session.flush()
        return row.id


def _check_earlier_cycles_started(
    tx: Tx, participant_id: int, cycle: str, start_date: dt.date
) -> None:
    order = [c.id for c in tx.protocol.cycles]
    for earlier in order[: order.index(cycle)]:
        previous = cycle_of(tx.session, participant_id, earlier)
        if previous is None:
            raise RuleViolation("cycle.earlier_first", field="cycle", earlier=earlier, cycle=cycle)
        if start_date <= previous.start_date:
            raise RuleViolation(
                "cycle.overlaps",
                field="start_date",
                cycle=cycle,
                start_date=start_date,
                earlier=earlier,
                earlier_start=previous.start_date,
            )


EventId = Annotated[str, Field(min_length=1, max_length=64)]


class MedicationInput(ServiceInput):
    """Doses of one regimen taken over a period, `first_day` to `last_day` (both included;
    one day: `last_day` alone). The older form is still read: `taken_on` (the last day) with
    `days` (1 = that day only)."""

    participant_id: RecordId
    regimen_id: ProtocolId
    doses_taken: Annotated[int, Field(ge=0, le=10_000)]
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    taken_on: dt.date | None = None
    days: Annotated[int, Field(ge=1, le=366)] | None = None
    event_id: EventId | None = None
    """The course it belongs to (a medication event of her arm's schedule, e.g.
    'tx_estradiol_valerate_start'); left out, the regimen's start event."""


#: The longest period one record may cover.
MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class _Period:
    first_day: dt.date
    last_day: dt.date
    #: The input fields the two days came from (the older form names taken_on).
    first_field: str
    last_field: str

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def _period(medication: MedicationInput) -> _Period:
    """The period given, in either form; refused when the forms are mixed or it runs backward."""
    if medication.taken_on is not None:
        if medication.first_day is not None or medication.last_day is not None:
            raise InvalidInput(
                "medication.period_form", field="taken_on", problem="taken_on and first/last_day"
            )
        first = medication.taken_on - dt.timedelta(days=(medication.days or 1) - 1)
        return _Period(first, medication.taken_on, "taken_on", "taken_on")
    if medication.last_day is None:
        raise InvalidInput("medication.period_form", field="last_day", problem="no last_day")
    if medication.days is not None:
        raise InvalidInput(
            "medication.period_form", field="days", problem="days goes with taken_on only"
        )
    period = _Period(
        medication.first_day or medication.last_day, medication.last_day, "first_day", "last_day"
    )
    if period.last_day < period.first_day:
        raise RuleViolation(
            "date.end_before_start", field="last_day", end_field="last_day", end=period.last_day,
            start_field="first_day", start=period.first_day,
        )  # fmt: skip
    if period.days > MAX_PERIOD_DAYS:
        raise InvalidInput(
            "input.invalid", field="first_day", what="the period",
            problems=f"{period.days} days: record at most {MAX_PERIOD_DAYS} days at once",
        )  # fmt: skip
    return period


def _check_period_length(regimen: DrugRegimen, period: _Period) -> None:
    """A period cannot be longer than the regimen's days (when the protocol fixes them)."""
    if regimen.first_day is None or regimen.last_day is None:
        return
    regimen_days = regimen.last_day - regimen.first_day + 1
    if period.days > regimen_days:
        raise RuleViolation(
            "medication.period_too_long", field=period.first_field, first_day=period.first_day,
            last_day=period.last_day, days=period.days, regimen=regimen.id,
            regimen_days=regimen_days, regimen_text=regimen.days_text(),
        )  # fmt: skip


def record_medication(study: Study, actor: Actor, medication: MedicationInput) -> int:
    """Record doses of a regimen of the participant's arm over a period, within its cycle,
    and the course (schedule event) it belongs to. Doses outside the drug's days in her
    schedule are kept (they happened) and open a query."""
    regimen = study.protocol.regimen(
        check_protocol_id(study.protocol, "regimen", medication.regimen_id, "regimen_id")
    )
    period = _period(medication)
    _check_period_length(regimen, period)
    doses_planned = regimen.doses_per_day * period.days
    if medication.doses_taken > doses_planned:
        raise RuleViolation(
            "medication.doses",
            field="doses_taken",
            doses_taken=medication.doses_taken,
            doses_planned=doses_planned,
            per_day=regimen.doses_per_day,
            days=period.days,
            regimen=regimen.id,
        )
    with writing(study, actor, Operation.RECORD_MEDICATION) as tx:
        participant = allocated_participant(tx, medication.participant_id, treatment=True)
        period_dates = {period.last_field: period.last_day, period.first_field: period.first_day}
        check_study_dates(tx, participant.site_id, **period_dates)
        if regimen.id not in tx.protocol.arm(participant.arm or "").regimens:
            raise RuleViolation(
                "medication.not_in_arm", field="regimen_id", regimen=regimen.id, arm=participant.arm
            )
        check_not_before_enrolment(participant, period.first_field, period.first_day)
        cycle = cycle_of(tx.session, participant.id, regimen.cycle)
        if cycle is None:
            raise RuleViolation("medication.no_cycle", cycle=regimen.cycle, regimen=regimen.id)
        event_id = named_event(tx, participant, medication.event_id, ("medication",), "event_id")
        row = MedicationRecord(
            participant_id=participant.id,
            cycle_id=cycle.id,
            regimen_id=regimen.id,
            first_day=period.first_day,
            last_day=period.last_day,
            event_id=event_id or event_in_schedule(tx.protocol, participant, f"{regimen.id}_start"),
            doses_taken=medication.doses_taken,
            doses_planned=doses_planned,
        )
        tx.session.add(row)
        tx.session.flush()
        _check_regimen_days(tx, participant, row, period.first_day)
        return row.id


def _check_regimen_days(
    tx: Tx, participant: Participant, row: MedicationRecord, period_start: dt.date
) -> None:
    """Doses outside the drug's start and stop in her schedule (which follows her recorded
    dates, so a drug tied to the transfer moves with it) open a query on the record."""
    regimen_id = row.regimen_id
    start, stop = scheduled_events(
        tx.session, tx.protocol, participant, f"{regimen_id}_start", f"{regimen_id}_stop"
    )
    if start is None or stop is None:
        return  # her schedule cannot be dated yet: nothing to compare with
    if start.date <= period_start and row.last_day <= stop.date:
        return
    text = (
        f"{regimen_id} is given {tx.protocol.regimen(regimen_id).days_text()} ({start.date} to "
        f"{stop.date} for her); {period_start} to {row.last_day} falls outside: "
        "confirm the dates, or record a deviation"
    )
    field = "first_day" if period_start < start.date else "last_day"
    open_edit_query(tx.session, row, field, text, "medication_days")


ResultValue = Annotated[str, Field(max_length=64)] | float
Cells = Annotated[int, Field(ge=0, lt=10**13)]


class ProcedureInput(ServiceInput):
    """The procedure (the infusion) as done: the weight and viability decide the dose the
    protocol wants (a fixed dose needs no weight; a procedure her arm gives without cells, a
    vehicle control, none of the dose fields); each pre-check is recorded as one of its coded
    results."""

    participant_id: RecordId
    procedure_date: dt.date
    weight_kg: Annotated[float, Field(gt=0, le=500)] | None = None
    viability_pct: Annotated[float, Field(gt=0, le=100)] | None = None
    dose_given_cells: Cells | None = None
    release_results: Annotated[dict[str, ResultValue], Field(max_length=100)] = Field(
        default_factory=dict
    )
    pre_checks: Annotated[dict[str, Annotated[str, Field(max_length=64)]], Field(max_length=50)]
    procedure_id: ProtocolId | None = None
    """The protocol's procedure; may be left out when her arm has one."""
    cycle: ProtocolId | None = None
    """The cycle it is given in, for a procedure the protocol repeats over cycles; left out,
    the cycle she is in on `procedure_date`, else the first of its cycles not yet done."""
    event_id: EventId | None = None
    """The scheduled procedure it fulfils (the procedure's event; it is also what is stored
    when left out)."""
    checklist: Annotated[
        dict[Annotated[Label, Field(max_length=64)], Label | bool | int | float | None],
        Field(max_length=100),
    ] = Field(default_factory=dict)
    cell_lot: Annotated[Label, Field(max_length=64)] | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    complications: OptionalText = None
    override_reason: OptionalText = None


@dataclass(frozen=True)
class ProcedureRecord:
    procedure_id: int
    plan: DosePlan | None
    """None for a procedure her arm gives without cells (a vehicle control)."""
    overridden: bool
    problems: tuple[str, ...]


@dataclass(frozen=True)
class _Problem:
    text: str
    overridable: bool


def record_procedure(study: Study, actor: Actor, procedure: ProcedureInput) -> ProcedureRecord:
    """Record the procedure with the dose computed by the dose rule her arm gives it (her
    dose group's, else the procedure's; none: no cells), in the cycle it is due in.

    Safety checks fail closed: each pre-check needs a coded result that passes, every release
    test a result, and the dose must lie in tolerance. A failure the protocol lets an
    investigator accept (a viability just under its limit, a dose out of tolerance) needs an
    investigator's override with a reason that says something; any other failure (a positive
    allergy or sterility test, a result missing) refuses the procedure outright.
    """
    with writing(study, actor, Operation.RECORD_PROCEDURE) as tx:
        participant = allocated_participant(tx, procedure.participant_id, treatment=True)
        check_study_dates(tx, participant.site_id, procedure_date=procedure.procedure_date)
        check_moments(tx, procedure.started_at, procedure.ended_at, participant.site_id)
        procedure_id, named_cycle = _procedure_named(tx, participant, procedure)
        spec = _arm_procedure(tx.protocol, participant, procedure_id)
        rule = procedure_dose_rule(tx.protocol, participant.arm or "", spec.id)
        _check_on_procedure_day(procedure, with_cells=rule is not None)
        check_arm_open(tx, participant, participant.arm or "")  # her latest screening decides
        check_not_before_enrolment(participant, "procedure_date", procedure.procedure_date)
        pre_checks, problems = _pre_check_problems(spec, procedure.pre_checks)
        plan = None
        if rule is None:
            _check_no_cells(participant, spec, procedure)
        else:
            plan = _dose_plan(rule, procedure)
            _rehearsal.note(_rehearsal.DOSE_PLAN_NOTE, plan)  # a dry run shows it if refused
            problems += _dose_problems(rule, plan, procedure.dose_given_cells)
        overridden = _check_override(tx, problems, procedure.override_reason)
        cycle = _procedure_cycle(tx, participant, spec, named_cycle, procedure.procedure_date)
        row = _procedure_row(tx.session, procedure, spec, plan, cycle, pre_checks, overridden)
        _check_procedure_window(tx, participant, spec, cycle, row)
        _check_weight(tx, participant, row)
        return ProcedureRecord(row.id, plan, overridden, tuple(p.text for p in problems))


def _procedure_named(
    tx: Tx, participant: Participant, procedure: ProcedureInput
) -> tuple[str | None, str | None]:
    """The procedure being recorded and the cycle it is given in, as far as the input names
    them: `procedure_id` and `cycle`, or the administration named by `event_id` (the
    procedure's own event in its first cycle, `<id>@<cycle>` in a repeat cycle); given both
    ways, they must agree."""
    event_id = named_event(tx, participant, procedure.event_id, ("procedure",), "event_id")
    if event_id is None:
        return procedure.procedure_id, procedure.cycle
    named_id, named_cycle = _administrations(tx.protocol, participant).get(
        event_id, (event_id, procedure.cycle)
    )
    if procedure.procedure_id not in (None, named_id):
        raise RuleViolation(
            "visit.other_procedure", field="event_id", event=event_id,
            procedure=procedure.procedure_id,
        )  # fmt: skip
    if procedure.cycle not in (None, named_cycle):
        raise RuleViolation(
            "procedure.other_cycle", field="cycle", cycle=procedure.cycle, event=event_id,
            event_cycle=named_cycle,
        )  # fmt: skip
    return named_id, named_cycle


def _administrations(protocol: Protocol, participant: Participant) -> dict[str, tuple[str, str]]:
    """Her arm's procedure events, each → (its procedure, the cycle it is given in)."""
    return {
        procedure_event_id(spec, cycle): (spec.id, cycle)
        for spec in map(protocol.procedure, protocol.arm(participant.arm or "").procedures)
        for cycle in spec.cycles_given()
    }


def _check_on_procedure_day(procedure: ProcedureInput, *, with_cells: bool) -> None:
    """Its start and end are on the procedure's date (a day either side, for time zones);
    and a cell product given is traceable to its lot."""
    for field, moment in (("started_at", procedure.started_at), ("ended_at", procedure.ended_at)):
        if moment is not None and abs((moment.date() - procedure.procedure_date).days) > 1:
            raise RuleViolation(
                "procedure.time_off_date", field=field, moment=moment, date=procedure.procedure_date
            )
    if with_cells and procedure.cell_lot is None:
        raise RuleViolation("procedure.no_lot", field="cell_lot")


#: The dose fields a procedure without cells leaves out.
_DOSE_FIELDS = ("viability_pct", "dose_given_cells", "release_results")


def _check_no_cells(participant: Participant, spec: ProcedureSpec, given: ProcedureInput) -> None:
    """Her arm gives the procedure without cells (a vehicle control): a cell count, a
    viability or release results recorded for it are refused, not kept (a lot is kept)."""
    filled = [name for name in _DOSE_FIELDS if getattr(given, name) not in (None, 0, {})]
    if filled:
        raise RuleViolation(
            "procedure.no_cells", field=filled[0], procedure=spec.id, arm=participant.arm,
            fields=filled,
        )  # fmt: skip


def _arm_procedure(
    protocol: Protocol, participant: Participant, procedure_id: str | None
) -> ProcedureSpec:
    """The protocol procedure being recorded: the one named, which must be her arm's, or her
    arm's only one."""
    procedures = protocol.arm(participant.arm or "").procedures
    if procedure_id is None and len(procedures) == 1:
        procedure_id = procedures[0]
    if procedure_id is None or procedure_id not in procedures:
        raise RuleViolation(
            "procedure.not_in_arm",
            field="procedure_id",
            procedure=procedure_id or "(not given)",
            arm=participant.arm,
            study_id=participant.study_id,
            known=list(procedures),
        )
    return protocol.procedure(procedure_id)


def _pre_check_problems(
    spec: ProcedureSpec, given: dict[str, str]
) -> tuple[dict[str, str], list[_Problem]]:
    """Each pre-check's result as its protocol code, and those that do not let the procedure
    go ahead. A check left out, or a result that is not one of its codes ('pos', '+', '阳性'
    for 'positive'), is refused: a safety check is recorded exactly, never guessed."""
    known = {check.id: check for check in spec.pre_checks}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise InvalidInput(
            "procedure.pre_check_unknown", field=f"pre_checks.{unknown[0]}", ids=unknown,
            known=sorted(known), procedure=spec.id,
        )  # fmt: skip
    coded: dict[str, str] = {}
    problems: list[_Problem] = []
    for check in spec.pre_checks:
        result = given.get(check.id)
        if result is None or not result.strip():
            raise RuleViolation(
                "procedure.pre_check_missing", field=f"pre_checks.{check.id}", check=check.label,
                id=check.id, results=check.results,
            )  # fmt: skip
        code = check.coded(result)
        if code is None:
            raise InvalidInput(
                "procedure.pre_check_code", field=f"pre_checks.{check.id}", check=check.label,
                given=result, results=check.results,
            )  # fmt: skip
        coded[check.id] = code
        if not check.passed(code):
            text = f"pre-check '{check.label}' is {code} (goes ahead only on {check.passes})"
            problems.append(_Problem(text, check.override_allowed))
    return coded, problems


def _dose_plan(rule: DoseRule, procedure: ProcedureInput) -> DosePlan:
    if procedure.dose_given_cells is None:
        raise InvalidInput(
            "input.invalid", field="dose_given_cells", what="the procedure's dose",
            problems=f"give the viable cells given (dose rule '{rule.id}')",
        )  # fmt: skip
    try:
        return compute_dose(
            rule,
            procedure.weight_kg,
            viability_pct=procedure.viability_pct,
            release_results=procedure.release_results,
        )
    except InputError as error:
        raise InvalidInput(
            "input.invalid", field=error.field, what="the procedure's dose", problems=str(error)
        ) from None


def _dose_problems(rule: DoseRule, plan: DosePlan, dose_given_cells: int | None) -> list[_Problem]:
    dose_given_cells = dose_given_cells or 0
    problems = [
        _Problem(
            f"release check {c.criterion_id} {c.status.value} (value {c.value}, limit {c.limit}"
            + (f", no override beyond {c.override_limit:g}" if c.override_limit is not None else "")
            + ")",
            c.overridable,
        )
        for c in plan.release_checks
        if c.status is not ReleaseStatus.passed
    ]
    if not dose_within_tolerance(plan, dose_given_cells):
        problems.append(
            _Problem(
                f"dose given {dose_given_cells:.3g} cells is outside "
                f"{plan.dose_min_viable_cells:.3g}-{plan.dose_max_viable_cells:.3g} "
                f"(±{plan.tolerance_pct:g}% of {plan.dose_viable_cells:.3g})"
                + _override_bound_text(rule),
                _dose_overridable(rule, plan, dose_given_cells),
            )
        )
    return problems


def _dose_overridable(rule: DoseRule, plan: DosePlan, dose_given_cells: int) -> bool:
    """Within ±override_within_pct of the computed dose, never above the cap, never none."""
    if not rule.override_out_of_tolerance or rule.override_within_pct is None:
        return False
    spread = plan.dose_viable_cells * rule.override_within_pct / 100
    low, high = plan.dose_viable_cells - spread, plan.dose_viable_cells + spread
    if rule.max_total_cells is not None:
        high = min(high, rule.max_total_cells)
    return dose_given_cells > 0 and low <= dose_given_cells <= high


def _override_bound_text(rule: DoseRule) -> str:
    if not rule.override_out_of_tolerance or rule.override_within_pct is None:
        return ""
    return f"; no override beyond ±{rule.override_within_pct:g}% or above the cap"


def _check_override(tx: Tx, problems: list[_Problem], override_reason: str | None) -> bool:
    """Go ahead when nothing failed; else only on an investigator's override with a reason,
    and only when the protocol lets every one of the failures be overridden."""
    if not problems:
        return False
    never = [p.text for p in problems if not p.overridable]
    if never:
        raise RuleViolation("procedure.blocked", problems=never)
    if override_reason is None:
        raise RuleViolation("procedure.needs_override", problems=[p.text for p in problems])
    require_role(tx, Role.INVESTIGATOR, "overriding a failed check or the dose tolerance")
    meaningful_reason(override_reason, "an override", field="override_reason")
    return True


def _procedure_cycle(
    tx: Tx, participant: Participant, spec: ProcedureSpec, named: str | None, on: dt.date
) -> Cycle:
    """Her cycle the procedure is given in: the one named, else the one she is in on its date
    `on`, else the first of its cycles not yet done. The protocol gives it once in each of its
    cycles (the database's unique index backs the rule if two saves race)."""
    cycles = spec.cycles_given()
    done = _done_in(tx, participant, spec)
    wanted = named or _due_cycle(tx, participant, spec, done, on)
    if wanted not in cycles:
        raise RuleViolation(
            "procedure.not_in_cycle", field="cycle", procedure=spec.id, cycle=wanted,
            cycles=cycles,
        )  # fmt: skip
    if wanted in done:
        _refuse_again(participant, spec, wanted, done)
    cycle = cycle_of(tx.session, participant.id, wanted)
    if cycle is None:
        raise RuleViolation("procedure.no_cycle", cycle=wanted, procedure=spec.id)
    return cycle


def _done_in(tx: Tx, participant: Participant, spec: ProcedureSpec) -> dict[str, Procedure]:
    """Her records of the procedure by the protocol cycle they were given in (a record of
    before cycles were kept counts for the procedure's first cycle)."""
    rows = tx.session.execute(
        select(Procedure, Cycle.kind)
        .outerjoin(Cycle, Procedure.cycle_id == Cycle.id)
        .where(
            Procedure.participant_id == participant.id,
            Procedure.procedure_id.in_((spec.id, "")),
        )
        .order_by(Procedure.procedure_date)
    )
    done: dict[str, Procedure] = {}
    for row, kind in rows:
        done.setdefault(kind or spec.cycle, row)
    return done


def _due_cycle(
    tx: Tx, participant: Participant, spec: ProcedureSpec, done: dict[str, Procedure],
    on: dt.date,
) -> str:  # fmt: skip
    """The cycle she is in on `on` when it is one of the procedure's and not yet done, else
    the first of its cycles not yet done."""
    cycles = spec.cycles_given()
    current = cycle_on(tx.session, participant.id, on)
    if current is not None and current.kind in cycles and current.kind not in done:
        return current.kind
    left = [c for c in cycles if c not in done]
    if not left:
        _refuse_again(participant, spec, cycles[-1], done)
    return left[0]


def _refuse_again(
    participant: Participant, spec: ProcedureSpec, cycle: str, done: dict[str, Procedure]
) -> NoReturn:
    """A procedure given as often as the protocol says (once, for most) is not given again,
    even with an override: the count is the protocol's."""
    cycles = spec.cycles_given()
    if len(cycles) == 1:
        raise RuleViolation(
            "procedure.once", study_id=participant.study_id, procedure=spec.name,
            done_on=done[cycle].procedure_date, frequency=spec.frequency,
        )  # fmt: skip
    code = "procedure.all_given" if len(done) >= len(cycles) else "procedure.done_in_cycle"
    raise RuleViolation(
        code, field="cycle", study_id=participant.study_id, procedure=spec.name, cycle=cycle,
        done_on=done[cycle].procedure_date, count=len(cycles), cycles=cycles,
    )  # fmt: skip


def _check_procedure_window(
    tx: Tx, participant: Participant, spec: ProcedureSpec, cycle: Cycle, row: Procedure
) -> None:
    """A date outside the window of the administration in her schedule (a repeat's is dated
    from its own cycle's start) opens a query."""
    event_id = procedure_event_id(spec, cycle.kind)
    where = "" if cycle.kind == spec.cycle else f" in the {cycle.kind} cycle"
    check_window(tx, participant, row, "procedure_date", event_id, row.procedure_date, where)


def _procedure_row(
    session: Session,
    procedure: ProcedureInput,
    spec: ProcedureSpec,
    plan: DosePlan | None,
    cycle: Cycle,
    pre_checks: dict[str, str],
    overridden: bool,
) -> Procedure:
    row = Procedure(
        participant_id=procedure.participant_id,
        procedure_id=spec.id,
        cycle_id=cycle.id,
        procedure_date=procedure.procedure_date,
        event_id=spec.id,  # a procedure's schedule event is the procedure itself
        checklist=dict(procedure.checklist),
        pre_checks={**pre_checks, "release_results": dict(procedure.release_results)},
        cell_lot=procedure.cell_lot,
        viability_pct=procedure.viability_pct,
        weight_kg=procedure.weight_kg,
        dose_cells=procedure.dose_given_cells,
        volume_ml=None if plan is None else plan.volume_ml,
        started_at=procedure.started_at,
        ended_at=procedure.ended_at,
        complications=procedure.complications,
        override_reason=procedure.override_reason if overridden else None,
    )
    session.add(row)
    session.flush()
    return row


WEIGHT_CHANGE_SETTING = WEIGHT_CHANGE_QUERY_PCT.name


def _check_weight(tx: Tx, participant: Participant, row: Procedure) -> None:
    """A weight far from her screening weight (the protocol's percentage) opens a query: the
    dose follows the weight, and a mistyped weight gives a wrong dose."""
    limit = tx.protocol.settings.get(WEIGHT_CHANGE_SETTING)
    screened = _screening_weight(tx.session, participant.id)
    if limit is None or screened is None or row.weight_kg is None:
        return
    change_pct = abs(Decimal(str(row.weight_kg)) - screened) / screened * 100
    if change_pct <= Decimal(str(limit.value)):
        return
    text = (
        f"weight_kg {row.weight_kg:g} differs by {change_pct:.0f}% from her screening weight "
        f"{screened} kg (the protocol queries more than {limit.value}%): confirm the weight "
        "and the dose"
    )
    open_edit_query(tx.session, row, "weight_kg", text, "weight_change")


def _screening_weight(session: Session, participant_id: int) -> Decimal | None:
    screening = session.scalars(
        select(Screening)
        .where(Screening.participant_id == participant_id)
        .order_by(Screening.screened_at.desc(), Screening.id.desc())
    ).first()
    value = screening.item_values.get("weight_kg") if screening is not None else None
    try:
        weight = Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None
    return weight if weight is not None and weight.is_finite() and weight > 0 else None
