"""Clinical dates record what has happened: a date after today is refused and nothing is kept."""

import datetime as dt
from collections.abc import Callable

import pytest
from services_helpers import (
    COORDINATOR,
    MONITOR,
    RADIOLOGIST,
    TRANSFER_DAY,
    Trial,
    allocated,
    infusion,
    screened,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    AdverseEventInput,
    ConsentInput,
    DeviationInput,
    MedicationInput,
    OutcomeInput,
    RuleViolation,
    TransferInput,
    UltrasoundInput,
    WithdrawalInput,
    record_consent,
    record_deviation,
    record_medication,
    record_outcome,
    record_procedure,
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


def _in_transfer_cycle(trial: Trial, pid: int) -> int:
    return start_transfer_cycle(trial, pid)


def _screened(trial: Trial, _pid: int) -> int:
    return screened(trial, "c2")


def _consent(trial: Trial, screening_id: int) -> None:
    consent = ConsentInput(screening_id, "v1.0", NEXT_WEEK, COORDINATOR)
    record_consent(trial.engine, consent, user=COORDINATOR)


def _medication(trial: Trial, pid: int) -> None:
    course = MedicationInput(pid, "tx_estradiol_valerate", NEXT_WEEK, 2)
    record_medication(trial.engine, trial.protocol, course, user=COORDINATOR)


def _transfer(trial: Trial, pid: int) -> None:
    transfer = TransferInput(pid, NEXT_WEEK, ("4AA",))
    record_transfer(trial.engine, trial.protocol, transfer, user=COORDINATOR)


def _procedure(trial: Trial, pid: int) -> None:
    procedure = infusion(pid, 58_000_000, procedure_date=NEXT_WEEK)
    record_procedure(trial.engine, trial.protocol, procedure, user=RADIOLOGIST)


@pytest.mark.parametrize(
    ("prepare", "record", "field"),
    [
        (_participant, _scan, "scan_date"),
        (_transferred, _birth, "birth_date"),
        (_participant, _adverse_event, "onset_date"),
        (_participant, _deviation, "occurred_on"),
        (_participant, _withdrawal, "withdrawn_on"),
        (_screened, _consent, "consent_date"),
        (_participant, _medication, "taken_on"),
        (_in_transfer_cycle, _transfer, "transfer_date"),
        (_participant, _procedure, "procedure_date"),
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
