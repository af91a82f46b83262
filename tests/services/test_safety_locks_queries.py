"""Adverse events, deviations, withdrawals, the query workflow and participant locks."""

import datetime as dt

import pytest
from services_helpers import COORDINATOR, INVESTIGATOR, MONITOR, allocated, set_up_trial
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    AdverseEventInput,
    DeviationInput,
    LockedError,
    NotFoundError,
    PermissionDenied,
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
    QueryStatus,
    Relatedness,
    unit_of_work,
)

ONSET = dt.date(2025, 10, 16)


def test_serious_ae_is_due_24_hours_after_onset(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    onset_at = dt.datetime(2025, 10, 16, 14, 30, tzinfo=dt.UTC)
    event = AdverseEventInput(
        pid, "Hematoma", 3, True, ONSET, related_procedure=Relatedness.DEFINITE, onset_at=onset_at
    )
    ae_id = report_adverse_event(engine, seed_protocol, event, user=COORDINATOR)
    mild = AdverseEventInput(pid, "Fever", 1, False, ONSET)
    mild_id = report_adverse_event(engine, seed_protocol, mild, user=COORDINATOR)
    with Session(engine) as session:
        serious = session.get_one(AdverseEvent, ae_id)
        assert serious.expedited_report_due_at == dt.datetime(2025, 10, 17, 14, 30, tzinfo=dt.UTC)
        assert serious.expected
        assert session.get_one(AdverseEvent, mild_id).expedited_report_due_at is None


def test_serious_ae_without_time_is_due_24h_after_onset_day_start(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    event = AdverseEventInput(pid, "Pulmonary embolism", 4, True, ONSET)
    ae_id = report_adverse_event(engine, seed_protocol, event, user=COORDINATOR)
    with Session(engine) as session:
        row = session.get_one(AdverseEvent, ae_id)
        assert row.expedited_report_due_at == dt.datetime(2025, 10, 17, tzinfo=dt.UTC)
        assert not row.expected
    with pytest.raises(RuleViolation, match="mark it serious"):
        report_adverse_event(
            engine,
            seed_protocol,
            AdverseEventInput(pid, "Sepsis", 4, False, ONSET),
            user=COORDINATOR,
        )


def test_withdrawal_and_deviation(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    deviation = DeviationInput(ONSET, "visit window", "scan 3 days late", participant_id=pid)
    record_deviation(engine, deviation, user=COORDINATOR)
    withdrawal = WithdrawalInput(pid, ONSET, "participant", "moved to another city")
    withdraw(engine, withdrawal, user=COORDINATOR)
    with Session(engine) as session:
        assert session.get_one(Participant, pid).status == "withdrawn"
    with pytest.raises(RuleViolation, match="withdrawn"):
        withdraw(engine, withdrawal, user=COORDINATOR)


def test_query_workflow(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    query_id = open_query(
        engine, QueryInput("participants", pid, "status", "source document?"), user=MONITOR
    )
    answer_query(engine, query_id, answer="checked against the CRF", user=COORDINATOR)
    with pytest.raises(RuleViolation, match="only open"):
        answer_query(engine, query_id, answer="again", user=COORDINATOR)
    close_query(engine, query_id, user=MONITOR)
    with pytest.raises(RuleViolation, match="already closed"):
        close_query(engine, query_id, user=MONITOR)
    with Session(engine) as session:
        row = session.get_one(DataQuery, query_id)
        assert (row.status, row.answered_by, row.opened_by) == (
            QueryStatus.CLOSED,
            COORDINATOR,
            MONITOR,
        )
        assert row.answered_at is not None and row.closed_at is not None
    assert list_queries(engine, status=QueryStatus.OPEN) == []


def test_lock_refuses_writes_until_unlocked(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    with pytest.raises(PermissionDenied, match="investigator"):
        lock_participant(engine, pid, user=COORDINATOR)
    lock_participant(engine, pid, user=INVESTIGATOR)
    assert is_locked(engine, pid)
    scan = UltrasoundInput(pid, dt.date(2025, 10, 14), 6.0)
    with pytest.raises(LockedError, match="locked"):
        record_ultrasound(engine, seed_protocol, scan, user=COORDINATOR)
    with pytest.raises(LockedError):
        report_adverse_event(
            engine,
            seed_protocol,
            AdverseEventInput(pid, "Fever", 1, False, ONSET),
            user=COORDINATOR,
        )
    with pytest.raises(RuleViolation, match="reason"):
        unlock_participant(engine, pid, reason=" ", user=INVESTIGATOR)
    unlock_participant(engine, pid, reason="late scan to enter", user=INVESTIGATOR)
    record_ultrasound(engine, seed_protocol, scan, user=COORDINATOR)
    lock_participant(engine, pid, user=INVESTIGATOR)
    assert is_locked(engine, pid)


def test_queries_name_a_real_field_and_block_sign_off_until_closed(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    with pytest.raises(RuleViolation, match="no trial table 'patients'"):
        open_query(engine, QueryInput("patients", pid, "status", "?"), user=MONITOR)
    with pytest.raises(RuleViolation, match="no field 'colour'"):
        open_query(engine, QueryInput("participants", pid, "colour", "?"), user=MONITOR)
    with pytest.raises(NotFoundError, match="#999"):
        open_query(engine, QueryInput("participants", 999, "status", "?"), user=MONITOR)
    query_id = open_query(
        engine, QueryInput("participants", pid, "status", "source document?"), user=MONITOR
    )
    assert [q.id for q in participant_queries(engine, pid)] == [query_id]
    with pytest.raises(RuleViolation, match=rf"unresolved queries #{query_id}"):
        lock_participant(engine, pid, user=INVESTIGATOR)
    answer_query(engine, query_id, answer="checked", user=COORDINATOR)
    with pytest.raises(RuleViolation, match="answered"):
        lock_participant(engine, pid, user=INVESTIGATOR)
    close_query(engine, query_id, user=MONITOR)
    lock_participant(engine, pid, user=INVESTIGATOR)
    with pytest.raises(LockedError):
        open_query(engine, QueryInput("participants", pid, "arm", "?"), user=MONITOR)


def test_locked_data_takes_no_new_query_on_any_of_her_records(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """An edit-check query is answered and closed, the data signed off; a question on one of
    her records (here a scan) is then refused until an investigator unlocks her data."""
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    scan = UltrasoundInput(pid, dt.date(2025, 10, 14), 60.0)
    scan_id = record_ultrasound(engine, seed_protocol, scan, user=COORDINATOR)
    (query,) = participant_queries(engine, pid)
    assert (query.entity, query.row_id) == ("ultrasounds", str(scan_id))
    answer_query(engine, query.id, answer="confirmed on the source images", user=COORDINATOR)
    close_query(engine, query.id, user=MONITOR)
    lock_participant(engine, pid, user=INVESTIGATOR)
    question = QueryInput("ultrasounds", scan_id, "thickness_mm", "really 60 mm?")
    with pytest.raises(LockedError, match="locked"):
        open_query(engine, question, user=MONITOR)
    unlock_participant(engine, pid, reason="monitor's question", user=INVESTIGATOR)
    assert open_query(engine, question, user=MONITOR) > query.id


def test_a_legacy_query_on_no_trial_table_holds_up_no_sign_off(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """A query stored before queries had to name a real table (here 'consent') is on no one's
    record: it does not block an unrelated participant's sign-off."""
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    with unit_of_work(engine, user="migration") as session:
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
    assert participant_queries(engine, pid) == []
    lock_participant(engine, pid, user=INVESTIGATOR)
    assert is_locked(engine, pid)
