"""Scheduled visits no other record fulfils (the post-procedure safety visit, the pregnancy
follow-ups): recorded once each, audited, checked as the other records are; her timeline
counts them done, out of window or missed instead of overdue for ever."""

import datetime as dt

import pytest
from services_helpers import (
    COORDINATOR,
    DAY_10,
    INVESTIGATOR,
    RADIOLOGIST,
    SCREENED_ON,
    Trial,
    allocated,
    audit_rows,
    infusion,
    queries,
    refused,
    set_up_trial,
    sign_off,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from two_sites import add_site_b

from endotrial.protocol import Protocol
from endotrial.services import (
    CorrectionInput,
    EventState,
    LockedError,
    NotFoundError,
    PermissionDenied,
    VisitInput,
    WithdrawalInput,
    correct_record,
    dry_run,
    lock_participant,
    participant_timeline,
    record_procedure,
    record_visit,
    withdraw,
)
from endotrial.store import Visit

DAY = dt.timedelta(days=1)
#: The infusion is on DAY_10; the safety visit is planned 7 days later, window -2/+2 days.
VISIT_DAY = DAY_10 + 7 * DAY
VISIT = "post_procedure_visit"


@pytest.fixture
def trial(engine: Engine, seed_protocol: Protocol) -> Trial:
    return set_up_trial(engine, seed_protocol)


def _infused(trial: Trial) -> int:
    pid = allocated(trial, "c1", "hbmsc")
    record_procedure(trial.study, trial.actor(RADIOLOGIST), infusion(pid, 58_000_000))
    return pid


def _visit(
    trial: Trial, pid: int, on: dt.date, *, attended: bool = True, notes: str | None = None
) -> int:
    visit = VisitInput(
        participant_id=pid, event_id=VISIT, visit_date=on, attended=attended, notes=notes
    )
    return record_visit(trial.study, trial.actor(COORDINATOR), visit)


def _state(trial: Trial, pid: int, event_id: str, on: dt.date) -> tuple[EventState, object]:
    timeline = participant_timeline(trial.study, trial.actor(COORDINATOR), pid, on=on)
    (event,) = [e for e in timeline.events if e.event_id == event_id]
    return event.state, event.done_on


def test_a_visit_in_its_window_is_stored_and_done(trial: Trial) -> None:
    pid = _infused(trial)
    later = VISIT_DAY + 30 * DAY
    assert _state(trial, pid, VISIT, later) == (EventState.OVERDUE, None)  # before: for ever
    visit_id = _visit(trial, pid, VISIT_DAY, notes="puncture site clean")
    with Session(trial.engine) as session:
        row = session.get_one(Visit, visit_id)
        stored = (row.participant_id, row.event_id, row.visit_date, row.attended, row.notes)
    assert stored == (pid, VISIT, VISIT_DAY, True, "puncture site clean")
    assert _state(trial, pid, VISIT, later) == (EventState.DONE, VISIT_DAY)
    assert not queries(trial, entity="visits")


def test_a_visit_out_of_its_window_opens_a_query_and_shows_so(trial: Trial) -> None:
    pid = _infused(trial)
    late = VISIT_DAY + 5 * DAY  # window ends 2 days after the planned day
    visit_id = _visit(trial, pid, late)
    (query,) = queries(trial, entity="visits")
    assert (query.row_id, query.field) == (str(visit_id), "visit_date")
    assert "outside the window" in query.text
    assert _state(trial, pid, VISIT, late + DAY) == (EventState.OUT_OF_WINDOW, late)


def test_a_missed_visit_is_missed_not_overdue_and_opens_no_query(trial: Trial) -> None:
    pid = _infused(trial)
    found_missed = VISIT_DAY + 6 * DAY
    _visit(trial, pid, found_missed, attended=False, notes="did not come; unreachable")
    assert _state(trial, pid, VISIT, found_missed + DAY) == (EventState.MISSED, None)
    assert not queries(trial, entity="visits")


def test_a_follow_up_of_either_arm_is_recorded(trial: Trial) -> None:
    pid = allocated(trial, "c1", "control")
    visit = VisitInput(participant_id=pid, event_id="pregnancy_28_weeks", visit_date=DAY_10)
    assert record_visit(trial.study, trial.actor(INVESTIGATOR), visit) > 0


@pytest.mark.parametrize(
    ("event_id", "service"),
    [
        ("baseline_ultrasound", "record_ultrasound"),
        ("beta_hcg", "record_outcome"),
        ("embryo_transfer", "record_transfer"),
        ("hbmsc_infusion", "record_procedure"),
        ("tx_dydrogesterone_start", "record_medication"),
        ("transfer_cycle_start", "start_cycle"),
    ],
)
def test_an_event_another_service_records_is_refused_naming_it(
    trial: Trial, event_id: str, service: str
) -> None:
    pid = _infused(trial)
    before = audit_rows(trial.engine)
    visit = VisitInput(participant_id=pid, event_id=event_id, visit_date=VISIT_DAY)
    with refused("visit.recorded_elsewhere", field="event_id") as caught:
        record_visit(trial.study, trial.actor(COORDINATOR), visit)
    assert service in str(caught.value) and VISIT in str(caught.value)
    assert audit_rows(trial.engine) == before


def test_an_event_not_of_her_arm_and_a_second_record_are_refused(trial: Trial) -> None:
    control = allocated(trial, "c2", "control")
    with refused("visit.no_such_event", field="event_id") as caught:
        _visit(trial, control, VISIT_DAY)  # the safety visit is the stem-cell arm's only
    assert "delivery_follow_up" in str(caught.value)
    pid = _infused(trial)
    _visit(trial, pid, VISIT_DAY)
    before = audit_rows(trial.engine)
    with refused("visit.already", field="event_id") as caught:
        _visit(trial, pid, VISIT_DAY + DAY)
    assert str(VISIT_DAY) in str(caught.value)
    assert audit_rows(trial.engine) == before


def test_dates_are_checked_as_every_record_s(trial: Trial) -> None:
    pid = _infused(trial)
    with refused("date.future", field="visit_date"):
        _visit(trial, pid, dt.date.today() + 3 * DAY)
    with refused("date.before_enrolment", field="visit_date"):
        _visit(trial, pid, SCREENED_ON - DAY)


def test_locked_withdrawn_other_site_and_other_roles_are_refused(trial: Trial) -> None:
    pid = _infused(trial)
    with pytest.raises(PermissionDenied):
        visit = VisitInput(participant_id=pid, event_id=VISIT, visit_date=VISIT_DAY)
        record_visit(trial.study, trial.actor(RADIOLOGIST), visit)
    site_b = add_site_b(trial)
    with pytest.raises(NotFoundError):
        record_visit(trial.study, site_b.coordinator, visit)
    withdrawal = WithdrawalInput(
        participant_id=pid, withdrawn_on=VISIT_DAY, initiated_by="participant",
        reason="moved to another city", data_use_allowed=False,
    )  # fmt: skip
    withdraw(trial.study, trial.actor(COORDINATOR), withdrawal)
    with refused("record.withdrawn"):
        _visit(trial, pid, VISIT_DAY)
    other = allocated(trial, "c2", "hbmsc")
    lock_participant(trial.study, trial.actor(INVESTIGATOR), sign_off(other))
    with pytest.raises(LockedError):
        _visit(trial, other, VISIT_DAY)


def test_a_corrected_date_out_of_window_opens_a_query(trial: Trial) -> None:
    pid = _infused(trial)
    visit_id = _visit(trial, pid, VISIT_DAY)
    correction = CorrectionInput(
        record="visit", record_id=visit_id, field="visit_date", new_value=VISIT_DAY + 4 * DAY,
        reason="the date was copied from the wrong line of the clinic log",
    )  # fmt: skip
    correct_record(trial.study, trial.actor(COORDINATOR), correction)
    (query,) = queries(trial, entity="visits")
    assert query.field == "visit_date"


def test_a_dry_run_shows_the_visit_and_its_query_and_writes_nothing(trial: Trial) -> None:
    pid = _infused(trial)
    before = audit_rows(trial.engine)
    visit = VisitInput(participant_id=pid, event_id=VISIT, visit_date=VISIT_DAY + 5 * DAY)
    rehearsed = dry_run(record_visit, trial.study, trial.actor(COORDINATOR), visit)
    assert rehearsed.accepted and rehearsed.changed("visits", "event_id")
    assert [(q.table, q.field, q.check) for q in rehearsed.queries] == [
        ("visits", "visit_date", "visit_window")
    ]
    assert audit_rows(trial.engine) == before
