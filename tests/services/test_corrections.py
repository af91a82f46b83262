"""Correcting any recorded field with a reason (issue 8, finding 5): validated as at entry,
audited with the old and the new value, refused on locked data, for another site's record,
for fields that are not corrected this way, and for a value already stored."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from services_helpers import (
    COORDINATOR,
    DAY_10,
    EMBRYOLOGIST,
    INVESTIGATOR,
    MONITOR,
    RADIOLOGIST,
    SCREENED_ON,
    TRANSFER_CYCLE_START,
    TRANSFER_DAY,
    TREATMENT_START,
    Trial,
    allocated,
    audit_rows,
    infusion,
    queries,
    refused,
    set_up_trial,
    sign_off,
    start_transfer_cycle,
)
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session
from two_sites import add_site_b

from endotrial.protocol import Protocol
from endotrial.services import (
    AdverseEventInput,
    DeviationInput,
    InvalidInput,
    LockedError,
    MedicationInput,
    NotFoundError,
    OutcomeInput,
    PermissionDenied,
    RuleViolation,
    TransferInput,
    UltrasoundInput,
    WithdrawalInput,
    lock_participant,
    record_deviation,
    record_medication,
    record_outcome,
    record_procedure,
    record_transfer,
    record_ultrasound,
    report_adverse_event,
    withdraw,
)
from endotrial.services.corrections import (
    CORRECTABLE,
    ELSEWHERE,
    CorrectionInput,
    CorrectionRecord,
    correct_record,
)
from endotrial.services.dry_run import dry_run
from endotrial.services.verification import check_actors
from endotrial.store import (
    AdverseEvent,
    Allocation,
    Consent,
    Cycle,
    Relatedness,
    TransferredEmbryo,
)
from endotrial.store.audit import audited_fields, field_history

REASON = "transcription error, source document page 3"


@dataclass
class Records:
    """One record of every kind, of one participant (ids by kind)."""

    trial: Trial
    participant_id: int
    ids: dict[str, int]


def _records(engine: Engine, protocol: Protocol, *, withdrawn: bool = True) -> Records:
    trial = set_up_trial(engine, protocol)
    study, coordinator = trial.study, trial.actor(COORDINATOR)
    pid = start_transfer_cycle(trial, allocated(trial, "c1", "hbmsc"))
    ids: dict[str, int] = {}
    with Session(engine) as session:
        ids["consent"] = session.scalars(select(Consent.id)).one()
        ids["allocation"] = session.scalars(select(Allocation.id)).one()
        ids["cycle"] = session.scalars(select(Cycle.id).where(Cycle.kind == "transfer")).one()
    course = MedicationInput(
        participant_id=pid, regimen_id="tx_estradiol_valerate",
        first_day=TREATMENT_START + dt.timedelta(days=2),
        last_day=TREATMENT_START + dt.timedelta(days=3), doses_taken=2,
    )  # fmt: skip
    ids["medication"] = record_medication(study, coordinator, course)
    procedure = record_procedure(study, trial.actor(RADIOLOGIST), infusion(pid, 58_000_000))
    ids["procedure"] = procedure.procedure_id
    scan = UltrasoundInput(participant_id=pid, scan_date=TRANSFER_DAY, thickness_mm=8.5)
    ids["ultrasound"] = record_ultrasound(study, coordinator, scan)
    transfer = TransferInput(participant_id=pid, transfer_date=TRANSFER_DAY, embryo_grades=["4AB"])
    ids["transfer"] = record_transfer(study, trial.actor(EMBRYOLOGIST), transfer)
    with Session(engine) as session:
        ids["embryo"] = session.scalars(select(TransferredEmbryo.id)).one()
    facts = OutcomeInput(
        transfer_id=ids["transfer"], beta_hcg_miu_ml=250.0,
        beta_hcg_date=TRANSFER_DAY + dt.timedelta(days=12),
    )  # fmt: skip
    record_outcome(study, coordinator, facts)
    with Session(engine) as session:
        from endotrial.store import PregnancyOutcome

        ids["outcome"] = session.scalars(select(PregnancyOutcome.id)).one()
    event = AdverseEventInput(
        participant_id=pid, term="Pelvic pain", ctcae_grade=1, serious=False, onset_date=DAY_10
    )
    ids["adverse_event"] = report_adverse_event(study, coordinator, event)
    deviation = DeviationInput(
        occurred_on=DAY_10, category="visit window", description="scan two days late",
        participant_id=pid,
    )  # fmt: skip
    ids["deviation"] = record_deviation(study, trial.actor(MONITOR), deviation)
    if withdrawn:
        leaving = WithdrawalInput(
            participant_id=pid, withdrawn_on=TRANSFER_DAY + dt.timedelta(days=20),
            initiated_by="participant", reason="moved to another city",
        )  # fmt: skip
        ids["withdrawal"] = withdraw(study, coordinator, leaving)
    return Records(trial, pid, ids)


def _correct(
    records: Records, kind: str, field: str, value: Any, *, user: str = INVESTIGATOR,
    reason: str = REASON,
) -> CorrectionRecord:  # fmt: skip
    correction = CorrectionInput(
        record=kind, record_id=records.ids[kind], field=field, new_value=value, reason=reason
    )
    return correct_record(records.trial.study, records.trial.actor(user), correction)


def test_every_column_is_correctable_or_says_why_not() -> None:
    """A column added to a table must be given a line: correctable, or why not."""
    for name, kind in CORRECTABLE.items():
        columns = set(audited_fields(kind.model))
        assert set(kind.fields) | set(kind.fixed) == columns, name
        assert not set(kind.fields) & set(kind.fixed), name
        assert all(len(why) > 20 for why in kind.fixed.values()), name


#: (kind, field, new value, the user who records that kind): one field of each kind, and
#: every class of field (date, number, flag, coded value, text).
CORRECTIONS: list[tuple[str, str, Any, str]] = [
    ("consent", "form_version", "v1.1", COORDINATOR),
    ("consent", "consent_date", SCREENED_ON - dt.timedelta(days=1), COORDINATOR),
    ("consent", "taken_by", INVESTIGATOR, COORDINATOR),
    ("cycle", "start_date", TRANSFER_CYCLE_START + dt.timedelta(days=1), COORDINATOR),
    ("allocation", "allocated_on", SCREENED_ON + dt.timedelta(days=1), INVESTIGATOR),
    ("allocation", "allocation_basis", "fit for the procedure; her choice", INVESTIGATOR),
    ("medication", "doses_taken", 3, COORDINATOR),
    ("medication", "last_day", TREATMENT_START + dt.timedelta(days=4), COORDINATOR),
    ("medication", "first_day", TREATMENT_START + dt.timedelta(days=3), COORDINATOR),
    ("procedure", "cell_lot", "LOT-2", RADIOLOGIST),
    ("procedure", "complications", "small groin haematoma", RADIOLOGIST),
    ("procedure", "started_at", dt.datetime(2025, 10, 15, 9, 30, tzinfo=dt.UTC), RADIOLOGIST),
    ("ultrasound", "thickness_mm", 9.0, COORDINATOR),
    ("ultrasound", "trilaminar", True, RADIOLOGIST),
    ("transfer", "transfer_date", TRANSFER_DAY - dt.timedelta(days=1), EMBRYOLOGIST),
    ("embryo", "icm", "B", EMBRYOLOGIST),
    ("embryo", "expansion", 5, EMBRYOLOGIST),
    ("embryo", "embryo_day", 6, EMBRYOLOGIST),
    ("outcome", "beta_hcg_miu_ml", 310.5, COORDINATOR),
    ("outcome", "gestational_sacs", 1, COORDINATOR),
    ("adverse_event", "ctcae_grade", 2, EMBRYOLOGIST),
    ("adverse_event", "related_procedure", Relatedness.POSSIBLE, RADIOLOGIST),
    ("adverse_event", "resolution_date", DAY_10 + dt.timedelta(days=3), COORDINATOR),
    ("adverse_event", "action_taken", "analgesics", COORDINATOR),
    ("deviation", "major", True, MONITOR),
    ("deviation", "description", "scan three days late", COORDINATOR),
    ("withdrawal", "initiated_by", "investigator", COORDINATOR),
    ("withdrawal", "data_use_allowed", False, COORDINATOR),
]


@pytest.mark.parametrize(("kind", "field", "value", "user"), CORRECTIONS)
def test_a_field_of_every_kind_is_corrected_and_audited(
    engine: Engine, seed_protocol: Protocol, kind: str, field: str, value: Any, user: str
) -> None:
    records = _records(engine, seed_protocol)
    model = CORRECTABLE[kind].model
    with Session(engine) as session:
        old = getattr(session.get_one(model, records.ids[kind]), field)
    result = _correct(records, kind, field, value, user=user)
    assert (result.old_value, result.new_value) == (old, value)
    with Session(engine) as session:
        assert getattr(session.get_one(model, records.ids[kind]), field) == value
    last = field_history(engine, model.__tablename__, records.ids[kind], field)[-1]
    assert (last.action, last.reason, last.username) == ("update", REASON, user)
    assert last.new_value == _as_trail(value) and last.old_value == _as_trail(old)
    assert list(check_actors(engine)) == []  # every table written is one that role may write


def _as_trail(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value.value if isinstance(value, Relatedness) else value


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("ultrasound", "thickness_mm", "9.0"),  # a number as text
        ("ultrasound", "thickness_mm", 150.0),  # beyond any endometrium
        ("ultrasound", "trilaminar", 1),  # a flag as a number
        ("ultrasound", "scan_date", "2025-11-20"),  # a date as text
        ("adverse_event", "ctcae_grade", 6),
        ("adverse_event", "related_cells", "maybe"),
        ("withdrawal", "initiated_by", "her husband"),
        ("medication", "doses_taken", -1),
        ("embryo", "expansion", 7),
        ("embryo", "te", "D"),
        ("outcome", "gestational_sacs", 2.5),
        ("procedure", "weight_kg", float("nan")),
        ("consent", "form_version", "   "),
        ("deviation", "description", "bad\x00text"),
    ],
)
def test_a_wrong_value_is_refused_as_the_entry_form_refuses_it(
    engine: Engine, seed_protocol: Protocol, kind: str, field: str, value: Any
) -> None:
    records = _records(engine, seed_protocol)
    before = audit_rows(engine)
    with refused("input.invalid", field="new_value", kind=InvalidInput):
        _correct(records, kind, field, value)
    assert audit_rows(engine) == before


DAY_BEFORE = dt.timedelta(days=1)
LATE_END = dt.datetime(2025, 10, 20, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("kind", "field", "value", "code"),
    [
        ("ultrasound", "scan_date", dt.date.today() + dt.timedelta(days=9), "date.future"),
        ("ultrasound", "scan_date", SCREENED_ON - dt.timedelta(days=3), "date.before_enrolment"),
        ("adverse_event", "onset_date", dt.date(1990, 1, 1), "date.before_trial"),
        ("adverse_event", "ctcae_grade", 4, "ae.grade_serious"),
        ("adverse_event", "resolution_date", DAY_10 - DAY_BEFORE, "date.end_before_start"),
        ("adverse_event", "onset_date", SCREENED_ON - dt.timedelta(days=2), "date.before_consent"),
        ("medication", "doses_taken", 5, "medication.doses"),
        ("medication", "first_day", TREATMENT_START + 4 * DAY_BEFORE, "date.end_before_start"),
        ("medication", "first_day", dt.date.today() + dt.timedelta(days=3), "date.future"),
        ("ultrasound", "event_id", "beta_hcg", "visit.wrong_kind"),
        ("ultrasound", "event_id", "no_such_visit", "visit.not_in_schedule"),
        ("consent", "taken_by", "nobody", "consent.taker"),
        ("consent", "consent_date", SCREENED_ON + dt.timedelta(days=1), "enrolment.before_consent"),
        ("cycle", "start_date", TREATMENT_START, "cycle.overlaps"),
        ("embryo", "embryo_day", 7, "transfer.embryo_day"),
        ("transfer", "transfer_date", TRANSFER_CYCLE_START - DAY_BEFORE, "transfer.no_cycle"),
        ("transfer", "cancel_reason", "thin endometrium", "correction.not_applicable"),
        ("outcome", "beta_hcg_date", TRANSFER_DAY - dt.timedelta(days=1), "date.before_transfer"),
        ("outcome", "birth_date", TRANSFER_DAY + dt.timedelta(days=30), "outcome.birth_date_weeks"),
        ("outcome", "gestational_sacs", 4, "outcome.too_many"),
        ("procedure", "cell_lot", None, "procedure.no_lot"),
        ("procedure", "ended_at", LATE_END, "procedure.time_off_date"),
    ],
)  # fmt: skip
def test_a_value_breaking_a_rule_is_refused_as_at_entry(
    engine: Engine, seed_protocol: Protocol, kind: str, field: str, value: Any, code: str
) -> None:
    records = _records(engine, seed_protocol, withdrawn=False)
    before = audit_rows(engine)
    with refused(code, kind=RuleViolation):
        _correct(records, kind, field, value)
    assert audit_rows(engine) == before


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("ultrasound", "participant_id"),
        ("ultrasound", "id"),
        ("ultrasound", "cycle_id"),
        ("adverse_event", "expected"),
        ("adverse_event", "expedited_report_due_at"),
        ("outcome", "live_birth"),
        ("allocation", "arm"),
        ("deviation", "site_id"),
        ("deviation", "reported_by"),
        ("procedure", "pre_checks"),
        ("procedure", "volume_ml"),
        ("medication", "doses_planned"),
    ],
)
def test_ids_participant_site_and_derived_fields_are_not_corrected(
    engine: Engine, seed_protocol: Protocol, kind: str, field: str
) -> None:
    records = _records(engine, seed_protocol)
    with refused("correction.not_correctable", field="field", kind=RuleViolation) as caught:
        _correct(records, kind, field, 1)
    assert caught.value.params["why"]


def test_unknown_kinds_fields_and_kinds_corrected_elsewhere(
    engine: Engine, seed_protocol: Protocol
) -> None:
    records = _records(engine, seed_protocol)
    with refused("correction.unknown_field", field="field", kind=InvalidInput):
        _correct(records, "ultrasound", "thicknes_mm", 9.0)
    records.ids["scan"] = records.ids["ultrasound"]
    with refused("correction.unknown_kind", field="record", kind=InvalidInput):
        _correct(records, "scan", "thickness_mm", 9.0)
    assert "screening" in ELSEWHERE
    records.ids["screening"] = 1
    with refused("correction.elsewhere", field="record", kind=RuleViolation) as caught:
        _correct(records, "screening", "item_values", {})
    assert "screen her again" in str(caught.value)


def test_a_correction_needs_a_reason_that_says_something(
    engine: Engine, seed_protocol: Protocol
) -> None:
    records = _records(engine, seed_protocol)
    for reason in ("", "ok", "fixed", "   "):
        with refused("input.reason_required", field="reason", kind=InvalidInput):
            _correct(records, "ultrasound", "thickness_mm", 9.0, reason=reason)


def test_the_stored_value_is_refused_as_a_correction(
    engine: Engine, seed_protocol: Protocol
) -> None:
    records = _records(engine, seed_protocol)
    before = audit_rows(engine)
    with refused("correction.unchanged", field="thickness_mm", kind=RuleViolation):
        _correct(records, "ultrasound", "thickness_mm", 8.5)
    assert audit_rows(engine) == before


def test_locked_data_are_not_corrected(engine: Engine, seed_protocol: Protocol) -> None:
    records = _records(engine, seed_protocol, withdrawn=False)
    trial = records.trial
    for query in queries(trial):  # sign-off needs every query closed
        from endotrial.services import QueryAnswer, QueryClosure, answer_query, close_query

        answer_query(trial.study, trial.actor(COORDINATOR), QueryAnswer(
            query_id=query.query_id, answer="confirmed against the source document"))  # fmt: skip
        close_query(trial.study, trial.actor(MONITOR), QueryClosure(query_id=query.query_id))
    lock_participant(trial.study, trial.actor(INVESTIGATOR), sign_off(records.participant_id))
    for kind in ("ultrasound", "adverse_event", "embryo", "consent"):
        field, value = {
            "ultrasound": ("thickness_mm", 9.0),
            "adverse_event": ("action_taken", "analgesics"),
            "embryo": ("te", "A"),
            "consent": ("form_version", "v2"),
        }[kind]
        with refused("record.locked", kind=LockedError):
            _correct(records, kind, field, value)


def test_another_sites_record_is_not_found(engine: Engine, seed_protocol: Protocol) -> None:
    records = _records(engine, seed_protocol)
    site_b = add_site_b(records.trial)
    for kind, field, value in (
        ("ultrasound", "thickness_mm", 9.0),
        ("deviation", "major", True),
        ("embryo", "icm", "B"),
    ):
        correction = CorrectionInput(
            record=kind, record_id=records.ids[kind], field=field, new_value=value, reason=REASON
        )
        with refused("record.not_found", kind=NotFoundError) as caught:
            correct_record(records.trial.study, site_b.coordinator, correction)
        assert caught.value.params["table"] == CORRECTABLE[kind].model.__tablename__


@pytest.mark.parametrize(
    ("kind", "field", "value", "user"),
    [
        ("ultrasound", "thickness_mm", 9.0, MONITOR),
        ("consent", "form_version", "v2", EMBRYOLOGIST),
        ("allocation", "allocation_basis", "her choice, stated at the visit", COORDINATOR),
        ("procedure", "cell_lot", "LOT-9", COORDINATOR),
        ("embryo", "icm", "B", COORDINATOR.replace("coord1", "stat1")),
    ],
)
def test_only_the_roles_that_record_a_kind_correct_it(
    engine: Engine, seed_protocol: Protocol, kind: str, field: str, value: Any, user: str
) -> None:
    records = _records(engine, seed_protocol)
    with refused("auth.role", kind=PermissionDenied):
        _correct(records, kind, field, value, user=user)


def test_derived_fields_follow_the_correction(engine: Engine, seed_protocol: Protocol) -> None:
    records = _records(engine, seed_protocol, withdrawn=False)
    engine_ = records.trial.engine
    renamed = _correct(records, "adverse_event", "term", "Headache")  # not an expected event
    assert renamed.recomputed == {"expected": (True, False)}
    serious = _correct(records, "adverse_event", "serious", True)
    due = serious.recomputed["expedited_report_due_at"]
    assert due[0] is None and due[1] is not None
    with Session(engine_) as session:
        event = session.get_one(AdverseEvent, records.ids["adverse_event"])
        assert event.expected is False and event.expedited_report_due_at is not None
    sacs = _correct(records, "outcome", "gestational_sacs", 1)
    assert sacs.new_value == 1
    scan = _correct(records, "ultrasound", "scan_date", TRANSFER_DAY - dt.timedelta(days=30))
    assert "cycle_id" in scan.recomputed  # now in the treatment cycle
    _correct(records, "ultrasound", "thickness_mm", 40.0)
    opened = [(q.entity, q.opened_by) for q in queries(records.trial) if q.field == "thickness_mm"]
    assert opened == [("ultrasounds", "edit_check:range")]


def test_a_corrected_weight_that_puts_the_dose_out_of_tolerance_opens_a_query(
    engine: Engine, seed_protocol: Protocol
) -> None:
    records = _records(engine, seed_protocol, withdrawn=False)
    _correct(records, "procedure", "weight_kg", 80.0, user=RADIOLOGIST)
    opened = [q for q in queries(records.trial) if q.field == "dose_cells"]
    assert [q.opened_by for q in opened] == ["edit_check:dose_tolerance"]


def test_a_correction_can_be_dry_run(engine: Engine, seed_protocol: Protocol) -> None:
    records = _records(engine, seed_protocol)
    before = audit_rows(engine)
    correction = CorrectionInput(
        record="adverse_event", record_id=records.ids["adverse_event"], field="serious",
        new_value=True, reason=REASON,
    )  # fmt: skip
    rehearsed = dry_run(
        correct_record, records.trial.study, records.trial.actor(COORDINATOR), correction
    )
    assert rehearsed.accepted and audit_rows(engine) == before
    fields = {c.field for c in rehearsed.changes}
    assert {"serious", "expedited_report_due_at"} <= fields
    assert all(c.reason == REASON for c in rehearsed.changes)


def test_the_columns_of_each_kind_exist() -> None:
    for kind in CORRECTABLE.values():
        columns = {c.key for c in inspect(kind.model).column_attrs}
        assert set(kind.fields) <= columns
