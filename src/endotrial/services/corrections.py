"""Correcting any recorded field with a reason: one operation for every kind of trial data.

`correct_record(study, actor, CorrectionInput(record="adverse_event", record_id=3,
field="ctcae_grade", new_value=3, reason="..."))` checks the new value exactly as recording
it would (the recording input's type, range and coded values; the same date rules: not in the
future, not before the trial, not before her enrolment; the same cross-field rules), refuses
it on locked data, for another site's record (not found) and for a value that is already
stored, then writes it with the reason; the audit trail keeps the old and the new value.
Fields derived from others (an AE's `expected`, an outcome's `live_birth`, a scan's cycle)
are recomputed; edit checks run again and open queries as on entry.

The table below is the whole of what may be corrected: a field is one line (its type from the
recording input, its checks). Every other column says why it cannot be corrected this way.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic import Field as Typed
from sqlalchemy import inspect, select

from endotrial.dosing import compute_dose, dose_within_tolerance
from endotrial.dosing.engine import procedure_dose_rule
from endotrial.errors import InputError
from endotrial.outcomes import derive_outcome, parse_gardner
from endotrial.services._common import (
    check_moments,
    check_not_before_enrolment,
    check_study_dates,
    check_window,
    cycle_on,
    get_row,
    meaningful_reason,
    named_event,
    open_edit_query,
    participant_of_record,
    writable_participant,
)
from endotrial.services._input import Name, RecordId, ServiceInput
from endotrial.services.clinical import (
    SCAN_KINDS,
    THICKNESS_RANGE_MM,
    OutcomeInput,
    TransferInput,
    UltrasoundInput,
    _check_consistency,
    _check_counts,
    _check_dates,
    _check_outcome_dates,
    _embryos,
    _facts,
    _store,
    _stored_facts,
)
from endotrial.services.context import Actor, Study, Tx, account_by_name, writing
from endotrial.services.enrolment import AllocationInput, ConsentInput
from endotrial.services.errors import InvalidInput, NotFoundError, RuleViolation
from endotrial.services.permissions import PERMISSIONS, Operation
from endotrial.services.safety import (
    AdverseEventInput,
    DeviationInput,
    WithdrawalInput,
    _check_ae,
    _check_after_consent,
    is_expected,
    report_due_at,
)
from endotrial.services.treatment import (
    MAX_PERIOD_DAYS,
    CycleStartInput,
    MedicationInput,
    ProcedureInput,
    _check_period_length,
    _check_regimen_days,
    _Period,
)
from endotrial.services.visits import VisitInput
from endotrial.store import (
    AdverseEvent,
    Allocation,
    Audited,
    Consent,
    Cycle,
    EmbryoTransfer,
    MedicationRecord,
    Participant,
    PregnancyOutcome,
    Procedure,
    ProtocolDeviation,
    TransferredEmbryo,
    Ultrasound,
    Visit,
    Withdrawal,
)

_STRICT = ConfigDict(strict=True, allow_inf_nan=False)


class CorrectionInput(ServiceInput):
    """One field of one record, its new value and why (said for the audit trail)."""

    record: Name
    """The kind of record: one of `CORRECTABLE` (consent, adverse_event, ...)."""
    record_id: RecordId
    field: Name
    new_value: Any
    """Typed as the recording input types it (a date as a date, a grade as an int)."""
    reason: str


@dataclass(frozen=True)
class CorrectionRecord:
    """What a correction changed: the field, and the fields derived from it again."""

    table: str
    record_id: int
    field: str
    old_value: Any
    new_value: Any
    recomputed: Mapping[str, tuple[Any, Any]]
    """Derived fields whose value changed with it: name -> (old, new)."""


#: A check of a new value: (transaction, the record, its participant, field, value).
Check = Callable[[Tx, Any, Participant | None, str, Any], None]
#: Run after the value is written: recompute derived fields, re-run the edit checks.
After = Callable[[Tx, Any, Participant | None], None]


@dataclass(frozen=True)
class Correctable:
    """A correctable field: its type taken from the recording input, and its checks."""

    source: tuple[type[BaseModel], str]
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True)
class Kind:
    """A kind of record: its table, who records it (and so corrects it), its fields."""

    model: type[Audited]
    operation: Operation
    fields: Mapping[str, Correctable]
    fixed: Mapping[str, str]
    """Every other column, with why it cannot be corrected here."""
    after: After | None = None
    """Recomputes the derived fields and re-runs the edit checks once the value is written."""
    derived: tuple[str, ...] = ()


class _Gardner(BaseModel):
    """The parts of a Gardner grade (recorded as text such as '4AB'), as the grade reads them."""

    expansion: Annotated[int, Typed(ge=1, le=6)]
    icm: Literal["A", "B", "C"]
    te: Literal["A", "B", "C"]


# --------------------------------------------------------------------------- checks


def study_date(tx: Tx, _row: Any, p: Participant | None, name: str, value: Any) -> None:
    """Judged by the day at her site (a trial-wide record: the acting user's day, with grace)."""
    if isinstance(value, dt.date):
        check_study_dates(tx, _site_of(p), **{name: value})


def _site_of(participant: Participant | None) -> int | None:
    return participant.site_id if participant is not None else None


def after_enrolment(_tx: Tx, _row: Any, p: Participant | None, name: str, value: Any) -> None:
    if p is not None and isinstance(value, dt.date):
        check_not_before_enrolment(p, name, value)


DATED: tuple[Check, ...] = (study_date, after_enrolment)


def _consent_before_enrolment(
    _tx: Tx, _row: Consent, p: Participant | None, _name: str, value: dt.date
) -> None:
    if p is not None and p.enrolled_on is not None and value > p.enrolled_on:
        raise RuleViolation(
            "enrolment.before_consent", field="consent_date", enrolled_on=p.enrolled_on,
            consent_date=value,
        )  # fmt: skip


def _consent_taker(tx: Tx, _row: Consent, p: Participant | None, _name: str, value: str) -> None:
    """As at entry: an active account of her site whose role takes consents."""
    account = account_by_name(tx.session, value)
    if (
        account is None
        or not account.active
        or account.role not in PERMISSIONS[Operation.RECORD_CONSENT]
        or (p is not None and account.site_id is not None and account.site_id != p.site_id)
    ):
        raise RuleViolation("consent.taker", field="taken_by", taken_by=value)


def _cycles_in_order(
    tx: Tx, row: Cycle, _p: Participant | None, _name: str, value: dt.date
) -> None:
    """Her cycles follow one another in the protocol's order."""
    order = [c.id for c in tx.protocol.cycles]
    mine = {c.kind: c for c in tx.session.scalars(select(Cycle).where(
        Cycle.participant_id == row.participant_id))}  # fmt: skip
    position = order.index(row.kind) if row.kind in order else -1
    for other_id, other in mine.items():
        if other_id == row.kind or other_id not in order:
            continue
        earlier = order.index(other_id) < position
        if (earlier and value <= other.start_date) or (not earlier and value >= other.start_date):
            first, then = (other_id, row.kind) if earlier else (row.kind, other_id)
            first_start = other.start_date if earlier else value
            raise RuleViolation(
                "cycle.overlaps", field="start_date", cycle=then,
                start_date=value if earlier else other.start_date, earlier=first,
                earlier_start=first_start,
            )  # fmt: skip


def _period_in_order(
    tx: Tx, row: MedicationRecord, _p: Participant | None, name: str, value: Any
) -> None:
    """The period keeps its last day, runs forward, and is no longer than entry allows."""
    if value is None and name == "last_day":
        raise RuleViolation(
            "correction.not_applicable", field=name, kind="medication", name=name,
            why="a period has a last day (give the corrected date)",
        )  # fmt: skip
    first = value if name == "first_day" else row.first_day
    last = value if name == "last_day" else row.last_day
    if first is not None and last < first:
        raise RuleViolation(
            "date.end_before_start", field=name, end_field="last_day", end=last,
            start_field="first_day", start=first,
        )  # fmt: skip
    # no longer than entry allows (the regimen's days, MAX_PERIOD_DAYS)
    period = _Period(first or last, last, name, name)
    _check_period_length(tx.protocol.regimen(row.regimen_id), period)
    if period.days > MAX_PERIOD_DAYS:
        raise InvalidInput(
            "input.invalid", field=name, what="the period",
            problems=f"{period.days} days: record at most {MAX_PERIOD_DAYS} days at once",
        )  # fmt: skip


def _scheduled(kinds: tuple[str, ...]) -> Check:
    """The event must be one of her arm's schedule, of `kinds` (None: unscheduled)."""

    def check(tx: Tx, _row: Any, p: Participant | None, name: str, value: Any) -> None:
        if p is not None:
            named_event(tx, p, value, kinds, name)

    return check


def _event_dated(date_field: str) -> Check:
    """A visit is named only beside the date it took place."""

    def check(_tx: Tx, row: Any, _p: Participant | None, name: str, value: Any) -> None:
        if value is not None and getattr(row, date_field) is None:
            raise RuleViolation("visit.no_date", field=name, event=value)

    return check


def _doses_within_plan(
    _tx: Tx, row: MedicationRecord, _p: Participant | None, _name: str, value: int
) -> None:
    if value > row.doses_planned:
        raise RuleViolation(
            "medication.doses", field="doses_taken", doses_taken=value,
            doses_planned=row.doses_planned, per_day="the planned number of doses",
            days="the record's", regimen=row.regimen_id,
        )  # fmt: skip


def _lot_given(_tx: Tx, _row: Procedure, _p: Participant | None, _name: str, value: Any) -> None:
    if value is None:
        raise RuleViolation("procedure.no_lot", field="cell_lot")


def _procedure_times(tx: Tx, row: Procedure, p: Participant | None, name: str, value: Any) -> None:
    """Times carry their zone, end after they start, and fall on the procedure's date."""
    started = value if name == "started_at" else row.started_at
    ended = value if name == "ended_at" else row.ended_at
    check_moments(tx, started, ended, _site_of(p))
    day = value if name == "procedure_date" else row.procedure_date
    for which, moment in (("started_at", started), ("ended_at", ended)):
        if moment is not None and abs((moment.date() - day).days) > 1:
            raise RuleViolation("procedure.time_off_date", field=which, moment=moment, date=day)


def _transfer_date(
    tx: Tx, row: EmbryoTransfer, _p: Participant | None, _name: str, value: dt.date
) -> None:
    """Still in the cycle it was done in, and before every date observed after it."""
    cycle = cycle_on(tx.session, row.participant_id, value)
    if cycle is None or cycle.id != row.cycle_id:
        done_in = tx.session.get(Cycle, row.cycle_id) if row.cycle_id is not None else None
        kind = done_in.kind if done_in is not None else "current"
        raise RuleViolation("transfer.no_cycle", field="transfer_date", cycle=kind)
    outcome = _outcome_of(tx, row.id)
    if outcome is None:
        return
    for name in ("beta_hcg_date", "ultrasound_date", "ongoing_date", "miscarriage_date"):
        observed = getattr(outcome, name)
        if observed is not None and observed < value:
            raise RuleViolation(
                "date.before_transfer", field=name, date=observed, transfer_date=value
            )


def _cancel_reason(
    _tx: Tx, row: EmbryoTransfer, _p: Participant | None, _name: str, value: Any
) -> None:
    if not row.cancelled:
        raise RuleViolation(
            "correction.not_applicable", field="cancel_reason", kind="transfer",
            name="cancel_reason", why="the transfer was done, not cancelled",
        )  # fmt: skip
    if value is None:
        raise RuleViolation(
            "correction.not_applicable", field="cancel_reason", kind="transfer",
            name="cancel_reason", why="a cancelled transfer keeps the reason it was cancelled",
        )  # fmt: skip


def _embryo_day(
    _tx: Tx, _row: TransferredEmbryo, _p: Participant | None, _name: str, value: int
) -> None:
    if value not in (5, 6):
        raise RuleViolation("transfer.embryo_day", field="embryo_day", day=value)


def _gardner(
    _tx: Tx, row: TransferredEmbryo, _p: Participant | None, name: str, value: Any
) -> None:
    """The grade with the new part must read as a Gardner grade, as at entry."""
    parts = {"expansion": row.expansion, "icm": row.icm, "te": row.te, name: value}
    try:
        parse_gardner(f"{parts['expansion']}{parts['icm']}{parts['te']}")
    except InputError as error:
        raise InvalidInput(
            "input.invalid", field="new_value", what=f"embryo.{name}", problems=str(error)
        ) from None
    if name in ("icm", "te") and value != str(value).upper():
        raise InvalidInput(
            "input.invalid", field="new_value", what=f"embryo.{name}",
            problems=f"'{value}' must be one of A, B, C (capital)",
        )  # fmt: skip


def _outcome_facts(
    tx: Tx, row: PregnancyOutcome, p: Participant | None, name: str, value: Any
) -> None:
    """The facts with the new one, checked whole as record_outcome checks them."""
    facts = _outcome_input(row, name, value)
    transfer = get_row(tx.session, EmbryoTransfer, row.transfer_id)
    _check_outcome_dates(tx, transfer, facts, _site_of(p))
    _check_counts(len(_embryos(tx.session, transfer.id)), facts)


def _ae_whole(tx: Tx, row: AdverseEvent, p: Participant | None, name: str, value: Any) -> None:
    """The event with the new value, checked whole as report_adverse_event checks it."""
    event = _ae_input(row, name, value)
    _check_ae(event)
    check_study_dates(
        tx, _site_of(p), onset_date=event.onset_date, resolution_date=event.resolution_date
    )
    if p is not None:
        _check_after_consent(tx, p, event.onset_date)


# --------------------------------------------------------------------------- derived fields


def _replan_medication(tx: Tx, row: MedicationRecord, p: Participant | None) -> None:
    """The doses planned follow the period; its days are checked against her schedule again."""
    first = row.first_day or row.last_day
    days = (row.last_day - first).days + 1
    row.doses_planned = tx.protocol.regimen(row.regimen_id).doses_per_day * days
    if row.doses_taken > row.doses_planned:
        raise RuleViolation(
            "medication.doses", field="doses_taken", doses_taken=row.doses_taken,
            doses_planned=row.doses_planned, days=days, regimen=row.regimen_id,
            per_day=tx.protocol.regimen(row.regimen_id).doses_per_day,
        )  # fmt: skip
    if p is not None:
        _check_regimen_days(tx, p, row, first)


def _rescan(tx: Tx, row: Ultrasound, p: Participant | None) -> None:
    """The scan's cycle follows its date; a thickness out of range and a date out of its
    visit's window open queries, as on entry."""
    cycle = cycle_on(tx.session, row.participant_id, row.scan_date)
    row.cycle_id = cycle.id if cycle is not None else None
    if p is not None and row.event_id is not None:
        check_window(tx, p, row, "scan_date", row.event_id, row.scan_date)
    low, high = THICKNESS_RANGE_MM
    if row.thickness_mm is not None and not low <= row.thickness_mm <= high:
        text = f"thickness_mm {row.thickness_mm} is outside {low:g}-{high:g} mm: confirm"
        open_edit_query(tx.session, row, "thickness_mm", text, "range")


def _revisit(tx: Tx, row: Visit, p: Participant | None) -> None:
    """A visit held out of its window opens a query, as on entry (a missed one has none)."""
    if p is not None and row.attended:
        check_window(tx, p, row, "visit_date", row.event_id, row.visit_date)


def _redose(tx: Tx, row: Procedure, p: Participant | None) -> None:
    """The dose the protocol wants for the corrected weight and viability (by her arm's rule;
    none for a vehicle control); a dose given out of its tolerance now opens a query (it was
    given: it is not refused afterwards)."""
    procedure_id = row.procedure_id or (
        tx.protocol.procedures[0].id if tx.protocol.procedures else ""
    )
    spec = tx.protocol.procedure(procedure_id)
    rule = (
        procedure_dose_rule(tx.protocol, p.arm, spec.id)
        if p is not None and p.arm is not None
        else (None if spec.dose_rule is None else tx.protocol.dose_rule(spec.dose_rule))
    )
    if rule is None:
        return  # given without cells: no dose to check
    try:
        plan = compute_dose(
            rule, row.weight_kg, viability_pct=row.viability_pct,
            release_results=row.pre_checks.get("release_results"),
        )  # fmt: skip
    except InputError as error:
        raise InvalidInput(
            "input.invalid", field="new_value", what="the procedure's dose", problems=str(error)
        ) from None
    row.volume_ml = plan.volume_ml
    if row.dose_cells is not None and not dose_within_tolerance(plan, row.dose_cells):
        text = (
            f"after the correction the dose given {row.dose_cells:.3g} cells is outside "
            f"{plan.dose_min_viable_cells:.3g}-{plan.dose_max_viable_cells:.3g}"
            + ("" if row.weight_kg is None else f" for {row.weight_kg:g} kg")
            + ": confirm the values, or record a deviation"
        )
        open_edit_query(tx.session, row, "dose_cells", text, "dose_tolerance")


def _rederive_outcome(tx: Tx, row: PregnancyOutcome, p: Participant | None) -> None:
    """The outcomes derived again from the facts; consistency and window checks again."""
    transfer = get_row(tx.session, EmbryoTransfer, row.transfer_id)
    embryos = _embryos(tx.session, transfer.id)
    facts = _stored_facts(row)
    events = (row.beta_hcg_event_id, row.ultrasound_event_id)
    derived = derive_outcome(_facts(transfer, embryos, facts), tx.protocol)
    _store(row, facts, derived)
    row.beta_hcg_event_id, row.ultrasound_event_id = events
    tx.session.flush()
    _check_consistency(tx, row, derived, len(embryos))
    if p is not None:
        _check_dates(tx, p, row, facts)


def _rederive_transfer(tx: Tx, row: EmbryoTransfer | TransferredEmbryo, _p: Any) -> None:
    """Gestational ages count from the transfer and the embryos' day: outcomes follow."""
    transfer_id = row.id if isinstance(row, EmbryoTransfer) else row.transfer_id
    outcome = _outcome_of(tx, transfer_id)
    if outcome is not None:
        participant = tx.session.get(Participant, outcome.participant_id)
        _rederive_outcome(tx, outcome, participant)


def _reassess_ae(tx: Tx, row: AdverseEvent, _p: Participant | None) -> None:
    """Expected by the protocol's list; the expedited report due from the onset if serious
    (from the onset date: a moment given at entry is kept while the onset date stays)."""
    row.expected = is_expected(tx.protocol, row.term)
    if not row.serious:
        row.expedited_report_due_at = None
    elif row.expedited_report_due_at is None or _onset_moved(row):
        row.expedited_report_due_at = report_due_at(tx.protocol, _ae_input(row, "term", row.term))


def _onset_moved(row: AdverseEvent) -> bool:
    return bool(inspect(row).attrs.onset_date.history.has_changes())


# --------------------------------------------------------------------------- records rebuilt


def _outcome_input(row: PregnancyOutcome, name: str, value: Any) -> OutcomeInput:
    stored = _stored_facts(row).model_dump()
    stored[_OUTCOME_INPUT.get(name, name)] = value
    return OutcomeInput(**stored)


_OUTCOME_INPUT = {"fetal_heartbeat": "fetal_heartbeat_12_weeks", "miscarriage_date": "loss_date"}


def _ae_input(row: AdverseEvent, name: str, value: Any) -> AdverseEventInput:
    stored = {
        key: getattr(row, key)
        for key in AdverseEventInput.model_fields
        if key not in ("onset_at",) and hasattr(row, key)
    }
    stored[name] = value
    return AdverseEventInput(**stored)


def _outcome_of(tx: Tx, transfer_id: int) -> PregnancyOutcome | None:
    return tx.session.scalar(
        select(PregnancyOutcome).where(PregnancyOutcome.transfer_id == transfer_id)
    )


# --------------------------------------------------------------------------- the table

_PARTICIPANT = "the participant: a record is never moved to another woman; record it under hers"
_WHO = "who saved it, taken from the sign-in: the audit trail keeps who changed what"
_CYCLE = "derived from the date (the cycle she was in): correct the date"


def _outcome_fields() -> dict[str, Correctable]:
    names = (
        "beta_hcg_miu_ml", "beta_hcg_date", "ultrasound_date", "gestational_sacs", "ectopic",
        "fetal_heartbeat", "ongoing_date", "miscarriage_date", "birth_date", "live_born_count",
    )  # fmt: skip
    facts = {
        name: Correctable((OutcomeInput, _OUTCOME_INPUT.get(name, name)), (_outcome_facts,))
        for name in names
    }
    return {
        **facts,
        "beta_hcg_event_id": Correctable(
            (OutcomeInput, "beta_hcg_event_id"),
            (_scheduled(("lab",)), _event_dated("beta_hcg_date")),
        ),
        "ultrasound_event_id": Correctable(
            (OutcomeInput, "ultrasound_event_id"),
            (_scheduled(SCAN_KINDS), _event_dated("ultrasound_date")),
        ),
    }


def _ae_fields() -> dict[str, Correctable]:
    names = (
        "term", "ctcae_grade", "serious", "onset_date", "related_procedure", "related_cells",
        "related_hrt", "resolution_date", "outcome", "action_taken",
    )  # fmt: skip
    return {name: Correctable((AdverseEventInput, name), (_ae_whole,)) for name in names}


CORRECTABLE: Mapping[str, Kind] = {
    "consent": Kind(
        Consent, Operation.RECORD_CONSENT,
        {
            "form_version": Correctable((ConsentInput, "form_version")),
            "consent_date": Correctable((ConsentInput, "consent_date"), (study_date,
                                  _consent_before_enrolment)),
            "taken_by": Correctable((ConsentInput, "taken_by"), (_consent_taker,)),
        },
        {"participant_id": _PARTICIPANT},
    ),
    "cycle": Kind(
        Cycle, Operation.START_CYCLE,
        {"start_date": Correctable((CycleStartInput, "start_date"), (*DATED, _cycles_in_order))},
        {
            "participant_id": _PARTICIPANT,
            "kind": "which of the protocol's cycles it is; her records of that cycle hang on it",
            "event_id": "the protocol's start event of that cycle",
        },
    ),
    "allocation": Kind(
        Allocation, Operation.ALLOCATE,
        {
            "allocated_on": Correctable((AllocationInput, "allocated_on"), DATED),
            "allocation_basis": Correctable((AllocationInput, "basis")),
        },
        {
            "participant_id": _PARTICIPANT,
            "arm": "her arm decides her treatment: changing it is a medical decision, recorded "
            "as a protocol deviation, not a correction",
            "allocated_by": _WHO,
        },
    ),
    "medication": Kind(
        MedicationRecord, Operation.RECORD_MEDICATION,
        {
            "first_day": Correctable((MedicationInput, "first_day"), (*DATED, _period_in_order)),
            "last_day": Correctable((MedicationInput, "last_day"), (*DATED, _period_in_order)),
            "doses_taken": Correctable((MedicationInput, "doses_taken"), (_doses_within_plan,)),
            "event_id": Correctable((MedicationInput, "event_id"), (_scheduled(("medication",)),)),
        },
        {
            "participant_id": _PARTICIPANT,
            "regimen_id": "another drug is another record: record it, and query this one",
            "doses_planned": "computed from the regimen's doses a day and the period's days",
            "cycle_id": "the cycle of the regimen",
        },
        after=_replan_medication,
        derived=("doses_planned",),
    ),
    "procedure": Kind(
        Procedure, Operation.RECORD_PROCEDURE,
        {
            "procedure_date": Correctable((ProcedureInput, "procedure_date"), (*DATED,
                                    _procedure_times)),
            "started_at": Correctable((ProcedureInput, "started_at"), (_procedure_times,)),
            "ended_at": Correctable((ProcedureInput, "ended_at"), (_procedure_times,)),
            "cell_lot": Correctable((ProcedureInput, "cell_lot"), (_lot_given,)),
            "complications": Correctable((ProcedureInput, "complications")),
            "weight_kg": Correctable((ProcedureInput, "weight_kg")),
            "viability_pct": Correctable((ProcedureInput, "viability_pct")),
            "dose_cells": Correctable((ProcedureInput, "dose_given_cells")),
        },
        {
            "participant_id": _PARTICIPANT,
            "procedure_id": "which of the protocol's procedures it was",
            "event_id": "the procedure's own schedule event (its protocol id)",
            "cycle_id": "the cycle of the procedure",
            "volume_ml": "computed by the protocol's dose rule",
            "checklist": "the bedside checklist is answered whole when the procedure is "
            "recorded: open a query on it instead",
            "pre_checks": "the safety checks decided whether the procedure could go ahead: a "
            "wrong result is a deviation to record, not a value to change afterwards",
            "override_reason": "an override guards the act when it is recorded; one given "
            "afterwards would guard nothing",
        },
        after=_redose,
        derived=("volume_ml",),
    ),
    "ultrasound": Kind(
        Ultrasound, Operation.RECORD_ULTRASOUND,
        {
            "scan_date": Correctable((UltrasoundInput, "scan_date"), DATED),
            "thickness_mm": Correctable((UltrasoundInput, "thickness_mm")),
            "trilaminar": Correctable((UltrasoundInput, "trilaminar")),
            "event_id": Correctable((UltrasoundInput, "event_id"), (_scheduled(SCAN_KINDS),)),
        },
        {"participant_id": _PARTICIPANT, "cycle_id": _CYCLE},
        after=_rescan,
        derived=("cycle_id",),
    ),
    "visit": Kind(
        Visit, Operation.RECORD_VISIT,
        {
            "visit_date": Correctable((VisitInput, "visit_date"), DATED),
            "attended": Correctable((VisitInput, "attended")),
            "notes": Correctable((VisitInput, "notes")),
        },
        {
            "participant_id": _PARTICIPANT,
            "event_id": "which scheduled visit it was: record the right one, and query this one",
        },
        after=_revisit,
    ),
    "transfer": Kind(
        EmbryoTransfer, Operation.RECORD_TRANSFER,
        {
            "transfer_date": Correctable(
                (TransferInput, "transfer_date"), (*DATED, _transfer_date)
            ),
            "cancel_reason": Correctable((TransferInput, "cancel_reason"), (_cancel_reason,)),
            "event_id": Correctable((TransferInput, "event_id"), (_scheduled(("transfer",)),)),
        },
        {
            "participant_id": _PARTICIPANT,
            "cycle_id": "the cycle it was done in",
            "cancelled": "whether it took place shapes the embryos and outcome recorded with "
            "it: open a query and record a deviation",
        },
        after=_rederive_transfer,
    ),
    "embryo": Kind(
        TransferredEmbryo, Operation.RECORD_TRANSFER,
        {
            "embryo_day": Correctable((TransferInput, "embryo_day"), (_embryo_day,)),
            "expansion": Correctable((_Gardner, "expansion"), (_gardner,)),
            "icm": Correctable((_Gardner, "icm"), (_gardner,)),
            "te": Correctable((_Gardner, "te"), (_gardner,)),
        },
        {"transfer_id": "the transfer it belongs to"},
        after=_rederive_transfer,
    ),
    "outcome": Kind(
        PregnancyOutcome, Operation.RECORD_OUTCOME,
        _outcome_fields(),
        {
            "participant_id": _PARTICIPANT,
            "transfer_id": "the transfer it follows",
            **dict.fromkeys(
                ("biochemical", "miscarriage", "ongoing", "live_birth"),
                "derived from the facts by the protocol's outcome definitions",
            ),
        },
        after=_rederive_outcome,
        derived=("biochemical", "miscarriage", "ongoing", "live_birth"),
    ),
    "adverse_event": Kind(
        AdverseEvent, Operation.REPORT_ADVERSE_EVENT,
        _ae_fields(),
        {
            "participant_id": _PARTICIPANT,
            "expected": "derived from the term and the protocol's list of expected events",
            "expedited_report_due_at": "derived from the onset and seriousness",
        },
        after=_reassess_ae,
        derived=("expected", "expedited_report_due_at"),
    ),
    "deviation": Kind(
        ProtocolDeviation, Operation.RECORD_DEVIATION,
        {
            "occurred_on": Correctable((DeviationInput, "occurred_on"), (study_date,)),
            "category": Correctable((DeviationInput, "category")),
            "description": Correctable((DeviationInput, "description")),
            "major": Correctable((DeviationInput, "major")),
        },
        {
            "participant_id": _PARTICIPANT,
            "site_id": "the site whose deviation it is follows the participant",
            "reported_by": _WHO,
        },
    ),
    "withdrawal": Kind(
        Withdrawal, Operation.WITHDRAW,
        {
            "withdrawn_on": Correctable((WithdrawalInput, "withdrawn_on"), DATED),
            "initiated_by": Correctable((WithdrawalInput, "initiated_by")),
            "reason": Correctable((WithdrawalInput, "reason")),
            "data_use_allowed": Correctable((WithdrawalInput, "data_use_allowed")),
        },
        {"participant_id": _PARTICIPANT},
    ),
}  # fmt: skip

#: Records that are not corrected field by field, and what to do instead.
ELSEWHERE: Mapping[str, str] = {
    "screening": "a screening is a decision taken on the values of its day: screen her again "
    "with the corrected values (the screening log keeps both)",
    "participant": "her study id, site, arm and status follow from consent, enrolment, "
    "allocation and withdrawal: correct those records",
    "identity": "record her identifying data again with record_identity (sealed, never in "
    "the trail), or erase it",
    "data_query": "a query is answered and closed, not corrected",
    "measurement": "correct its value or date with correct_measurement (with a reason); its "
    "event and item are what it is: record the right ones, and query this one",
    "lock": "an investigator locks and unlocks her data (unlocking needs a reason)",
    "user": "accounts are managed by an investigator (add, deactivate, reactivate)",
    "site": "sites are managed by a central investigator",
}


def correct_record(study: Study, actor: Actor, correction: CorrectionInput) -> CorrectionRecord:
    """Correct one field of one record, with a reason that says something (see the module)."""
    if not isinstance(correction, CorrectionInput):
        raise InvalidInput(
            "input.wrong_type", what="a correction", expected="CorrectionInput",
            given=type(correction).__name__,
        )  # fmt: skip
    kind = _kind(correction.record)
    spec = _correctable(kind, correction.record, correction.field)
    value = _typed(spec, correction)
    reason = meaningful_reason(correction.reason, "a correction")
    name = correction.field
    with writing(study, actor, kind.operation, reason=reason) as tx:
        row = tx.session.get(kind.model, correction.record_id)
        participant = _writable(tx, kind, row, correction.record_id)
        old = getattr(row, name)
        if old == value:
            raise RuleViolation(
                "correction.unchanged", field=name, kind=correction.record,
                row_id=correction.record_id, value=old,
            )  # fmt: skip
        for check in spec.checks:
            check(tx, row, participant, name, value)
        before = {d: getattr(row, d) for d in kind.derived}
        setattr(row, name, value)
        tx.session.flush()
        if kind.after is not None:
            kind.after(tx, row, participant)
        tx.session.flush()
        after = {d: getattr(row, d) for d in kind.derived}
        return CorrectionRecord(
            table=kind.model.__tablename__, record_id=correction.record_id, field=name,
            old_value=old, new_value=value,
            recomputed={d: (before[d], after[d]) for d in kind.derived if before[d] != after[d]},
        )  # fmt: skip


def correctable_fields(record: str) -> tuple[str, ...]:
    """The fields of a kind of record that `correct_record` corrects."""
    return tuple(_kind(record).fields)


def _kind(record: str) -> Kind:
    kind = CORRECTABLE.get(record)
    if kind is not None:
        return kind
    if record in ELSEWHERE:
        raise RuleViolation(
            "correction.elsewhere", field="record", kind=record, how=ELSEWHERE[record]
        )
    raise InvalidInput(
        "correction.unknown_kind", field="record", kind=record, kinds=list(CORRECTABLE)
    )


def _correctable(kind: Kind, record: str, name: str) -> Correctable:
    spec = kind.fields.get(name)
    if spec is not None:
        return spec
    if name in kind.fixed or name in ("id", "version"):
        why = kind.fixed.get(name, "the record's identity, kept by the store")
        raise RuleViolation(
            "correction.not_correctable", field="field", kind=record, name=name, why=why
        )
    raise InvalidInput(
        "correction.unknown_field", field="field", kind=record, name=name, fields=list(kind.fields)
    )


@functools.cache
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """The recording input's type of the field, with its constraints and validators, strict."""
    info = model.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    return TypeAdapter(annotation, config=_STRICT)


def _typed(spec: Correctable, correction: CorrectionInput) -> Any:
    model, name = spec.source
    try:
        return _adapter(model, name).validate_python(correction.new_value)
    except ValidationError as error:
        problems = "; ".join(
            f"{str(e['msg']).removeprefix('Value error, ')} (given {correction.new_value!r:.60})"
            for e in error.errors()
        )
        raise InvalidInput(
            "input.invalid", field="new_value", what=f"{correction.record}.{correction.field}",
            problems=problems,
        ) from None  # fmt: skip


def _writable(tx: Tx, kind: Kind, row: Audited | None, row_id: int) -> Participant | None:
    """The record's participant, writable (not locked); another site's record is not found."""
    table = kind.model.__tablename__
    if row is None:
        raise NotFoundError("record.not_found", table=table, row_id=row_id)
    participant_id = participant_of_record(tx.session, row)
    if participant_id is None:
        if not tx.ctx.may_access(getattr(row, "site_id", None)):
            raise NotFoundError("record.not_found", table=table, row_id=row_id)
        return None
    return writable_participant(tx, participant_id, via=(table, row_id))
