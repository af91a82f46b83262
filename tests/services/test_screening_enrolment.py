"""Screening log, consent, enrolment and allocation rules."""

import datetime as dt

import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    SCREENED_ON,
    consented,
    eligible_items,
    enrolled,
    screened,
    set_up_trial,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.errors import InputError
from endotrial.protocol import Protocol
from endotrial.services import (
    AllocationInput,
    CandidateInput,
    ConsentInput,
    RuleViolation,
    allocate,
    enrol,
    record_consent,
    screen_many,
    start_cycle,
)
from endotrial.store import Participant, Screening, ScreeningDecision


def test_everyone_screened_is_logged_with_decision_and_reasons(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    candidates = [
        CandidateInput("ok", eligible_items(), trial.site_id),
        CandidateInput("old", eligible_items(age_years=41), trial.site_id),
        CandidateInput("partial", {"screening_date": SCREENED_ON, "sex": "F"}, trial.site_id),
    ]
    records = screen_many(engine, seed_protocol, candidates, user=COORDINATOR)
    assert [r.decision for r in records] == [
        ScreeningDecision.ELIGIBLE,
        ScreeningDecision.INELIGIBLE,
        ScreeningDecision.INCOMPLETE,
    ]
    assert records[1].failed_criteria == ("I2",)
    assert "I5" in records[2].unknown_criteria
    with Session(engine) as session:
        log = session.scalars(select(Screening).order_by(Screening.id)).all()
    assert [s.candidate_ref for s in log] == ["ok", "old", "partial"]
    assert log[0].item_values["screening_date"] == "2025-10-01"


def test_unreadable_value_is_refused_and_nothing_stored(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    bad = CandidateInput("bad", eligible_items(afc="many"), trial.site_id)
    with pytest.raises(InputError, match="bad"):
        screen_many(engine, seed_protocol, [bad], user=COORDINATOR)
    with Session(engine) as session:
        assert session.scalars(select(Screening)).all() == []


def test_enrolment_without_consent_is_refused(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    screening_id = screened(trial, "c1")
    with pytest.raises(RuleViolation, match="no signed consent"):
        enrol(
            engine,
            seed_protocol,
            screening_id=screening_id,
            enrolled_on=SCREENED_ON,
            user=COORDINATOR,
        )


def test_ineligible_candidate_is_not_enrolled(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    screening_id = screened(trial, "c1", hydrosalpinx=True)
    consented(trial, screening_id)
    with pytest.raises(RuleViolation, match=r"not eligible.*E2"):
        enrol(
            engine,
            seed_protocol,
            screening_id=screening_id,
            enrolled_on=SCREENED_ON,
            user=COORDINATOR,
        )


def test_latest_screening_decides(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    first = screened(trial, "c1")
    consented(trial, first)
    screened(trial, "c1", active_pid=True)  # re-screened: now ineligible
    with pytest.raises(RuleViolation, match="not eligible"):
        enrol(engine, seed_protocol, screening_id=first, enrolled_on=SCREENED_ON, user=COORDINATOR)


def test_enrolment_target_is_enforced(engine: Engine, seed_protocol: Protocol) -> None:
    identity = seed_protocol.identity.model_copy(update={"enrollment_target": 2})
    small = seed_protocol.model_copy(update={"identity": identity})
    trial = set_up_trial(engine, small)
    enrolled(trial, "c1")
    enrolled(trial, "c2")
    third = screened(trial, "c3")
    consented(trial, third)
    with pytest.raises(RuleViolation, match="target of 2"):
        enrol(engine, small, screening_id=third, enrolled_on=SCREENED_ON, user=COORDINATOR)


def test_iodine_allergy_closes_the_stem_cell_arm_only(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    participant_id = enrolled(trial, "c1", iodine_allergy=True)
    basis = "preference"
    with pytest.raises(RuleViolation, match=r"arm 'hbmsc' is closed.*IODINE"):
        allocate(
            engine,
            seed_protocol,
            AllocationInput(participant_id, "hbmsc", basis, SCREENED_ON),
            user=INVESTIGATOR,
        )
    allocate(
        engine,
        seed_protocol,
        AllocationInput(participant_id, "control", basis, SCREENED_ON),
        user=INVESTIGATOR,
    )
    with Session(engine) as session:
        participant = session.get_one(Participant, participant_id)
        assert (participant.arm, participant.status) == ("control", "allocated")


def test_allocation_needs_a_basis_and_enrolment(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    participant_id = consented(trial, screened(trial, "c1"))
    with pytest.raises(RuleViolation, match="basis"):
        allocate(
            engine,
            seed_protocol,
            AllocationInput(participant_id, "control", " ", dt.date(2025, 10, 2)),
            user=INVESTIGATOR,
        )
    with pytest.raises(RuleViolation, match="only an enrolled"):
        allocate(
            engine,
            seed_protocol,
            AllocationInput(participant_id, "control", "preference", dt.date(2025, 10, 2)),
            user=INVESTIGATOR,
        )


def test_enrolment_records_its_date_and_must_follow_consent(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    screening_id = screened(trial, "c1")
    consent_on = SCREENED_ON + dt.timedelta(days=2)
    consent = ConsentInput(screening_id, "v1.0", consent_on, COORDINATOR)
    participant_id = record_consent(engine, consent, user=COORDINATOR)
    for wrong_day, problem in (
        (SCREENED_ON - dt.timedelta(days=1), "before her screening"),
        (consent_on - dt.timedelta(days=1), "before her consent"),
        (dt.date.today() + dt.timedelta(days=3), "in the future"),
    ):
        with pytest.raises(RuleViolation, match=problem):
            enrol(
                engine,
                seed_protocol,
                screening_id=screening_id,
                enrolled_on=wrong_day,
                user=COORDINATOR,
            )
    enrolled_on = consent_on
    enrol(
        engine, seed_protocol, screening_id=screening_id, enrolled_on=enrolled_on, user=COORDINATOR
    )
    with Session(engine) as session:
        participant = session.get_one(Participant, participant_id)
        assert (participant.status, participant.enrolled_on) == ("enrolled", enrolled_on)


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
    with pytest.raises(RuleViolation, match=r"no longer meets \['I6'\]"):
        enrol(
            engine,
            seed_protocol,
            screening_id=screening_id,
            enrolled_on=two_months_later,
            user=COORDINATOR,
        )
    enrol(
        engine,
        seed_protocol,
        screening_id=screening_id,
        enrolled_on=SCREENED_ON + dt.timedelta(days=14),
        user=COORDINATOR,
    )


def test_a_birthday_between_screening_and_enrolment_is_no_conflict(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """Typed age 30 and a birth date making her 31 by enrolment: the age is recomputed for the
    enrolment date, not reported as disagreeing with the typed one."""
    trial = set_up_trial(engine, seed_protocol)
    screening_id = screened(trial, "c1", age_years=30, birth_date=dt.date(1994, 10, 10))
    participant_id = consented(trial, screening_id)
    after_birthday = dt.date(2025, 10, 15)
    enrol(
        engine,
        seed_protocol,
        screening_id=screening_id,
        enrolled_on=after_birthday,
        user=COORDINATOR,
    )
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
    with pytest.raises(RuleViolation, match=r"no longer meets \['I6'\]"):
        enrol(engine, seed_protocol, screening_id=first, enrolled_on=later, user=COORDINATOR)
    again = screened(trial, "c1", screening_date=later, serology_date=later, iodine_allergy=True)
    enrol(engine, seed_protocol, screening_id=again, enrolled_on=later, user=COORDINATOR)
    with Session(engine) as session:
        assert session.get_one(Screening, again).participant_id == participant_id
    allocation = AllocationInput(participant_id, "hbmsc", "preference", later)
    with pytest.raises(RuleViolation, match="arm 'hbmsc' is closed"):
        allocate(engine, seed_protocol, allocation, user=INVESTIGATOR)


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
    enrol(
        engine, seed_protocol, screening_id=screening_id, enrolled_on=enrolled_on, user=COORDINATOR
    )
    early = AllocationInput(participant_id, "control", "preference", SCREENED_ON)
    with pytest.raises(RuleViolation, match=r"allocated_on .* is before .* was enrolled"):
        allocate(engine, seed_protocol, early, user=INVESTIGATOR)
    on_time = AllocationInput(participant_id, "control", "preference", enrolled_on)
    allocate(engine, seed_protocol, on_time, user=INVESTIGATOR)
    with pytest.raises(RuleViolation, match=r"start_date .* is before .* was enrolled"):
        start_cycle(
            engine,
            seed_protocol,
            participant_id=participant_id,
            cycle="treatment",
            start_date=SCREENED_ON,
            user=COORDINATOR,
        )
