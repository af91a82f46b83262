"""Values a form or spreadsheet can produce that no clinic measured are refused, and dates
that contradict her record are too; nothing is written for them."""

import datetime as dt

import pytest
from services_helpers import (
    COORDINATOR,
    DAY_10,
    INVESTIGATOR,
    RADIOLOGIST,
    TREATMENT_START,
    allocated,
    infusion,
    refused,
    screened,
    set_up_trial,
    sign_off,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    CycleStartInput,
    InvalidInput,
    LockedError,
    RuleViolation,
    UltrasoundInput,
    lock_participant,
    record_procedure,
    start_cycle,
)
from endotrial.store import Procedure

BEIJING = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_thickness_that_is_not_a_number_is_refused(value: float) -> None:
    with refused("input.invalid", field="thickness_mm", kind=InvalidInput):
        UltrasoundInput(participant_id=1, scan_date=dt.date(2025, 10, 14), thickness_mm=value)


def test_procedure_times_carry_a_zone_and_end_after_they_start(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    radiologist = trial.actor(RADIOLOGIST)
    start = dt.datetime(2025, 10, 15, 9, 30, tzinfo=BEIJING)
    naive = infusion(pid, 58_000_000, started_at=dt.datetime(2025, 10, 15, 9, 30))
    with refused("date.no_time_zone", field="started_at", kind=RuleViolation):
        record_procedure(trial.study, radiologist, naive)
    backwards = infusion(pid, 58_000_000, started_at=start, ended_at=start - dt.timedelta(hours=1))
    with refused("date.end_before_start", field="ended_at"):
        record_procedure(trial.study, radiologist, backwards)
    done = infusion(pid, 58_000_000, started_at=start, ended_at=start + dt.timedelta(minutes=40))
    record_procedure(trial.study, radiologist, done)
    with Session(engine) as session:
        stored = session.scalars(select(Procedure)).one()
        assert stored.started_at == start and stored.procedure_date == DAY_10
    # (the autouse check then reconciles the 09:30+08:00 start with the trail's UTC record)


def test_a_later_cycle_cannot_start_before_the_earlier_one(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")  # treatment cycle started on TREATMENT_START
    start = CycleStartInput(
        participant_id=pid, cycle="transfer", start_date=TREATMENT_START - dt.timedelta(days=4)
    )
    with refused("cycle.overlaps", field="start_date") as caught:
        start_cycle(trial.study, trial.actor(COORDINATOR), start)
    assert "cycles follow one another" in str(caught.value)


def test_a_signed_off_participant_is_not_screened_again(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    lock_participant(trial.study, trial.actor(INVESTIGATOR), sign_off(pid))
    with refused("record.locked", kind=LockedError):
        screened(trial, "c1", iodine_allergy=True)
