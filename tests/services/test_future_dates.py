"""Clinical dates record what has happened: a date after today is refused and nothing is kept."""

import datetime as dt
from collections.abc import Callable

import pytest
from services_helpers import (
    COORDINATOR,
    MONITOR,
    TRANSFER_DAY,
    Trial,
    allocated,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    AdverseEventInput,
    DeviationInput,
    OutcomeInput,
    RuleViolation,
    TransferInput,
    UltrasoundInput,
    WithdrawalInput,
    record_deviation,
    record_outcome,
    record_transfer,
    record_ultrasound,
    report_adverse_event,
    withdraw,
)
from endotrial.store import AuditEntry

NEXT_WEEK = dt.date.today() + dt.timedelta(days=7)


def _audit_entries(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _transferred(trial: Trial, pid: int) -> int:
    start_transfer_cycle(trial, pid)
    transfer = TransferInput(pid, TRANSFER_DAY, ("4AA",))
    return record_transfer(trial.engine, trial.protocol, transfer, user=COORDINATOR)


def _scan(trial: Trial, pid: int) -> None:
    scan = UltrasoundInput(pid, NEXT_WEEK, 6.5)
    record_ultrasound(trial.engine, trial.protocol, scan, user=COORDINATOR)


def _birth(trial: Trial, transfer_id: int) -> None:
    facts = OutcomeInput(transfer_id, 500.0, birth_date=NEXT_WEEK, live_born_count=1)
    record_outcome(trial.engine, trial.protocol, facts, user=COORDINATOR)


def _adverse_event(trial: Trial, pid: int) -> None:
    event = AdverseEventInput(pid, "Fever", 1, False, NEXT_WEEK)
    report_adverse_event(trial.engine, trial.protocol, event, user=COORDINATOR)


def _deviation(trial: Trial, pid: int) -> None:
    deviation = DeviationInput(NEXT_WEEK, "visit window", "late", participant_id=pid)
    record_deviation(trial.engine, deviation, user=MONITOR)


def _withdrawal(trial: Trial, pid: int) -> None:
    withdraw(
        trial.engine, WithdrawalInput(pid, NEXT_WEEK, "participant", "moved"), user=COORDINATOR
    )


def _participant(trial: Trial, pid: int) -> int:
    return pid


@pytest.mark.parametrize(
    ("prepare", "record", "field"),
    [
        (_participant, _scan, "scan_date"),
        (_transferred, _birth, "birth_date"),
        (_participant, _adverse_event, "onset_date"),
        (_participant, _deviation, "occurred_on"),
        (_participant, _withdrawal, "withdrawn_on"),
    ],
)
def test_a_date_in_the_future_is_refused_and_nothing_written(
    engine: Engine,
    seed_protocol: Protocol,
    prepare: Callable[[Trial, int], int],
    record: Callable[[Trial, int], None],
    field: str,
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    target = prepare(trial, allocated(trial, "c1", "control"))
    before = _audit_entries(engine)
    with pytest.raises(RuleViolation, match=rf"{field} {NEXT_WEEK} is in the future"):
        record(trial, target)
    assert _audit_entries(engine) == before
