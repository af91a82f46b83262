"""Ultrasounds, transfers and outcomes: derived outcomes and the edit checks that open queries."""

import datetime as dt

import pytest
from services_helpers import (
    COORDINATOR,
    TRANSFER_CYCLE_START,
    TRANSFER_DAY,
    TREATMENT_START,
    Trial,
    allocated,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    OutcomeInput,
    RuleViolation,
    TransferInput,
    UltrasoundInput,
    list_queries,
    pregnancy_outcome,
    record_outcome,
    record_transfer,
    record_ultrasound,
)
from endotrial.store import (
    PregnancyOutcome,
    QueryStatus,
    ReasonRequiredError,
    TransferredEmbryo,
)


def in_transfer_cycle(trial: Trial, ref: str) -> int:
    return start_transfer_cycle(trial, allocated(trial, ref, "control"))


def test_implausible_thickness_opens_a_range_query(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    day_9 = TREATMENT_START + dt.timedelta(days=8)
    fine = UltrasoundInput(pid, day_9, 5.6, False, "baseline_ultrasound")
    record_ultrasound(engine, seed_protocol, fine, user=COORDINATOR)
    assert list_queries(engine) == []
    scan_id = record_ultrasound(
        engine, seed_protocol, UltrasoundInput(pid, day_9, 56.0), user=COORDINATOR
    )
    (query,) = list_queries(engine)
    assert (query.entity, query.row_id, query.field) == (
        "ultrasounds",
        str(scan_id),
        "thickness_mm",
    )
    assert query.opened_by == "edit_check:range" and query.status is QueryStatus.OPEN
    with pytest.raises(RuleViolation, match="negative"):
        record_ultrasound(
            engine, seed_protocol, UltrasoundInput(pid, day_9, -1.0), user=COORDINATOR
        )


def test_scan_out_of_its_visit_window_opens_a_query(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    day_14 = TREATMENT_START + dt.timedelta(days=13)
    scan = UltrasoundInput(pid, day_14, 6.0, True, "late_proliferative_ultrasound")
    record_ultrasound(engine, seed_protocol, scan, user=COORDINATOR)
    (query,) = list_queries(engine)
    assert query.field == "scan_date" and query.opened_by == "edit_check:visit_window"


def test_transfer_with_graded_embryos_and_derived_clinical_pregnancy(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = in_transfer_cycle(trial, "c1")
    transfer = TransferInput(pid, TRANSFER_DAY, ("4AB", "3BB"))
    transfer_id = record_transfer(engine, seed_protocol, transfer, user=COORDINATOR)
    facts = OutcomeInput(
        transfer_id,
        beta_hcg_miu_ml=480.0,
        beta_hcg_date=TRANSFER_DAY + dt.timedelta(days=12),
        ultrasound_date=TRANSFER_DAY + dt.timedelta(days=30),
        gestational_sacs=1,
    )
    derived = record_outcome(engine, seed_protocol, facts, user=COORDINATOR)
    assert derived.clinical_pregnancy and derived.implantation_sacs == 1
    assert derived.embryos_transferred == 2 and derived.miscarriage is None
    assert list_queries(engine) == []
    with Session(engine) as session:
        embryos = session.scalars(select(TransferredEmbryo)).all()
        assert [(e.expansion, e.icm, e.te) for e in embryos] == [(4, "A", "B"), (3, "B", "B")]
    assert pregnancy_outcome(engine, seed_protocol, transfer_id) == derived


def test_updating_outcome_needs_a_reason(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = in_transfer_cycle(trial, "c1")
    transfer_id = record_transfer(
        engine, seed_protocol, TransferInput(pid, TRANSFER_DAY, ("4AA",)), user=COORDINATOR
    )
    record_outcome(engine, seed_protocol, OutcomeInput(transfer_id, 3.0), user=COORDINATOR)
    with pytest.raises(ReasonRequiredError):
        record_outcome(engine, seed_protocol, OutcomeInput(transfer_id, 5.0), user=COORDINATOR)
    derived = record_outcome(
        engine, seed_protocol, OutcomeInput(transfer_id, 5.0), user=COORDINATOR, reason="typo"
    )
    assert derived.positive_hcg is False and derived.clinical_pregnancy is False


def test_sacs_with_negative_hcg_open_a_consistency_query(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = in_transfer_cycle(trial, "c1")
    transfer_id = record_transfer(
        engine, seed_protocol, TransferInput(pid, TRANSFER_DAY, ("4AA",)), user=COORDINATOR
    )
    facts = OutcomeInput(transfer_id, beta_hcg_miu_ml=2.0, gestational_sacs=1)
    record_outcome(engine, seed_protocol, facts, user=COORDINATOR)
    (query,) = list_queries(engine)
    assert (query.entity, query.field) == ("pregnancy_outcomes", "gestational_sacs")
    assert "negative" in query.text and query.opened_by == "edit_check:consistency"


def test_cancelled_transfer_needs_reason_and_counts_as_no_pregnancy(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = in_transfer_cycle(trial, "c1")
    with pytest.raises(RuleViolation, match="Gardner grade"):
        record_transfer(engine, seed_protocol, TransferInput(pid, TRANSFER_DAY), user=COORDINATOR)
    cancelled = TransferInput(pid, TRANSFER_DAY, cancel_reason="thin endometrium (5.2 mm)")
    transfer_id = record_transfer(engine, seed_protocol, cancelled, user=COORDINATOR)
    derived = record_outcome(engine, seed_protocol, OutcomeInput(transfer_id), user=COORDINATOR)
    assert derived.clinical_pregnancy is False and derived.embryos_transferred == 0
    with Session(engine) as session:
        assert session.scalars(select(PregnancyOutcome)).one().miscarriage is False


def test_transfer_below_thickness_threshold_opens_a_query(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = in_transfer_cycle(trial, "c1")
    scan_day = TRANSFER_CYCLE_START + dt.timedelta(days=11)
    scan = UltrasoundInput(pid, scan_day, 6.1, True, "transfer_ultrasound")
    record_ultrasound(engine, seed_protocol, scan, user=COORDINATOR)
    record_transfer(
        engine, seed_protocol, TransferInput(pid, TRANSFER_DAY, ("4AA",)), user=COORDINATOR
    )
    (query,) = list_queries(engine)
    assert query.opened_by == "edit_check:transfer_threshold" and "7 mm" in query.text


def test_live_birth_is_derived_from_the_live_born_count(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """Twins born alive at 36 weeks: stored as a count, read back, and a live birth; a delivery
    recorded without the count opens a query and is not (yet) a live birth."""
    trial = set_up_trial(engine, seed_protocol)
    pid = in_transfer_cycle(trial, "c1")
    transfer_id = record_transfer(
        engine, seed_protocol, TransferInput(pid, TRANSFER_DAY, ("4AA", "4AB")), user=COORDINATOR
    )
    birth_on = TRANSFER_DAY + dt.timedelta(weeks=36, days=-19)  # 36 weeks' gestation (day 5)
    base = OutcomeInput(
        transfer_id, 900.0, TRANSFER_DAY + dt.timedelta(days=12), gestational_sacs=2
    )
    no_count = OutcomeInput(**{**base.__dict__, "birth_date": birth_on})
    derived = record_outcome(engine, seed_protocol, no_count, user=COORDINATOR)
    assert derived.live_birth is None
    (query,) = list_queries(engine)
    assert query.field == "live_born_count" and query.opened_by == "edit_check:consistency"
    twins = OutcomeInput(**{**no_count.__dict__, "live_born_count": 2})
    derived = record_outcome(engine, seed_protocol, twins, user=COORDINATOR, reason="delivery")
    assert derived.live_birth is True
    with Session(engine) as session:
        assert session.scalars(select(PregnancyOutcome)).one().live_born_count == 2
    assert pregnancy_outcome(engine, seed_protocol, transfer_id).live_birth is True
    with pytest.raises(RuleViolation, match="negative"):
        negative = OutcomeInput(**{**twins.__dict__, "live_born_count": -1})
        record_outcome(engine, seed_protocol, negative, user=COORDINATOR, reason="x")
