"""Issue 8, finding 1: the read side. Every read is authorised by role, limited to the reader's
sites (counts included), returns frozen values holding no ORM object, and a participant's
timeline gives each scheduled event its state as she is followed through the schedule."""

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from services_helpers import (
    COORDINATOR,
    DAY_10,
    INVESTIGATOR,
    MONITOR,
    SCREENED_ON,
    TEAM,
    TRANSFER_CYCLE_START,
    TREATMENT_START,
    Trial,
    allocated,
    audit_rows,
    infusion,
    refused,
    screened,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine
from two_sites import SITE_B_COORDINATOR, SiteB, add_site_b, screen_at

from endotrial.protocol import Protocol
from endotrial.services import (
    PERMISSIONS,
    Actor,
    AdverseEventInput,
    AllocationInput,
    ConsentInput,
    CycleStartInput,
    EnrolmentInput,
    EventState,
    MedicationInput,
    NotFoundError,
    Operation,
    PermissionDenied,
    QueryInput,
    SiteInput,
    Timeline,
    TransferInput,
    UltrasoundInput,
    WithdrawalInput,
    add_site,
    adverse_events,
    allocate,
    dashboard,
    data_queries,
    enrol,
    list_queries,
    medication,
    my_account,
    open_query,
    outcome_measures,
    participant_page,
    participant_queries,
    participant_records,
    participant_summary,
    participant_timeline,
    participants,
    record_consent,
    record_medication,
    record_procedure,
    record_transfer,
    record_ultrasound,
    report_adverse_event,
    safety_monitoring,
    screening_log,
    start_cycle,
    team,
    visits_due,
    withdraw,
)
from endotrial.store import Audited, Role

DAY = dt.timedelta(days=1)
#: The reads added by the read side, with one call each (the participant's id given).
Read = Callable[[Trial, Actor, int], object]
READS: dict[Operation, tuple[Read, ...]] = {
    Operation.READ_PARTICIPANTS: (
        lambda t, a, pid: participant_summary(t.study, a, pid),
        lambda t, a, pid: participant_timeline(t.study, a, pid),
        lambda t, a, pid: participants(t.study, a),
        lambda t, a, pid: participant_records(t.study, a, pid),
        lambda t, a, pid: outcome_measures(t.study, a, pid),
        lambda t, a, pid: participant_page(t.study, a, pid),
    ),
    Operation.READ_SCREENING_LOG: (lambda t, a, pid: screening_log(t.study, a),),
    Operation.READ_ADVERSE_EVENTS: (lambda t, a, pid: adverse_events(t.study, a),),
    Operation.READ_MEDICATION: (lambda t, a, pid: medication(t.study, a, pid),),
    Operation.READ_VISITS_DUE: (lambda t, a, pid: visits_due(t.study, a),),
    Operation.READ_DASHBOARD: (lambda t, a, pid: dashboard(t.study, a),),
    Operation.READ_SAFETY_MONITORING: (lambda t, a, pid: safety_monitoring(t.study, a),),
    Operation.READ_TEAM: (lambda t, a, pid: team(t.study, a),),
    Operation.READ_OWN_ACCOUNT: (lambda t, a, pid: my_account(t.study, a),),
    Operation.READ_QUERIES: (
        lambda t, a, pid: data_queries(t.study, a),
        lambda t, a, pid: list_queries(t.study, a),
        lambda t, a, pid: participant_queries(t.study, a, pid),
    ),
}


def _followed(trial: Trial, ref: str = "c1", arm: str = "hbmsc") -> int:
    """A participant in the stem-cell arm with a scan, an infusion, medication and an AE."""
    pid = allocated(trial, ref, arm)
    coordinator = trial.actor(COORDINATOR)
    scan = UltrasoundInput(
        participant_id=pid,
        scan_date=TREATMENT_START + 8 * DAY,
        thickness_mm=5.5,
        event_id="baseline_ultrasound",
    )
    record_ultrasound(trial.study, coordinator, scan)
    if arm == "hbmsc":
        record_procedure(trial.study, trial.actor(INVESTIGATOR), infusion(pid, 58_000_000))
    course = MedicationInput(
        participant_id=pid,
        regimen_id="tx_estradiol_valerate",
        taken_on=TREATMENT_START + 27 * DAY,
        doses_taken=56,
        days=28,
    )
    record_medication(trial.study, coordinator, course)
    event = AdverseEventInput(
        participant_id=pid, term="Hematoma", ctcae_grade=3, serious=True, onset_date=DAY_10
    )
    report_adverse_event(trial.study, coordinator, event)
    return pid


# --------------------------------------------------------------------------- role x read


def test_every_read_operation_is_in_the_matrix() -> None:
    reads = {o for o in Operation if o.name.startswith("READ_")}
    assert reads - {Operation.READ_TRIAL_DATA, Operation.READ_IDENTITY} == set(READS)


@pytest.mark.parametrize("operation", list(READS), ids=[o.name.lower() for o in READS])
def test_each_read_is_done_by_exactly_the_roles_allowed(
    engine: Engine, seed_protocol: Protocol, operation: Operation
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = _followed(trial)
    before = audit_rows(engine)
    for role, username in TEAM.items():
        actor = trial.actor(username)
        for read in READS[operation]:
            if role in PERMISSIONS[operation]:
                read(trial, actor, pid)
            else:
                with refused("auth.role", kind=PermissionDenied) as caught:
                    read(trial, actor, pid)
                assert str(operation) in str(caught.value)
    assert audit_rows(engine) == before, "a read wrote something"


def test_the_read_roles_follow_the_documented_choice() -> None:
    """The statistician and the safety board read no participant's page; the safety board
    reads the adverse events; the cell lab plans from the visits due; everyone reads the
    dashboard."""
    for operation in (Operation.READ_PARTICIPANTS, Operation.READ_MEDICATION):
        assert not PERMISSIONS[operation] & {Role.STATISTICIAN, Role.SAFETY_BOARD, Role.CELL_LAB}
    assert Role.SAFETY_BOARD in PERMISSIONS[Operation.READ_ADVERSE_EVENTS]
    assert Role.STATISTICIAN not in PERMISSIONS[Operation.READ_ADVERSE_EVENTS]
    assert Role.CELL_LAB in PERMISSIONS[Operation.READ_VISITS_DUE]
    assert PERMISSIONS[Operation.READ_SCREENING_LOG] == {
        Role.INVESTIGATOR,
        Role.COORDINATOR,
        Role.MONITOR,
    }
    assert PERMISSIONS[Operation.READ_DASHBOARD] == frozenset(Role)
    # The comparative interim safety analysis is the safety board's (with the statistician who
    # prepares it and the investigator who answers for safety), not the monitor's.
    assert PERMISSIONS[Operation.READ_SAFETY_MONITORING] == {
        Role.SAFETY_BOARD,
        Role.STATISTICIAN,
        Role.INVESTIGATOR,
    }
    # The team (accounts, roles, sites) is the investigator's to manage, no one else's.
    assert PERMISSIONS[Operation.READ_TEAM] == {Role.INVESTIGATOR}
    for operation in set(READS) - {Operation.READ_SAFETY_MONITORING, Operation.READ_TEAM}:
        assert Role.MONITOR in PERMISSIONS[operation]


# --------------------------------------------------------------------------- sites


def _site_b_participant(trial: Trial, site_b: SiteB) -> int:
    screening_id = screen_at(trial, site_b.coordinator, site_b.site_id, "b1")
    consent = ConsentInput(
        screening_id=screening_id,
        form_version="v1.0",
        consent_date=SCREENED_ON,
        taken_by=SITE_B_COORDINATOR,
    )
    pid = record_consent(trial.study, site_b.coordinator, consent)
    enrolment = EnrolmentInput(screening_id=screening_id, enrolled_on=SCREENED_ON)
    enrol(trial.study, site_b.coordinator, enrolment)
    basis = "participant preference; fit for the procedure"
    allocation = AllocationInput(
        participant_id=pid, arm="control", basis=basis, allocated_on=SCREENED_ON
    )
    allocate(trial.study, site_b.investigator, allocation)
    start = CycleStartInput(participant_id=pid, cycle="treatment", start_date=TREATMENT_START)
    start_cycle(trial.study, site_b.coordinator, start)
    return pid


@pytest.fixture
def two_sites(engine: Engine, seed_protocol: Protocol) -> tuple[Trial, SiteB, int, int]:
    """Site A (GZ6) with a followed participant, an ineligible candidate and a query; site B
    (SZ2) with one participant of its own."""
    trial = set_up_trial(engine, seed_protocol)
    site_b = add_site_b(trial)
    pid_a = _followed(trial)
    screened(trial, "c2", age_years=45)
    question = QueryInput(entity="participants", row_id=pid_a, field="status", text="source?")
    open_query(trial.study, trial.actor(MONITOR), question)
    pid_b = _site_b_participant(trial, site_b)
    return trial, site_b, pid_a, pid_b


def test_a_site_reads_only_its_own_participants(
    two_sites: tuple[Trial, SiteB, int, int],
) -> None:
    trial, site_b, pid_a, pid_b = two_sites
    for reader in (site_b.coordinator, site_b.monitor):
        assert [s.participant_id for s in participants(trial.study, reader)] == [pid_b]
        for read in (participant_summary, participant_timeline, participant_page, medication):
            with refused("record.not_found", kind=NotFoundError) as caught:
                read(trial.study, reader, pid_a)
            assert "GZ6" not in str(caught.value)
        with refused("record.not_found", kind=NotFoundError):
            adverse_events(trial.study, reader, participant_id=pid_a)
        with refused("record.not_found", kind=NotFoundError):
            data_queries(trial.study, reader, participant_id=pid_a)
        with refused("record.not_found", kind=NotFoundError):
            participant_queries(trial.study, reader, pid_a)
    assert participant_summary(trial.study, site_b.coordinator, pid_b).site_code == "SZ2"
    site_a = {s.participant_id for s in participants(trial.study, trial.actor(COORDINATOR))}
    assert site_a == {pid_a}
    everyone = participants(trial.study, trial.actor(INVESTIGATOR))  # central
    assert {s.participant_id for s in everyone} == {pid_a, pid_b}


def test_a_site_sees_only_its_own_log_events_queries_and_visits(
    two_sites: tuple[Trial, SiteB, int, int],
) -> None:
    trial, site_b, pid_a, pid_b = two_sites
    reader = site_b.coordinator
    assert {e.site_code for e in screening_log(trial.study, reader)} == {"SZ2"}
    assert len(screening_log(trial.study, reader)) == 1
    assert adverse_events(trial.study, reader) == ()
    assert data_queries(trial.study, reader) == ()
    assert list_queries(trial.study, site_b.monitor) == []
    on = TREATMENT_START + 40 * DAY
    assert {v.participant_id for v in visits_due(trial.study, reader, on=on)} == {pid_b}
    site_a = trial.actor(COORDINATOR)
    assert len(screening_log(trial.study, site_a)) == 2
    (own,) = screening_log(trial.study, reader)
    assert screening_log(trial.study, reader, screening_id=own.screening_id) == (own,)
    for other in screening_log(trial.study, site_a):  # one screening, asked by its id
        assert screening_log(trial.study, site_a, screening_id=other.screening_id) == (other,)
        assert screening_log(trial.study, reader, screening_id=other.screening_id) == ()
    assert [e.participant_id for e in adverse_events(trial.study, site_a)] == [pid_a]
    assert [q.participant_id for q in data_queries(trial.study, site_a)] == [pid_a]
    assert {v.participant_id for v in visits_due(trial.study, site_a, on=on)} == {pid_a}
    central = trial.actor(INVESTIGATOR)
    assert {v.site_code for v in visits_due(trial.study, central, on=on)} == {"GZ6", "SZ2"}


def test_a_sites_dashboard_counts_only_its_own_rows(
    two_sites: tuple[Trial, SiteB, int, int],
) -> None:
    trial, site_b, _pid_a, _pid_b = two_sites
    on = TREATMENT_START + 40 * DAY
    board_b = dashboard(trial.study, site_b.coordinator, on=on)
    assert [s.site_code for s in board_b.sites] == ["SZ2"]
    assert board_b.enrolled == 1 and board_b.total("screened") == 1
    assert [(a.arm, a.count) for a in board_b.enrolled_by_arm] == [("control", 1), ("hbmsc", 0)]
    assert board_b.total("open_queries") == 0 and board_b.serious_awaiting_report == ()
    assert board_b.total("adverse_events") == 0
    board_a = dashboard(trial.study, trial.actor(COORDINATOR), on=on)
    (site_a,) = board_a.sites
    assert (site_a.site_code, site_a.screened, site_a.eligible, site_a.enrolled) == (
        "GZ6", 2, 1, 1,
    )  # fmt: skip
    assert site_a.open_queries == 1 and site_a.serious_adverse_events == 1
    assert [e.term for e in board_a.serious_awaiting_report] == ["Hematoma"]
    central = dashboard(trial.study, trial.actor(INVESTIGATOR), on=on)
    assert [s.site_code for s in central.sites] == ["GZ6", "SZ2"]
    assert central.enrolled == 2 and central.enrolment_target == 60
    assert central.total("visits_overdue") == sum(
        b.total("visits_overdue") for b in (board_a, board_b)
    )


# --------------------------------------------------------------------------- frozen values


def _walk(value: object, path: str = "result") -> None:
    """Every value inside a read's result is immutable and no ORM object."""
    assert not isinstance(value, Audited), f"{path} is an ORM object"
    assert not isinstance(value, (list, dict, set, bytearray)), f"{path} is mutable"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        assert type(value).__dataclass_params__.frozen, f"{path} is not frozen"  # type: ignore[attr-defined]
        first = dataclasses.fields(value)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, first, None)
        for item in dataclasses.fields(value):
            _walk(getattr(value, item.name), f"{path}.{item.name}")
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]")
    else:
        plain = (str, int, float, bool, dt.date, dt.timedelta, enum.Enum, type(None))
        assert isinstance(value, plain), f"{path} is a {type(value).__name__}"


def test_results_are_frozen_and_hold_no_orm_object(
    two_sites: tuple[Trial, SiteB, int, int],
) -> None:
    trial, _site_b, pid_a, _pid_b = two_sites
    reader = trial.actor(INVESTIGATOR)
    on = TREATMENT_START + 40 * DAY
    results: list[Any] = [
        participant_summary(trial.study, reader, pid_a),
        participants(trial.study, reader),
        participant_timeline(trial.study, reader, pid_a, on=on),
        screening_log(trial.study, reader),
        adverse_events(trial.study, reader),
        medication(trial.study, reader, pid_a),
        visits_due(trial.study, reader, on=on),
        dashboard(trial.study, reader, on=on),
        data_queries(trial.study, reader),
    ]
    for result in results:
        assert result, f"{type(result).__name__} is empty: nothing was checked"
        _walk(result, type(result).__name__)


def test_the_screening_log_shows_pseudonyms_and_reasons_never_the_id_given(
    two_sites: tuple[Trial, SiteB, int, int],
) -> None:
    trial, _site_b, _pid_a, _pid_b = two_sites
    log = screening_log(trial.study, trial.actor(MONITOR))
    assert [e.decision.value for e in log] == ["eligible", "ineligible"]
    assert all(e.candidate not in ("C1", "C2") and len(e.candidate) >= 16 for e in log)
    assert log[0].study_id is not None and log[1].study_id is None
    (reason,) = log[1].reasons
    assert reason.outcome == "failed" and reason.kind == "inclusion" and "38" in reason.text
    ineligible = screening_log(trial.study, trial.actor(MONITOR), decision="ineligible")  # type: ignore[arg-type]
    assert [e.screening_id for e in ineligible] == [log[1].screening_id]


# --------------------------------------------------------------------------- her timeline


def _states(timeline: Timeline) -> dict[str, EventState]:
    return {e.event_id: e.state for e in timeline.events}


def test_the_timeline_follows_her_through_the_schedule(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc", start_treatment=False)
    reader = trial.actor(COORDINATOR)
    undated = participant_timeline(trial.study, reader, pid, on=TREATMENT_START)
    assert undated.events == () and undated.undated_because == "her first cycle has not started"
    start = CycleStartInput(participant_id=pid, cycle="treatment", start_date=TREATMENT_START)
    start_cycle(trial.study, reader, start)

    day_1 = _states(participant_timeline(trial.study, reader, pid, on=TREATMENT_START))
    assert day_1["treatment_cycle_start"] is EventState.DONE
    assert day_1["tx_estradiol_valerate_start"] is EventState.DUE  # day 1, not yet recorded
    assert day_1["baseline_ultrasound"] is EventState.NOT_YET_DUE
    assert day_1["hbmsc_infusion"] is EventState.NOT_YET_DUE

    day_9 = TREATMENT_START + 8 * DAY
    assert (
        _states(participant_timeline(trial.study, reader, pid, on=day_9))["baseline_ultrasound"]
        is EventState.DUE
    )
    scan = UltrasoundInput(
        participant_id=pid, scan_date=day_9, thickness_mm=5.2, event_id="baseline_ultrasound"
    )
    record_ultrasound(trial.study, reader, scan)
    record_procedure(trial.study, trial.actor(INVESTIGATOR), infusion(pid, 58_000_000))

    day_25 = TREATMENT_START + 24 * DAY
    timeline = participant_timeline(trial.study, reader, pid, on=day_25)
    states = _states(timeline)
    assert states["baseline_ultrasound"] is EventState.DONE
    for event_id in ("hbmsc_infusion", "iodine_allergy_test", "hbmsc_infusion_observation_end"):
        assert states[event_id] is EventState.DONE, event_id
    assert states["late_proliferative_ultrasound"] is EventState.OVERDUE  # window days 16-18
    assert states["post_procedure_visit"] is EventState.OVERDUE  # no record of the visit
    assert states["tx_dydrogesterone_start"] is EventState.OVERDUE  # day 19, nothing recorded
    assert states["transfer_cycle_start"] is EventState.NOT_YET_DUE
    event = next(e for e in timeline.events if e.event_id == "baseline_ultrasound")
    assert event.done_on == day_9 and event.record is not None and "ultrasounds" in event.record

    late = UltrasoundInput(
        participant_id=pid,
        scan_date=TREATMENT_START + 21 * DAY,  # day 22: four days after its window
        thickness_mm=6.9,
        event_id="late_proliferative_ultrasound",
    )
    record_ultrasound(trial.study, reader, late)
    course = MedicationInput(
        participant_id=pid,
        regimen_id="tx_estradiol_valerate",
        taken_on=TREATMENT_START + 27 * DAY,
        doses_taken=56,
        days=28,
    )
    record_medication(trial.study, reader, course)
    day_29 = TREATMENT_START + 28 * DAY
    states = _states(participant_timeline(trial.study, reader, pid, on=day_29))
    assert states["late_proliferative_ultrasound"] is EventState.OUT_OF_WINDOW
    assert states["tx_estradiol_valerate_start"] is EventState.DONE
    assert states["tx_estradiol_valerate_stop"] is EventState.DONE

    withdrawal = WithdrawalInput(
        participant_id=pid, withdrawn_on=day_29, initiated_by="participant", reason="moved away"
    )
    withdraw(trial.study, reader, withdrawal)
    later = participant_timeline(trial.study, reader, pid, on=day_29 + 60 * DAY)
    states = _states(later)
    assert states["transfer_cycle_start"] is EventState.NOT_APPLICABLE
    assert states["embryo_transfer"] is EventState.NOT_APPLICABLE
    assert states["late_proliferative_ultrasound"] is EventState.OUT_OF_WINDOW  # kept
    assert states["post_procedure_visit"] is EventState.OVERDUE  # missed before she left
    assert later.count(EventState.DUE) == 0


def test_a_drug_still_being_taken_is_not_stopped_yet(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """A first week of estradiol recorded: its start is done, its stop (day 28) is not, and
    the timeline does not read the week's last day as the stop."""
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    reader = trial.actor(COORDINATOR)
    week = MedicationInput(
        participant_id=pid,
        regimen_id="tx_estradiol_valerate",
        taken_on=TREATMENT_START + 6 * DAY,
        doses_taken=14,
        days=7,
    )
    record_medication(trial.study, reader, week)
    states = _states(participant_timeline(trial.study, reader, pid, on=TREATMENT_START + 7 * DAY))
    assert states["tx_estradiol_valerate_start"] is EventState.DONE
    assert states["tx_estradiol_valerate_stop"] is EventState.NOT_YET_DUE
    assert "hbmsc_infusion" not in states  # the control arm has no infusion


def test_visits_due_lists_what_is_due_overdue_and_coming(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    day_8 = TREATMENT_START + 7 * DAY
    due = visits_due(trial.study, trial.actor(COORDINATOR), on=day_8, within_days=2)
    by_event = {v.event_id: v.state for v in due}
    assert by_event["tx_estradiol_valerate_start"] is EventState.OVERDUE
    assert by_event["baseline_ultrasound"] is EventState.DUE  # day 9, window from day 8
    assert by_event["hbmsc_infusion"] is EventState.NOT_YET_DUE  # day 10, within 2 days
    assert "late_proliferative_ultrasound" not in by_event
    assert {v.participant_id for v in due} == {pid}
    assert [v.date for v in due] == sorted(v.date for v in due)
    with refused("input.invalid", field="within_days"):
        visits_due(trial.study, trial.actor(COORDINATOR), within_days=-1)
    with refused("input.invalid", field="on"):
        visits_due(trial.study, trial.actor(COORDINATOR), on="2025-10-01")  # type: ignore[arg-type]


def test_the_summary_counts_her_records(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = _followed(trial)
    summary = participant_summary(trial.study, trial.actor(MONITOR), pid)
    assert (summary.study_id, summary.site_code, summary.arm) == ("GZ6-001", "GZ6", "hbmsc")
    assert summary.status == "allocated" and summary.enrolled_on == SCREENED_ON
    assert summary.consented and summary.consents[0].form_version == "v1.0"
    assert [(c.cycle, c.start_date) for c in summary.cycles] == [("treatment", TREATMENT_START)]
    counts = summary.counts
    assert (counts.ultrasounds, counts.procedures, counts.medication_records) == (1, 1, 1)
    assert (counts.adverse_events, counts.serious_adverse_events) == (1, 1)
    assert not summary.locked and not summary.withdrawn
    (period,) = medication(trial.study, trial.actor(MONITOR), pid)
    assert (period.first_day, period.last_day) == (TREATMENT_START, TREATMENT_START + 27 * DAY)
    assert period.adherence_pct == 100.0
    (event,) = adverse_events(trial.study, trial.actor(MONITOR), participant_id=pid)
    now = dt.datetime.combine(DAY_10, dt.time(6), tzinfo=dt.UTC)
    (clocked,) = adverse_events(trial.study, trial.actor(MONITOR), now=now)
    assert clocked.report_time_left == dt.timedelta(hours=18)  # due 24 h after onset
    assert event.study_id == "GZ6-001" and event.serious


def test_a_cancelled_transfer_closes_what_hangs_from_it(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """Luteal support never started (the endometrium stayed thin) and the transfer was
    cancelled: neither, nor the pregnancy visits, are due any more."""
    trial = set_up_trial(engine, seed_protocol)
    pid = start_transfer_cycle(trial, allocated(trial, "c1", "control"))
    reader = trial.actor(COORDINATOR)
    scan_on = TRANSFER_CYCLE_START + 11 * DAY
    scan = UltrasoundInput(
        participant_id=pid, scan_date=scan_on, thickness_mm=5.1, event_id="transfer_ultrasound"
    )
    record_ultrasound(trial.study, reader, scan)
    on = scan_on + 30 * DAY
    before = _states(participant_timeline(trial.study, reader, pid, on=on))
    assert before["embryo_transfer"] is EventState.OVERDUE
    assert before["fet_luteal_dydrogesterone_start"] is EventState.OVERDUE
    cancelled = TransferInput(
        participant_id=pid, transfer_date=scan_on + 4 * DAY, cancel_reason="thin endometrium"
    )
    record_transfer(trial.study, reader, cancelled)
    after = _states(participant_timeline(trial.study, reader, pid, on=on))
    for event_id in ("embryo_transfer", "fet_luteal_dydrogesterone_start", "beta_hcg"):
        assert after[event_id] is EventState.NOT_APPLICABLE, event_id
    assert after["transfer_ultrasound"] is EventState.DONE


def test_a_scan_without_its_event_is_matched_by_kind_and_window(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """A scan saved without naming its visit (before records kept it) is the visit whose
    window holds it, or the one it is late for; an extra scan fulfils nothing."""
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    reader = trial.actor(COORDINATOR)
    for day in (12, 17, 23):  # baseline 3 days late, late-proliferative in window, an extra
        scan = UltrasoundInput(
            participant_id=pid, scan_date=TREATMENT_START + (day - 1) * DAY, thickness_mm=6.0
        )
        record_ultrasound(trial.study, reader, scan)
    timeline = participant_timeline(trial.study, reader, pid, on=TREATMENT_START + 25 * DAY)
    states = _states(timeline)
    assert states["baseline_ultrasound"] is EventState.OUT_OF_WINDOW
    assert states["late_proliferative_ultrasound"] is EventState.DONE
    assert len(timeline.unscheduled) == 1 and "ultrasounds" in timeline.unscheduled[0]


def _participant_at(trial: Trial, code: str, time_zone: str) -> int:
    """A participant of a new site in `time_zone`, entered by the central investigator."""
    pi = trial.actor(INVESTIGATOR)
    site_id = add_site(trial.study, pi, SiteInput(code=code, name=code, time_zone=time_zone))
    screening_id = screen_at(trial, pi, site_id, f"{code}-1")
    consent = ConsentInput(
        screening_id=screening_id,
        form_version="v1.0",
        consent_date=SCREENED_ON,
        taken_by=INVESTIGATOR,
    )
    pid = record_consent(trial.study, pi, consent)
    enrol(trial.study, pi, EnrolmentInput(screening_id=screening_id, enrolled_on=SCREENED_ON))
    allocation = AllocationInput(
        participant_id=pid, arm="control", basis="participant preference", allocated_on=SCREENED_ON
    )
    allocate(trial.study, pi, allocation)
    start = CycleStartInput(participant_id=pid, cycle="treatment", start_date=TREATMENT_START)
    start_cycle(trial.study, pi, start)
    return pid


def test_reads_are_as_of_each_sites_own_day(engine: Engine, seed_protocol: Protocol) -> None:
    """Two sites a day apart (UTC+14 and UTC-11): each participant's timeline, and the visits
    due, are as of her own site's calendar day."""
    trial = set_up_trial(engine, seed_protocol)
    zones = {"EAST": "Pacific/Kiritimati", "WEST": "Pacific/Pago_Pago"}
    pids = {code: _participant_at(trial, code, zone) for code, zone in zones.items()}
    pi = trial.actor(INVESTIGATOR)
    for code, zone in zones.items():
        before = dt.datetime.now(ZoneInfo(zone)).date()
        timeline = participant_timeline(trial.study, pi, pids[code])
        after = dt.datetime.now(ZoneInfo(zone)).date()
        assert timeline.on in (before, after), code
    days = {code: participant_timeline(trial.study, pi, pid).on for code, pid in pids.items()}
    assert days["EAST"] > days["WEST"]
