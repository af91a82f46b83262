"""Adverse events, deviations, withdrawals, the query workflow and participant locks."""

import datetime as dt

from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    MONITOR,
    Trial,
    allocated,
    queries,
    refused,
    set_up_trial,
    sign_off,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    AdverseEventInput,
    DeviationInput,
    InvalidInput,
    LockedError,
    NotFoundError,
    PermissionDenied,
    QueryAnswer,
    QueryClosure,
    QueryInput,
    RuleViolation,
    UltrasoundInput,
    WithdrawalInput,
    answer_query,
    close_query,
    is_locked,
    list_queries,
    lock_participant,
    open_query,
    participant_queries,
    record_deviation,
    record_ultrasound,
    report_adverse_event,
    unlock_participant,
    withdraw,
)
from endotrial.store import (
    AdverseEvent,
    DataQuery,
    Participant,
    ProtocolDeviation,
    QueryStatus,
    Relatedness,
)
from endotrial.store.unit_of_work import unit_of_work

ONSET = dt.date(2025, 10, 16)


def _report(trial: Trial, **event: object) -> int:
    values: dict[str, object] = {
        "participant_id": 0,
        "term": "Fever",
        "ctcae_grade": 1,
        "serious": False,
        "onset_date": ONSET,
    }
    values.update(event)
    return report_adverse_event(trial.study, trial.actor(COORDINATOR), AdverseEventInput(**values))


def _ask(trial: Trial, entity: str, row_id: int, field: str, text: str = "source?") -> int:
    question = QueryInput(entity=entity, row_id=row_id, field=field, text=text)
    return open_query(trial.study, trial.actor(MONITOR), question)


def _answer(trial: Trial, query_id: int, answer: str = "checked against the CRF") -> None:
    answer_query(
        trial.study, trial.actor(COORDINATOR), QueryAnswer(query_id=query_id, answer=answer)
    )


def _close(trial: Trial, query_id: int) -> None:
    close_query(trial.study, trial.actor(MONITOR), QueryClosure(query_id=query_id))


def _lock(trial: Trial, pid: int) -> None:
    lock_participant(trial.study, trial.actor(INVESTIGATOR), sign_off(pid))


def _unlock(trial: Trial, pid: int, reason: str) -> None:
    unlock_participant(trial.study, trial.actor(INVESTIGATOR), pid, reason=reason)


def _locked(trial: Trial, pid: int) -> bool:
    return is_locked(trial.study, trial.actor(COORDINATOR), pid)


def test_serious_ae_is_due_24_hours_after_onset(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    onset_at = dt.datetime(2025, 10, 16, 14, 30, tzinfo=dt.UTC)
    ae_id = _report(
        trial,
        participant_id=pid,
        term="Hematoma",
        ctcae_grade=3,
        serious=True,
        related_procedure=Relatedness.DEFINITE,
        onset_at=onset_at,
    )
    mild_id = _report(trial, participant_id=pid)
    with Session(engine) as session:
        serious = session.get_one(AdverseEvent, ae_id)
        assert serious.expedited_report_due_at == dt.datetime(2025, 10, 17, 14, 30, tzinfo=dt.UTC)
        assert serious.expected and serious.related_procedure is Relatedness.DEFINITE
        assert session.get_one(AdverseEvent, mild_id).expedited_report_due_at is None


def test_serious_ae_without_time_is_due_24h_after_onset_day_start(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    ae_id = _report(
        trial, participant_id=pid, term="Pulmonary embolism", ctcae_grade=4, serious=True
    )
    with Session(engine) as session:
        row = session.get_one(AdverseEvent, ae_id)
        assert row.expedited_report_due_at == dt.datetime(2025, 10, 17, tzinfo=dt.UTC)
        assert not row.expected
    with refused("ae.grade_serious", field="serious", kind=RuleViolation) as caught:
        _report(trial, participant_id=pid, term="Sepsis", ctcae_grade=4, serious=False)
    assert "mark it serious" in str(caught.value)


def test_withdrawal_and_deviation(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    coordinator = trial.actor(COORDINATOR)
    pid = allocated(trial, "c1", "control")
    deviation = DeviationInput(
        occurred_on=ONSET,
        category="visit window",
        description="scan 3 days late",
        participant_id=pid,
    )
    deviation_id = record_deviation(trial.study, coordinator, deviation)
    withdrawal = WithdrawalInput(
        participant_id=pid,
        withdrawn_on=ONSET,
        initiated_by="participant",
        reason="moved to another city",
    )
    withdraw(trial.study, coordinator, withdrawal)
    with Session(engine) as session:
        assert session.get_one(Participant, pid).status == "withdrawn"
        row = session.get_one(ProtocolDeviation, deviation_id)
        assert (row.site_id, row.reported_by) == (trial.site_id, COORDINATOR)
    with refused("withdrawal.not_enrolled") as caught:
        withdraw(trial.study, coordinator, withdrawal)
    assert "withdrawn" in str(caught.value)


def test_query_workflow(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    query_id = _ask(trial, "participants", pid, "status", "source document?")
    _answer(trial, query_id)
    with refused("query.not_open") as caught:
        _answer(trial, query_id, "again")
    assert "only open" in str(caught.value)
    _close(trial, query_id)
    with refused("query.closed"):
        _close(trial, query_id)
    with Session(engine) as session:
        row = session.get_one(DataQuery, query_id)
        assert (row.status, row.answered_by, row.opened_by) == (
            QueryStatus.CLOSED,
            COORDINATOR,
            MONITOR,
        )
        assert row.answered_at is not None and row.closed_at is not None
    assert queries(trial, status=QueryStatus.OPEN) == []
    (closed,) = queries(trial, status=QueryStatus.CLOSED)
    assert (closed.query_id, closed.answer) == (query_id, "checked against the CRF")


def test_lock_refuses_writes_until_unlocked(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    coordinator = trial.actor(COORDINATOR)
    pid = allocated(trial, "c1", "control")
    with refused("auth.role", kind=PermissionDenied) as caught:
        lock_participant(trial.study, coordinator, sign_off(pid))
    assert "investigator" in str(caught.value)
    _lock(trial, pid)
    assert _locked(trial, pid)
    scan = UltrasoundInput(participant_id=pid, scan_date=dt.date(2025, 10, 14), thickness_mm=6.0)
    with refused("record.locked", kind=LockedError):
        record_ultrasound(trial.study, coordinator, scan)
    with refused("record.locked", kind=LockedError):
        _report(trial, participant_id=pid)
    for empty in (" ", "ok", "fixed"):
        with refused("input.reason_required", field="reason", kind=InvalidInput):
            _unlock(trial, pid, empty)
    assert _locked(trial, pid)
    _unlock(trial, pid, "late scan to enter")
    assert not _locked(trial, pid)
    record_ultrasound(trial.study, coordinator, scan)
    _lock(trial, pid)
    assert _locked(trial, pid)


def test_queries_name_a_real_field_and_block_sign_off_until_closed(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    with refused("record.no_table", field="entity") as caught:
        _ask(trial, "patients", pid, "status")
    assert "no trial table 'patients'" in str(caught.value)
    with refused("record.no_field", field="field") as caught:
        _ask(trial, "participants", pid, "colour")
    assert "status" in caught.value.params["fields"]
    with refused("record.not_found", kind=NotFoundError) as caught:
        _ask(trial, "participants", 999, "status")
    assert "#999" in str(caught.value)
    query_id = _ask(trial, "participants", pid, "status", "source document?")
    pending = participant_queries(trial.study, trial.actor(COORDINATOR), pid)
    assert [q.query_id for q in pending] == [query_id]
    with refused("lock.open_queries") as caught:
        _lock(trial, pid)
    assert f"unresolved queries #{query_id}" in str(caught.value)
    _answer(trial, query_id, "checked")
    with refused("lock.open_queries") as caught:
        _lock(trial, pid)
    assert "answered" in str(caught.value)
    _close(trial, query_id)
    _lock(trial, pid)
    with refused("record.locked", kind=LockedError):
        _ask(trial, "participants", pid, "arm")


def test_locked_data_takes_no_new_query_on_any_of_her_records(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """An edit-check query is answered and closed, the data signed off; a question on one of
    her records (here a scan) is then refused until an investigator unlocks her data."""
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    scan = UltrasoundInput(participant_id=pid, scan_date=dt.date(2025, 10, 14), thickness_mm=60.0)
    scan_id = record_ultrasound(trial.study, trial.actor(COORDINATOR), scan)
    (query,) = participant_queries(trial.study, trial.actor(COORDINATOR), pid)
    assert (query.entity, query.row_id) == ("ultrasounds", str(scan_id))
    _answer(trial, query.query_id, "confirmed on the source images")
    _close(trial, query.query_id)
    _lock(trial, pid)
    with refused("record.locked", kind=LockedError):
        _ask(trial, "ultrasounds", scan_id, "thickness_mm", "really 60 mm?")
    _unlock(trial, pid, "monitor's question")
    assert _ask(trial, "ultrasounds", scan_id, "thickness_mm", "really 60 mm?") > query.query_id


def test_a_legacy_query_on_no_trial_table_holds_up_no_sign_off(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """A query stored before queries had to name a real table (here 'consent') is on no one's
    record: it does not block an unrelated participant's sign-off, and only central staff see
    it."""
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    with unit_of_work(engine, token=trial.actor(INVESTIGATOR).token) as session:
        legacy = DataQuery(
            entity="consent",
            row_id="1",
            field="form_version",
            text="which version?",
            status=QueryStatus.OPEN,
            opened_by="monitor1",
            opened_at=dt.datetime(2025, 10, 2, tzinfo=dt.UTC),
        )
        session.add(legacy)
    assert participant_queries(trial.study, trial.actor(COORDINATOR), pid) == []
    assert queries(trial) == []  # the site's monitor: not her site's record
    (seen,) = list_queries(trial.study, trial.actor(INVESTIGATOR))  # central
    assert (seen.entity, seen.participant_id, seen.site_id) == ("consent", None, None)
    _lock(trial, pid)
    assert _locked(trial, pid)
