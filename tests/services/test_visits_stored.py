"""Issue 8, finding 3: the store forgot which scheduled event a record fulfils (a scan's visit
was used for the window check, then dropped) and how long a medication period lasted. Every
dated record now stores its event (or none, unscheduled) and a period its first and last day."""

import datetime as dt

import pytest
from services_helpers import (
    COORDINATOR,
    DAY_10,
    EMBRYOLOGIST,
    RADIOLOGIST,
    TRANSFER_DAY,
    TREATMENT_START,
    Trial,
    allocated,
    audit_rows,
    infusion,
    refused,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    InvalidInput,
    MedicationInput,
    OutcomeInput,
    TransferInput,
    UltrasoundInput,
    record_medication,
    record_outcome,
    record_procedure,
    record_transfer,
    record_ultrasound,
)
from endotrial.store import (
    Cycle,
    EmbryoTransfer,
    MedicationRecord,
    PregnancyOutcome,
    Procedure,
    Ultrasound,
)

DAY = dt.timedelta(days=1)


@pytest.fixture
def trial(engine: Engine, seed_protocol: Protocol) -> Trial:
    return set_up_trial(engine, seed_protocol)


def _stored(trial: Trial, model: type, row_id: int) -> object:
    with Session(trial.engine) as session:
        return session.get_one(model, row_id)


def _scan(trial: Trial, pid: int, on: dt.date, **changes: object) -> int:
    scan = UltrasoundInput(participant_id=pid, scan_date=on, thickness_mm=6.0, **changes)
    return record_ultrasound(trial.study, trial.actor(COORDINATOR), scan)


def test_a_scan_stores_the_visit_named_or_found_or_none(trial: Trial) -> None:
    pid = allocated(trial, "c1", "control")
    named = _scan(trial, pid, TREATMENT_START + 8 * DAY, event_id="baseline_ultrasound")
    found = _scan(trial, pid, TREATMENT_START + 16 * DAY)  # in late_proliferative's window
    unscheduled = _scan(trial, pid, TREATMENT_START + 3 * DAY)
    events = [
        _stored(trial, Ultrasound, i).event_id  # type: ignore[attr-defined]
        for i in (named, found, unscheduled)
    ]
    assert events == ["baseline_ultrasound", "late_proliferative_ultrasound", None]


def test_an_event_of_another_kind_or_arm_is_refused(trial: Trial) -> None:
    pid = start_transfer_cycle(trial, allocated(trial, "c1", "control"))
    before = audit_rows(trial.engine)
    with refused("visit.wrong_kind", field="event_id") as caught:
        _scan(trial, pid, TREATMENT_START + 8 * DAY, event_id="embryo_transfer")
    assert caught.value.params["known"] == [
        "baseline_ultrasound",
        "clinical_pregnancy_ultrasound",
        "late_proliferative_ultrasound",
        "ongoing_pregnancy_ultrasound",
        "transfer_ultrasound",
    ]
    transfer = TransferInput(
        participant_id=pid,
        transfer_date=TRANSFER_DAY,
        embryo_grades=["4AB"],
        event_id="hbmsc_infusion",  # the stem-cell arm's, not hers
    )
    with refused("visit.not_in_schedule", field="event_id"):
        record_transfer(trial.study, trial.actor(EMBRYOLOGIST), transfer)
    assert audit_rows(trial.engine) == before


def test_cycles_procedures_transfers_and_outcomes_store_their_events(trial: Trial) -> None:
    pid = allocated(trial, "c1", "hbmsc")
    procedure_id = record_procedure(
        trial.study, trial.actor(RADIOLOGIST), infusion(pid, 58_000_000)
    ).procedure_id
    start_transfer_cycle(trial, pid)
    transfer = TransferInput(participant_id=pid, transfer_date=TRANSFER_DAY, embryo_grades=["4AB"])
    transfer_id = record_transfer(trial.study, trial.actor(EMBRYOLOGIST), transfer)
    facts = OutcomeInput(
        transfer_id=transfer_id, beta_hcg_miu_ml=250.0, beta_hcg_date=TRANSFER_DAY + 12 * DAY
    )
    record_outcome(trial.study, trial.actor(COORDINATOR), facts)
    with Session(trial.engine) as session:
        cycles = {c.kind: c.event_id for c in session.query(Cycle)}
        procedure = session.get_one(Procedure, procedure_id)
        stored = session.get_one(EmbryoTransfer, transfer_id)
        outcome = session.query(PregnancyOutcome).one()
    assert cycles == {"treatment": "treatment_cycle_start", "transfer": "transfer_cycle_start"}
    assert procedure.event_id == "hbmsc_infusion"
    assert stored.event_id == "embryo_transfer"
    assert (outcome.beta_hcg_event_id, outcome.ultrasound_event_id) == ("beta_hcg", None)


def test_a_procedure_named_by_its_event_must_be_the_one_recorded(trial: Trial) -> None:
    pid = allocated(trial, "c1", "hbmsc")
    wrong = infusion(pid, 58_000_000, event_id="baseline_ultrasound")
    with refused("visit.wrong_kind", field="event_id"):
        record_procedure(trial.study, trial.actor(RADIOLOGIST), wrong)
    named = infusion(pid, 58_000_000, event_id="hbmsc_infusion")
    assert record_procedure(trial.study, trial.actor(RADIOLOGIST), named).overridden is False


def _medication(trial: Trial, pid: int, **period: object) -> int:
    course = MedicationInput(
        participant_id=pid, regimen_id="tx_estradiol_valerate", doses_taken=2, **period
    )
    return record_medication(trial.study, trial.actor(COORDINATOR), course)


def test_a_medication_period_keeps_its_first_and_last_day(trial: Trial) -> None:
    pid = allocated(trial, "c1", "control")
    week = _medication(trial, pid, first_day=TREATMENT_START, last_day=TREATMENT_START + 6 * DAY)
    older_form = _medication(trial, pid, taken_on=TREATMENT_START + 9 * DAY, days=3)
    one_day = _medication(trial, pid, last_day=TREATMENT_START + 10 * DAY)
    periods = [
        (r.first_day, r.last_day, r.doses_planned, r.event_id)  # type: ignore[attr-defined]
        for r in (_stored(trial, MedicationRecord, i) for i in (week, older_form, one_day))
    ]
    start = "tx_estradiol_valerate_start"
    assert periods == [
        (TREATMENT_START, TREATMENT_START + 6 * DAY, 14, start),
        (TREATMENT_START + 7 * DAY, TREATMENT_START + 9 * DAY, 6, start),
        (TREATMENT_START + 10 * DAY, TREATMENT_START + 10 * DAY, 2, start),
    ]


def test_a_period_backward_mixed_or_longer_than_the_regimen_is_refused(trial: Trial) -> None:
    pid = allocated(trial, "c1", "control")
    with refused("date.end_before_start", field="last_day"):
        _medication(trial, pid, first_day=DAY_10, last_day=DAY_10 - DAY)
    with refused("medication.period_form", field="taken_on", kind=InvalidInput):
        _medication(trial, pid, taken_on=DAY_10, last_day=DAY_10)
    with refused("medication.period_form", field="days", kind=InvalidInput):
        _medication(trial, pid, last_day=DAY_10, days=2)
    dydrogesterone = MedicationInput(
        participant_id=pid,
        regimen_id="tx_dydrogesterone",  # cycle days 19-28: ten days
        first_day=TREATMENT_START + 17 * DAY,
        last_day=TREATMENT_START + 27 * DAY,
        doses_taken=20,
    )
    with refused("medication.period_too_long", field="first_day") as caught:
        record_medication(trial.study, trial.actor(COORDINATOR), dydrogesterone)
    assert "11 days, longer than tx_dydrogesterone's 10 days" in str(caught.value)
    with refused("visit.wrong_kind", field="event_id"):
        _medication(trial, pid, last_day=DAY_10, event_id="baseline_ultrasound")
