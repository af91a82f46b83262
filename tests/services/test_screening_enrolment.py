"""Screening log, consent, enrolment and allocation rules."""

import datetime as dt
import re

import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    SCREENED_ON,
    Trial,
    consented,
    eligible_items,
    enrolled,
    refused,
    screened,
    set_up_trial,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    AllocationInput,
    CandidateInput,
    ConsentInput,
    CycleStartInput,
    EnrolmentInput,
    InvalidInput,
    RuleViolation,
    allocate,
    enrol,
    record_consent,
    screen_many,
    start_cycle,
)
from endotrial.store import Participant, Screening, ScreeningDecision

BASIS = "participant preference; fit for the procedure"


def _enrol(trial: Trial, screening_id: int, enrolled_on: dt.date = SCREENED_ON) -> int:
    enrolment = EnrolmentInput(screening_id=screening_id, enrolled_on=enrolled_on)
    return enrol(trial.study, trial.actor(COORDINATOR), enrolment)


def _allocate(trial: Trial, participant_id: int, arm: str, on: dt.date = SCREENED_ON) -> int:
    allocation = AllocationInput(
        participant_id=participant_id, arm=arm, basis=BASIS, allocated_on=on
    )
    return allocate(trial.study, trial.actor(INVESTIGATOR), allocation)


def test_everyone_screened_is_logged_with_decision_and_reasons(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    candidates = [
        CandidateInput(candidate_ref="ok", items=eligible_items(), site_id=trial.site_id),
        CandidateInput(
            candidate_ref="old", items=eligible_items(age_years=41), site_id=trial.site_id
        ),
        CandidateInput(
            candidate_ref="partial",
            items={"screening_date": SCREENED_ON, "sex": "F"},
            site_id=trial.site_id,
        ),
    ]
    records = screen_many(trial.study, trial.actor(COORDINATOR), candidates)
    assert [r.decision for r in records] == [
        ScreeningDecision.ELIGIBLE,
        ScreeningDecision.INELIGIBLE,
        ScreeningDecision.INCOMPLETE,
    ]
    assert records[1].failed_criteria == ("I2",)
    assert "I5" in records[2].unknown_criteria
    assert {r.site_id for r in records} == {trial.site_id}
    with Session(engine) as session:
        log = session.scalars(select(Screening).order_by(Screening.id)).all()
    assert [r.candidate_ref for r in records] == ["OK", "OLD", "PARTIAL"]  # one spelling per id
    # The log keeps pseudonyms: a candidate id may be a hospital record number (sealed apart).
    assert all(re.fullmatch(r"C[0-9a-f]{24}", s.candidate_ref) for s in log)
    assert log[0].item_values["screening_date"] == "2025-10-01"
    assert {s.screened_by for s in log} == {COORDINATOR}


def test_unreadable_value_is_refused_and_nothing_stored(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    bad = CandidateInput(
        candidate_ref="bad", items=eligible_items(afc="many"), site_id=trial.site_id
    )
    with refused("input.candidate_values", kind=InvalidInput) as caught:
        screen_many(trial.study, trial.actor(COORDINATOR), [bad])
    assert "BAD" in str(caught.value) and "afc" in str(caught.value)
    with Session(engine) as session:
        assert session.scalars(select(Screening)).all() == []


def test_enrolment_without_consent_is_refused(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    screening_id = screened(trial, "c1")
    with refused("enrolment.no_consent", kind=RuleViolation) as caught:
        _enrol(trial, screening_id)
    assert "no signed consent" in str(caught.value)


def test_ineligible_candidate_is_not_enrolled(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    screening_id = screened(trial, "c1", hydrosalpinx=True)
    consented(trial, screening_id)
    with refused("enrolment.not_eligible", field="screening_id") as caught:
        _enrol(trial, screening_id)
    assert "E2" in caught.value.params["failed"]


def test_latest_screening_decides(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    first = screened(trial, "c1")
    consented(trial, first)
    screened(trial, "c1", active_pid=True)  # re-screened: now ineligible
    with refused("enrolment.not_eligible") as caught:
        _enrol(trial, first)
    assert "E5" in caught.value.params["failed"]


def test_enrolment_target_is_enforced(engine: Engine, seed_protocol: Protocol) -> None:
    identity = seed_protocol.identity.model_copy(update={"enrollment_target": 2})
    small = seed_protocol.model_copy(update={"identity": identity})
    trial = set_up_trial(engine, small)
    enrolled(trial, "c1")
    enrolled(trial, "c2")
    third = screened(trial, "c3")
    consented(trial, third)
    with refused("enrolment.target_reached") as caught:
        _enrol(trial, third)
    assert "target of 2" in str(caught.value)


def test_iodine_allergy_closes_the_stem_cell_arm_only(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    participant_id = enrolled(trial, "c1", iodine_allergy=True)
    with refused("allocation.arm_closed", field="arm") as caught:
        _allocate(trial, participant_id, "hbmsc")
    assert caught.value.params["closing"] == ["IODINE"]
    assert caught.value.params["open_arms"] == ["control"]
    _allocate(trial, participant_id, "control")
    with Session(engine) as session:
        participant = session.get_one(Participant, participant_id)
        assert (participant.arm, participant.status) == ("control", "allocated")


def test_allocation_needs_a_basis_and_enrolment(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    participant_id = consented(trial, screened(trial, "c1"))
    with refused("input.invalid", field="basis", kind=InvalidInput):
        AllocationInput(
            participant_id=participant_id, arm="control", basis=" ", allocated_on=SCREENED_ON
        )
    with refused("allocation.not_enrolled") as caught:
        _allocate(trial, participant_id, "control", dt.date(2025, 10, 2))
    assert "only an enrolled" in str(caught.value)


def test_enrolment_records_its_date_and_must_follow_consent(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    screening_id = screened(trial, "c1")
    consent_on = SCREENED_ON + dt.timedelta(days=2)
    consent = ConsentInput(
        screening_id=screening_id,
        form_version="v1.0",
        consent_date=consent_on,
        taken_by=COORDINATOR,
    )
    participant_id = record_consent(trial.study, trial.actor(COORDINATOR), consent)
    for wrong_day, code in (
        (SCREENED_ON - dt.timedelta(days=1), "enrolment.before_screening"),
        (consent_on - dt.timedelta(days=1), "enrolment.before_consent"),
        (dt.date.today() + dt.timedelta(days=3), "date.future"),
    ):
        with refused(code, field="enrolled_on"):
            _enrol(trial, screening_id, wrong_day)
    _enrol(trial, screening_id, consent_on)
    with Session(engine) as session:
        participant = session.get_one(Participant, participant_id)
        assert (participant.status, participant.enrolled_on) == ("enrolled", consent_on)


def test_windows_are_checked_again_on_the_enrolment_date(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """Serology 5 months old at screening is 7 months old two months later: the registry's
    'within 6 months' runs to enrolment, so enrolment is refused, naming I6."""
    trial = set_up_trial(engine, seed_protocol)
    serology_on = SCREENED_ON - dt.timedelta(days=150)
    screening_id = screened(trial, "c1", serology_date=serology_on)
    consented(trial, screening_id)
    two_months_later = SCREENED_ON + dt.timedelta(days=61)
    with refused("enrolment.lapsed", field="enrolled_on") as caught:
        _enrol(trial, screening_id, two_months_later)
    assert caught.value.params["lapsed"] == ["I6"]
    _enrol(trial, screening_id, SCREENED_ON + dt.timedelta(days=14))


def test_a_birthday_between_screening_and_enrolment_is_no_conflict(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """Typed age 30 and a birth date making her 31 by enrolment: the age is recomputed for the
    enrolment date, not reported as disagreeing with the typed one."""
    trial = set_up_trial(engine, seed_protocol)
    screening_id = screened(trial, "c1", age_years=30, birth_date=dt.date(1994, 10, 10))
    participant_id = consented(trial, screening_id)
    after_birthday = dt.date(2025, 10, 15)
    _enrol(trial, screening_id, after_birthday)
    with Session(engine) as session:
        assert session.get_one(Participant, participant_id).enrolled_on == after_birthday


def test_a_rescreening_after_consent_joins_her_record(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """Serology lapses by enrolment; she repeats it and is screened again: that screening
    joins her participant record, so she is enrolled on it, and its iodine allergy (found at
    the re-screening) closes the stem-cell arm."""
    trial = set_up_trial(engine, seed_protocol)
    first = screened(trial, "c1", serology_date=SCREENED_ON - dt.timedelta(days=150))
    participant_id = consented(trial, first)
    later = SCREENED_ON + dt.timedelta(days=61)
    with refused("enrolment.lapsed") as caught:
        _enrol(trial, first, later)
    assert caught.value.params["lapsed"] == ["I6"]
    again = screened(trial, "c1", screening_date=later, serology_date=later, iodine_allergy=True)
    _enrol(trial, again, later)
    with Session(engine) as session:
        assert session.get_one(Screening, again).participant_id == participant_id
    with refused("allocation.arm_closed"):
        _allocate(trial, participant_id, "hbmsc", later)


def test_screening_log_keeps_the_arms_left_open(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    allergic = screened(trial, "c1", iodine_allergy=True)
    fit = screened(trial, "c2")
    excluded = screened(trial, "c3", hydrosalpinx=True)
    with Session(engine) as session:
        stored = {s.id: s.eligible_arms for s in session.scalars(select(Screening))}
    assert stored == {allergic: ["control"], fit: ["control", "hbmsc"], excluded: []}


def test_allocation_and_treatment_follow_enrolment(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    screening_id = screened(trial, "c1")
    participant_id = consented(trial, screening_id)
    enrolled_on = SCREENED_ON + dt.timedelta(days=5)
    _enrol(trial, screening_id, enrolled_on)
    with refused("date.before_enrolment", field="allocated_on"):
        _allocate(trial, participant_id, "control", SCREENED_ON)
    _allocate(trial, participant_id, "control", enrolled_on)
    start = CycleStartInput(
        participant_id=participant_id, cycle="treatment", start_date=SCREENED_ON
    )
    with refused("date.before_enrolment", field="start_date"):
        start_cycle(trial.study, trial.actor(COORDINATOR), start)


def test_inputs_take_keywords_of_the_right_type_only(seed_protocol: Protocol) -> None:
    """A typed input is built by name; a value of the wrong type (a date as text, an id as
    text) is refused when the input is built, naming the field."""
    with pytest.raises(TypeError):
        EnrolmentInput(1, SCREENED_ON)  # type: ignore[misc]
    with refused("input.invalid", field="enrolled_on", kind=InvalidInput):
        EnrolmentInput(screening_id=1, enrolled_on="2025-10-01")  # type: ignore[arg-type]
    with refused("input.invalid", field="screening_id", kind=InvalidInput):
        EnrolmentInput(screening_id="1", enrolled_on=SCREENED_ON)  # type: ignore[arg-type]
