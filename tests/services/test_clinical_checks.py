"""Ultrasounds, transfers and outcomes: derived outcomes and the edit checks that open queries."""

import datetime as dt

from services_helpers import (
    COORDINATOR,
    TRANSFER_CYCLE_START,
    TRANSFER_DAY,
    TREATMENT_START,
    Trial,
    allocated,
    queries,
    refused,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.outcomes.pregnancy import PregnancyOutcome as DerivedOutcome
from endotrial.protocol import Protocol
from endotrial.services import (
    InvalidInput,
    OutcomeInput,
    TransferInput,
    UltrasoundInput,
    pregnancy_outcome,
    record_outcome,
    record_transfer,
    record_ultrasound,
)
from endotrial.store import (
    PregnancyOutcome,
    QueryStatus,
    TransferredEmbryo,
)


def in_transfer_cycle(trial: Trial, ref: str) -> int:
    return start_transfer_cycle(trial, allocated(trial, ref, "control"))


def _scan(trial: Trial, scan: UltrasoundInput) -> int:
    return record_ultrasound(trial.study, trial.actor(COORDINATOR), scan)


def _transfer(trial: Trial, participant_id: int, *grades: str) -> int:
    transfer = TransferInput(
        participant_id=participant_id, transfer_date=TRANSFER_DAY, embryo_grades=list(grades)
    )
    return record_transfer(trial.study, trial.actor(COORDINATOR), transfer)


def _outcome(trial: Trial, facts: OutcomeInput, reason: str | None = None) -> DerivedOutcome:
    return record_outcome(trial.study, trial.actor(COORDINATOR), facts, reason=reason)


def test_implausible_thickness_opens_a_range_query(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    day_9 = TREATMENT_START + dt.timedelta(days=8)
    fine = UltrasoundInput(
        participant_id=pid,
        scan_date=day_9,
        thickness_mm=5.6,
        trilaminar=False,
        event_id="baseline_ultrasound",
    )
    _scan(trial, fine)
    assert queries(trial) == []
    scan_id = _scan(trial, UltrasoundInput(participant_id=pid, scan_date=day_9, thickness_mm=56.0))
    (query,) = queries(trial)
    assert (query.entity, query.row_id, query.field) == (
        "ultrasounds",
        str(scan_id),
        "thickness_mm",
    )
    assert query.opened_by == "edit_check:range" and query.status is QueryStatus.OPEN
    assert query.participant_id == pid and query.site_id == trial.site_id
    with refused("input.invalid", field="thickness_mm", kind=InvalidInput):
        UltrasoundInput(participant_id=pid, scan_date=day_9, thickness_mm=-1.0)


def test_scan_out_of_its_visit_window_opens_a_query(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    day_14 = TREATMENT_START + dt.timedelta(days=13)
    scan = UltrasoundInput(
        participant_id=pid,
        scan_date=day_14,
        thickness_mm=6.0,
        trilaminar=True,
        event_id="late_proliferative_ultrasound",
    )
    _scan(trial, scan)
    (query,) = queries(trial)
    assert query.field == "scan_date" and query.opened_by == "edit_check:visit_window"


def test_a_scan_of_an_unknown_visit_is_refused(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    scan = UltrasoundInput(
        participant_id=pid,
        scan_date=TREATMENT_START + dt.timedelta(days=8),
        thickness_mm=6.0,
        event_id="baseline_ultrasond",
    )
    with refused("scan.unknown_event", field="event_id", kind=InvalidInput) as caught:
        _scan(trial, scan)
    assert "baseline_ultrasound" in caught.value.params["known"]


def test_transfer_with_graded_embryos_and_derived_clinical_pregnancy(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = in_transfer_cycle(trial, "c1")
    transfer_id = _transfer(trial, pid, "4AB", "3BB")
    facts = OutcomeInput(
        transfer_id=transfer_id,
        beta_hcg_miu_ml=480.0,
        beta_hcg_date=TRANSFER_DAY + dt.timedelta(days=12),
        ultrasound_date=TRANSFER_DAY + dt.timedelta(days=30),
        gestational_sacs=1,
    )
    derived = _outcome(trial, facts)
    assert derived.clinical_pregnancy and derived.implantation_sacs == 1
    assert derived.embryos_transferred == 2 and derived.miscarriage is None
    assert queries(trial) == []
    with Session(engine) as session:
        embryos = session.scalars(select(TransferredEmbryo)).all()
        assert [(e.expansion, e.icm, e.te) for e in embryos] == [(4, "A", "B"), (3, "B", "B")]
    assert pregnancy_outcome(trial.study, trial.actor(COORDINATOR), transfer_id) == derived


def test_updating_outcome_needs_a_reason_that_says_something(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = in_transfer_cycle(trial, "c1")
    transfer_id = _transfer(trial, pid, "4AA")
    _outcome(trial, OutcomeInput(transfer_id=transfer_id, beta_hcg_miu_ml=3.0))
    corrected = OutcomeInput(transfer_id=transfer_id, beta_hcg_miu_ml=5.0)
    with refused("change.reason_required", field="reason", kind=InvalidInput):
        _outcome(trial, corrected)
    with refused("input.reason_required", field="reason", kind=InvalidInput):
        _outcome(trial, corrected, reason="typo")
    derived = _outcome(trial, corrected, reason="transcription error: lab report reads 5.0")
    assert derived.positive_hcg is False and derived.clinical_pregnancy is False
    with Session(engine) as session:
        assert session.scalars(select(PregnancyOutcome)).one().beta_hcg_miu_ml == 5.0


def test_sacs_with_negative_hcg_open_a_consistency_query(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = in_transfer_cycle(trial, "c1")
    transfer_id = _transfer(trial, pid, "4AA")
    _outcome(trial, OutcomeInput(transfer_id=transfer_id, beta_hcg_miu_ml=2.0, gestational_sacs=1))
    (query,) = queries(trial)
    assert (query.entity, query.field) == ("pregnancy_outcomes", "gestational_sacs")
    assert "negative" in query.text and query.opened_by == "edit_check:consistency"


def test_cancelled_transfer_needs_reason_and_counts_as_no_pregnancy(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = in_transfer_cycle(trial, "c1")
    with refused("transfer.no_grades", field="embryo_grades") as caught:
        _transfer(trial, pid)
    assert "Gardner grade" in str(caught.value)
    cancelled = TransferInput(
        participant_id=pid, transfer_date=TRANSFER_DAY, cancel_reason="thin endometrium (5.2 mm)"
    )
    transfer_id = record_transfer(trial.study, trial.actor(COORDINATOR), cancelled)
    with refused("outcome.cancelled_transfer", field="beta_hcg_miu_ml"):
        _outcome(trial, OutcomeInput(transfer_id=transfer_id, beta_hcg_miu_ml=3.0))
    derived = _outcome(trial, OutcomeInput(transfer_id=transfer_id))
    assert derived.clinical_pregnancy is False and derived.embryos_transferred == 0
    with Session(engine) as session:
        assert session.scalars(select(PregnancyOutcome)).one().miscarriage is False


def test_transfer_below_thickness_threshold_opens_a_query(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = in_transfer_cycle(trial, "c1")
    scan_day = TRANSFER_CYCLE_START + dt.timedelta(days=11)
    scan = UltrasoundInput(
        participant_id=pid,
        scan_date=scan_day,
        thickness_mm=6.1,
        trilaminar=True,
        event_id="transfer_ultrasound",
    )
    _scan(trial, scan)
    _transfer(trial, pid, "4AA")
    (query,) = queries(trial)
    assert query.opened_by == "edit_check:transfer_threshold" and "7 mm" in query.text


def test_live_birth_is_derived_from_the_live_born_count(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """Twins born alive at 36 weeks: stored as a count, read back, and a live birth; a delivery
    recorded without the count opens a query and is not (yet) a live birth."""
    trial = set_up_trial(engine, seed_protocol)
    pid = in_transfer_cycle(trial, "c1")
    transfer_id = _transfer(trial, pid, "4AA", "4AB")
    birth_on = TRANSFER_DAY + dt.timedelta(weeks=36, days=-19)  # 36 weeks' gestation (day 5)
    base = {
        "transfer_id": transfer_id,
        "beta_hcg_miu_ml": 900.0,
        "beta_hcg_date": TRANSFER_DAY + dt.timedelta(days=12),
        "gestational_sacs": 2,
        "birth_date": birth_on,
    }
    derived = _outcome(trial, OutcomeInput(**base))
    assert derived.live_birth is None
    (query,) = queries(trial)
    assert query.field == "live_born_count" and query.opened_by == "edit_check:consistency"
    twins = OutcomeInput(**base, live_born_count=2)
    derived = _outcome(trial, twins, reason="delivery report received: twins born alive")
    assert derived.live_birth is True
    with Session(engine) as session:
        assert session.scalars(select(PregnancyOutcome)).one().live_born_count == 2
    assert pregnancy_outcome(trial.study, trial.actor(COORDINATOR), transfer_id).live_birth
    with refused("input.invalid", field="live_born_count", kind=InvalidInput):
        OutcomeInput(**base, live_born_count=-1)
