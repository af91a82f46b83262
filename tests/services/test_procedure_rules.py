"""The infusion: dose from the dose rule, pre-checks and release checks that fail closed,
override by an investigator only where the protocol allows it."""

import datetime as dt

from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    PASSED_PRE_CHECKS,
    RADIOLOGIST,
    RELEASED,
    Trial,
    allocated,
    infusion,
    queries,
    refused,
    set_up_trial,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    InvalidInput,
    MedicationInput,
    PermissionDenied,
    ProcedureInput,
    ProcedureRecord,
    RuleViolation,
    record_medication,
    record_procedure,
)
from endotrial.store import Procedure

#: A reason that says what happened and why.
OVERRIDE_REASON = "cells short after expansion; PI accepts the lower dose"


def _record(trial: Trial, procedure: ProcedureInput, user: str = RADIOLOGIST) -> ProcedureRecord:
    return record_procedure(trial.study, trial.actor(user), procedure)


def test_dose_in_tolerance_is_recorded(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    record = _record(trial, infusion(pid, 58_000_000))
    assert record.plan.dose_viable_cells == 58_000_000 and not record.overridden
    with Session(engine) as session:
        row = session.get_one(Procedure, record.procedure_id)
        assert (row.dose_cells, row.volume_ml, row.override_reason) == (58_000_000, 15, None)
        assert {k: row.pre_checks[k] for k in PASSED_PRE_CHECKS} == PASSED_PRE_CHECKS
    assert queries(trial) == []


def test_dose_out_of_tolerance_needs_investigator_override_with_a_reason(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    too_much = infusion(pid, 70_000_000)
    with refused("procedure.needs_override", kind=RuleViolation) as caught:
        _record(trial, too_much)
    assert "outside" in str(caught.value) and "investigator may override" in str(caught.value)
    reason = "extra vial thawed; PI judged safe"
    overridden = infusion(pid, 70_000_000, override_reason=reason)
    with refused("auth.needs_role", kind=PermissionDenied) as caught:
        _record(trial, overridden)
    assert "investigator" in str(caught.value)
    with refused("input.reason_required", kind=InvalidInput):
        _record(trial, infusion(pid, 70_000_000, override_reason="ok"), INVESTIGATOR)
    record = _record(trial, overridden, INVESTIGATOR)
    assert record.overridden and "outside" in record.problems[0]
    with Session(engine) as session:
        assert session.get_one(Procedure, record.procedure_id).override_reason == reason


def test_failed_or_untested_release_check_is_refused(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """A release test without a result stops the infusion even for an investigator giving a
    reason; a viability under its limit needs her override."""
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    untested = {k: v for k, v in RELEASED.items() if k != "mycoplasma"}
    with refused("procedure.blocked") as caught:
        _record(
            trial,
            infusion(pid, 58_000_000, release_results=untested, override_reason=OVERRIDE_REASON),
            INVESTIGATOR,
        )
    assert "mycoplasma" in str(caught.value)
    low_viability = infusion(pid, 58_000_000, viability_pct=75.0)
    with refused("procedure.needs_override") as caught:
        _record(trial, low_viability)
    assert "viability_pct" in str(caught.value)


def test_positive_iodine_test_blocks_even_with_override(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    allergic = {**PASSED_PRE_CHECKS, "iodine_allergy_test": "positive"}
    blocked = infusion(pid, 58_000_000, pre_checks=allergic, override_reason=OVERRIDE_REASON)
    with refused("procedure.blocked") as caught:
        _record(trial, blocked, INVESTIGATOR)
    assert "Iodine (contrast) allergy test" in str(caught.value)


def test_control_arm_has_no_infusion_and_single_intervention(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    control = allocated(trial, "c1", "control")
    with refused("procedure.not_in_arm", field="procedure_id"):
        _record(trial, infusion(control, 58_000_000))
    pid = allocated(trial, "c2", "hbmsc")
    _record(trial, infusion(pid, 58_000_000))
    with refused("procedure.once") as caught:
        _record(trial, infusion(pid, 58_000_000))
    assert "Single intervention" in str(caught.value)
    with Session(engine) as session:
        assert len(session.scalars(select(Procedure)).all()) == 1


def test_infusion_off_day_10_opens_a_window_query(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    late = infusion(pid, 58_000_000, procedure_date=dt.date(2025, 10, 18))
    record = _record(trial, late)
    (query,) = queries(trial)
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
    coordinator = trial.actor(COORDINATOR)
    pid = allocated(trial, "c1", "control")
    course = MedicationInput(
        participant_id=pid,
        regimen_id="tx_dydrogesterone",
        taken_on=dt.date(2025, 11, 2),
        doses_taken=19,
        days=10,
    )
    record_medication(trial.study, coordinator, course)
    assert queries(trial) == []
    early = MedicationInput(
        participant_id=pid,
        regimen_id="tx_dydrogesterone",
        taken_on=dt.date(2025, 10, 10),
        doses_taken=2,
    )
    early_id = record_medication(trial.study, coordinator, early)
    (query,) = queries(trial)
    assert (query.entity, query.row_id, query.field) == (
        "medication_records",
        str(early_id),
        "first_day",
    )
    assert query.opened_by == "edit_check:medication_days"
    assert "cycle days 19-28 (2025-10-24 to 2025-11-02 for her)" in query.text
    too_many = MedicationInput(
        participant_id=pid,
        regimen_id="tx_estradiol_valerate",
        taken_on=dt.date(2025, 10, 10),
        doses_taken=3,
    )
    with refused("medication.doses", field="doses_taken") as caught:
        record_medication(trial.study, coordinator, too_many)
    assert "between 0 and 2" in str(caught.value)
