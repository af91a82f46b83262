"""The services run a different protocol (other cycle, arms, items, schedule, pre-checks)
unchanged: they know no trial by name."""

import datetime as dt

from services_helpers import (
    COORDINATOR,
    RADIOLOGIST,
    Trial,
    allocated_from_screening,
    queries,
    refused,
    set_up_trial,
)
from sqlalchemy import Engine

from endotrial.protocol import Protocol
from endotrial.services import (
    CandidateInput,
    CycleStartInput,
    MedicationInput,
    ProcedureInput,
    UltrasoundInput,
    record_medication,
    record_procedure,
    record_ultrasound,
    screen,
    start_cycle,
)

SCREENED_ON = dt.date(2026, 3, 2)
CYCLE_DAY_1 = dt.date(2026, 3, 9)


def _candidate(**changes: object) -> dict[str, object]:
    items: dict[str, object] = {
        "screening_date": SCREENED_ON,
        "age_years": 33,
        "thickness_mm": 5.8,
        "scan_date": dt.date(2026, 2, 20),
        "amh_ng_ml": 2.4,
        "smoker": "never",
        "latex_allergy": False,
    }
    return {**items, **changes}


def _allocated_to_the_scaffold(trial: Trial) -> int:
    coordinator = trial.actor(COORDINATOR)
    candidate = CandidateInput(candidate_ref="t1", items=_candidate(), site_id=trial.site_id)
    record = screen(trial.study, coordinator, candidate)
    assert record.eligible_arms == ("hrt_only", "scaffold_msc")
    return allocated_from_screening(
        trial, record.screening_id, "scaffold_msc", on=SCREENED_ON, basis="randomised",
        form_version="v2",
    )  # fmt: skip


def _cycle_start(participant_id: int, cycle: str) -> CycleStartInput:
    return CycleStartInput(participant_id=participant_id, cycle=cycle, start_date=CYCLE_DAY_1)


def test_a_participant_of_the_second_protocol_from_screening_to_medication(
    engine: Engine, second_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, second_protocol)
    coordinator = trial.actor(COORDINATOR)
    participant_id = _allocated_to_the_scaffold(trial)
    with refused("protocol.unknown", field="cycle") as caught:
        start_cycle(trial.study, coordinator, _cycle_start(participant_id, "treatment"))
    assert caught.value.params["known"] == ["main"]
    assert "no cycle 'treatment': use one of main" in str(caught.value)
    start_cycle(trial.study, coordinator, _cycle_start(participant_id, "main"))
    # Baseline scan on cycle day 8 (window ±1): day 11 is out of it and opens a query.
    late_scan = UltrasoundInput(
        participant_id=participant_id,
        scan_date=CYCLE_DAY_1 + dt.timedelta(days=10),
        thickness_mm=6.4,
        trilaminar=True,
        event_id="baseline_scan",
    )
    record_ultrasound(trial.study, coordinator, late_scan)
    # The patch runs on cycle days 3-24: days 1-2 open a query too.
    early_patch = MedicationInput(
        participant_id=participant_id,
        regimen_id="e2_patch",
        taken_on=CYCLE_DAY_1 + dt.timedelta(days=1),
        doses_taken=2,
        days=2,
    )
    record_medication(trial.study, coordinator, early_patch)
    checks = sorted(q.opened_by for q in queries(trial))
    assert checks == ["edit_check:medication_days", "edit_check:visit_window"]


def test_the_second_protocols_pre_check_and_dose_rule_decide_its_procedure(
    engine: Engine, second_protocol: Protocol
) -> None:
    """Its own pre-check (a pregnancy test, coded negative/positive) guards its own procedure,
    and its own dose rule (2×10⁶ cells/kg, capped) gives the dose."""
    trial = set_up_trial(engine, second_protocol)
    participant_id = _allocated_to_the_scaffold(trial)
    start_cycle(trial.study, trial.actor(COORDINATOR), _cycle_start(participant_id, "main"))

    def placement(pre_checks: dict[str, str]) -> ProcedureInput:
        return ProcedureInput(
            participant_id=participant_id,
            procedure_date=CYCLE_DAY_1 + dt.timedelta(days=11),
            weight_kg=60.0,
            viability_pct=95.0,
            dose_given_cells=120_000_000,
            release_results={"sterility": "negative"},
            pre_checks=pre_checks,
            cell_lot="LOT-7",
        )

    radiologist = trial.actor(RADIOLOGIST)
    with refused("procedure.pre_check_unknown", field="pre_checks.iodine_allergy_test"):
        record_procedure(trial.study, radiologist, placement({"iodine_allergy_test": "negative"}))
    with refused("procedure.blocked") as caught:
        record_procedure(trial.study, radiologist, placement({"pregnancy_test": "positive"}))
    assert "Urine pregnancy test" in str(caught.value)
    record = record_procedure(trial.study, radiologist, placement({"pregnancy_test": "negative"}))
    assert record.plan.dose_viable_cells == 120_000_000 and record.plan.volume_ml == 10
    assert queries(trial) == []
