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
    screened,
    set_up_trial,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    LockedError,
    RuleViolation,
    UltrasoundInput,
    lock_participant,
    record_procedure,
    record_ultrasound,
    start_cycle,
)
from endotrial.store import Procedure

BEIJING = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_thickness_that_is_not_a_number_is_refused(
    engine: Engine, seed_protocol: Protocol, value: float
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    scan = UltrasoundInput(pid, dt.date(2025, 10, 14), value)
    with pytest.raises(RuleViolation, match=r"thickness_mm .* is not a number"):
        record_ultrasound(engine, seed_protocol, scan, user=COORDINATOR)


def test_procedure_times_carry_a_zone_and_end_after_they_start(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    start = dt.datetime(2025, 10, 15, 9, 30, tzinfo=BEIJING)
    naive = infusion(pid, 58_000_000, started_at=dt.datetime(2025, 10, 15, 9, 30))
    with pytest.raises(RuleViolation, match="has no time zone"):
        record_procedure(engine, seed_protocol, naive, user=RADIOLOGIST)
    backwards = infusion(pid, 58_000_000, started_at=start, ended_at=start - dt.timedelta(hours=1))
    with pytest.raises(RuleViolation, match=r"ended_at .* is before started_at"):
        record_procedure(engine, seed_protocol, backwards, user=RADIOLOGIST)
    done = infusion(pid, 58_000_000, started_at=start, ended_at=start + dt.timedelta(minutes=40))
    record_procedure(engine, seed_protocol, done, user=RADIOLOGIST)
    with Session(engine) as session:
        stored = session.scalars(select(Procedure)).one()
        assert stored.started_at == start and stored.procedure_date == DAY_10
    # (the autouse check then reconciles the 09:30+08:00 start with the trail's UTC record)


def test_a_later_cycle_cannot_start_before_the_earlier_one(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")  # treatment cycle started on TREATMENT_START
    with pytest.raises(RuleViolation, match="cycles follow one another"):
        start_cycle(
            engine,
            seed_protocol,
            participant_id=pid,
            cycle="transfer",
            start_date=TREATMENT_START - dt.timedelta(days=4),
            user=COORDINATOR,
        )


def test_a_signed_off_participant_is_not_screened_again(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    lock_participant(engine, pid, user=INVESTIGATOR)
    with pytest.raises(LockedError, match="locked"):
        screened(trial, "c1", iodine_allergy=True)
