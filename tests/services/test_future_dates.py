"""Clinical dates record what has happened: a date after today is refused and nothing is kept."""

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from services_helpers import (
    COORDINATOR,
    MONITOR,
    RADIOLOGIST,
    TRANSFER_DAY,
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

from endotrial.protocol import Protocol
from endotrial.services import (
    AdverseEventInput,
    ConsentInput,
    DeviationInput,
    MedicationInput,
    OutcomeInput,
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
from endotrial.store.models import DEFAULT_TIME_ZONE

#: Beyond the one day of grace given for a site east of the server.
NEXT_WEEK = dt.date.today() + dt.timedelta(days=7)


def _transferred(trial: Trial, pid: int) -> int:
    start_transfer_cycle(trial, pid)
    transfer = TransferInput(participant_id=pid, transfer_date=TRANSFER_DAY, embryo_grades=["4AA"])
    return record_transfer(trial.study, trial.actor(COORDINATOR), transfer)


def _scan(trial: Trial, pid: int) -> None:
    scan = UltrasoundInput(participant_id=pid, scan_date=NEXT_WEEK, thickness_mm=6.5)
    record_ultrasound(trial.study, trial.actor(COORDINATOR), scan)


def _birth(trial: Trial, transfer_id: int) -> None:
    facts = OutcomeInput(
        transfer_id=transfer_id,
        beta_hcg_miu_ml=500.0,
        gestational_sacs=1,
        birth_date=NEXT_WEEK,
        live_born_count=1,
    )
    record_outcome(trial.study, trial.actor(COORDINATOR), facts)


def _adverse_event(trial: Trial, pid: int) -> None:
    event = AdverseEventInput(
        participant_id=pid, term="Fever", ctcae_grade=1, serious=False, onset_date=NEXT_WEEK
    )
    report_adverse_event(trial.study, trial.actor(COORDINATOR), event)


def _deviation(trial: Trial, pid: int) -> None:
    deviation = DeviationInput(
        occurred_on=NEXT_WEEK,
        category="visit window",
        description="scan 3 days late",
        participant_id=pid,
    )
    record_deviation(trial.study, trial.actor(MONITOR), deviation)


def _withdrawal(trial: Trial, pid: int) -> None:
    withdrawal = WithdrawalInput(
        participant_id=pid, withdrawn_on=NEXT_WEEK, initiated_by="participant", reason="moved"
    )
    withdraw(trial.study, trial.actor(COORDINATOR), withdrawal)


def _participant(trial: Trial, pid: int) -> int:
    return pid


def _in_transfer_cycle(trial: Trial, pid: int) -> int:
    return start_transfer_cycle(trial, pid)


def _screened(trial: Trial, _pid: int) -> int:
    return screened(trial, "c2")


def _consent(trial: Trial, screening_id: int) -> None:
    consent = ConsentInput(
        screening_id=screening_id, form_version="v1.0", consent_date=NEXT_WEEK, taken_by=COORDINATOR
    )
    record_consent(trial.study, trial.actor(COORDINATOR), consent)


def _medication(trial: Trial, pid: int) -> None:
    course = MedicationInput(
        participant_id=pid, regimen_id="tx_estradiol_valerate", taken_on=NEXT_WEEK, doses_taken=2
    )
    record_medication(trial.study, trial.actor(COORDINATOR), course)


def _transfer(trial: Trial, pid: int) -> None:
    transfer = TransferInput(participant_id=pid, transfer_date=NEXT_WEEK, embryo_grades=["4AA"])
    record_transfer(trial.study, trial.actor(COORDINATOR), transfer)


def _procedure(trial: Trial, pid: int) -> None:
    procedure = infusion(pid, 58_000_000, procedure_date=NEXT_WEEK)
    record_procedure(trial.study, trial.actor(RADIOLOGIST), procedure)


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
    before = audit_rows(engine)
    with refused("date.future", field=field) as caught:
        record(trial, target)
    assert f"{field} {NEXT_WEEK} is in the future" in str(caught.value)
    assert audit_rows(engine) == before


def test_the_sites_own_day_decides_what_is_in_the_future(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """The day at her site (Asia/Shanghai), not the server's: that day is allowed whatever the
    hour, the next is refused. (Judged by the server's date, this failed between 00:00 and 08:00
    UTC, when the server's tomorrow is still tomorrow in Guangzhou.)"""
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    site_today = dt.datetime.now(ZoneInfo(DEFAULT_TIME_ZONE)).date()
    _scan_on(trial, pid, site_today)
    with refused("date.future", field="scan_date"):
        _scan_on(trial, pid, site_today + dt.timedelta(days=1))


def _scan_on(trial: Trial, pid: int, on: dt.date) -> None:
    scan = UltrasoundInput(participant_id=pid, scan_date=on, thickness_mm=6.5)
    record_ultrasound(trial.study, trial.actor(COORDINATOR), scan)
