"""The infusion: dose from the dose rule, release checks, override by an investigator."""

import datetime as dt

import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    RADIOLOGIST,
    RELEASED,
    allocated,
    infusion,
    set_up_trial,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    MedicationInput,
    PermissionDenied,
    RuleViolation,
    list_queries,
    record_medication,
    record_procedure,
)
from endotrial.store import Procedure


def test_dose_in_tolerance_is_recorded(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    record = record_procedure(engine, seed_protocol, infusion(pid, 58_000_000), user=RADIOLOGIST)
    assert record.plan.dose_viable_cells == 58_000_000 and not record.overridden
    with Session(engine) as session:
        row = session.get_one(Procedure, record.procedure_id)
        assert (row.dose_cells, row.volume_ml, row.override_reason) == (58_000_000, 15, None)
    assert list_queries(engine) == []


def test_dose_out_of_tolerance_needs_investigator_override(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    too_much = infusion(pid, 70_000_000)
    with pytest.raises(RuleViolation, match=r"outside .*investigator may override"):
        record_procedure(engine, seed_protocol, too_much, user=RADIOLOGIST)
    reason = "extra vial thawed; PI judged safe"
    overridden = infusion(pid, 70_000_000, override_reason=reason)
    with pytest.raises(PermissionDenied, match="investigator"):
        record_procedure(engine, seed_protocol, overridden, user=RADIOLOGIST)
    record = record_procedure(engine, seed_protocol, overridden, user=INVESTIGATOR)
    assert record.overridden and "outside" in record.problems[0]
    with Session(engine) as session:
        assert session.get_one(Procedure, record.procedure_id).override_reason == reason


def test_failed_or_untested_release_check_is_refused(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    untested = {k: v for k, v in RELEASED.items() if k != "mycoplasma"}
    with pytest.raises(RuleViolation, match="mycoplasma"):
        record_procedure(
            engine,
            seed_protocol,
            infusion(pid, 58_000_000, release_results=untested),
            user=RADIOLOGIST,
        )
    with pytest.raises(RuleViolation, match="viability_pct"):
        record_procedure(
            engine, seed_protocol, infusion(pid, 58_000_000, viability_pct=60.0), user=RADIOLOGIST
        )


def test_positive_iodine_test_blocks_even_with_override(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    blocked = infusion(pid, 58_000_000, pre_checks={"iodine_allergy_test": "positive"})
    with pytest.raises(RuleViolation, match="cannot be done"):
        record_procedure(engine, seed_protocol, blocked, user=INVESTIGATOR)


def test_control_arm_has_no_infusion_and_single_intervention(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    control = allocated(trial, "c1", "control")
    with pytest.raises(RuleViolation, match="no procedure"):
        record_procedure(engine, seed_protocol, infusion(control, 58_000_000), user=RADIOLOGIST)
    pid = allocated(trial, "c2", "hbmsc")
    record_procedure(engine, seed_protocol, infusion(pid, 58_000_000), user=RADIOLOGIST)
    with pytest.raises(RuleViolation, match="single intervention"):
        record_procedure(engine, seed_protocol, infusion(pid, 58_000_000), user=RADIOLOGIST)
    with Session(engine) as session:
        assert len(session.scalars(select(Procedure)).all()) == 1


def test_infusion_off_day_10_opens_a_window_query(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    late = infusion(pid, 58_000_000, procedure_date=dt.date(2025, 10, 18))
    record = record_procedure(engine, seed_protocol, late, user=RADIOLOGIST)
    (query,) = list_queries(engine)
    assert (query.entity, query.row_id, query.field) == (
        "procedures",
        str(record.procedure_id),
        "procedure_date",
    )
    assert query.opened_by == "edit_check:visit_window" and "2025-10-16" in query.text


def test_medication_outside_the_regimen_days_opens_a_query(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """Doses on the drug's days are recorded quietly; doses outside them are kept (they were
    taken) and open a query naming the drug's days for her."""
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    course = MedicationInput(pid, "tx_dydrogesterone", dt.date(2025, 11, 2), 19, days=10)
    record_medication(engine, seed_protocol, course, user=COORDINATOR)
    assert list_queries(engine) == []
    early = MedicationInput(pid, "tx_dydrogesterone", dt.date(2025, 10, 10), 2)
    early_id = record_medication(engine, seed_protocol, early, user=COORDINATOR)
    (query,) = list_queries(engine)
    assert (query.entity, query.row_id, query.field) == (
        "medication_records",
        str(early_id),
        "taken_on",
    )
    assert query.opened_by == "edit_check:medication_days"
    assert "cycle days 19-28 (2025-10-24 to 2025-11-02 for her)" in query.text
    too_many = MedicationInput(pid, "tx_estradiol_valerate", dt.date(2025, 10, 10), 3)
    with pytest.raises(RuleViolation, match="between 0 and 2"):
        record_medication(engine, seed_protocol, too_many, user=COORDINATOR)
