"""The services run a different protocol (other cycle, arms, items, schedule) unchanged: they
know no trial by name."""

import datetime as dt

import pytest
from services_helpers import COORDINATOR, INVESTIGATOR, set_up_trial
from sqlalchemy import Engine

from endotrial.protocol import Protocol
from endotrial.services import (
    AllocationInput,
    CandidateInput,
    ConsentInput,
    MedicationInput,
    RuleViolation,
    UltrasoundInput,
    allocate,
    enrol,
    list_queries,
    record_consent,
    record_medication,
    record_ultrasound,
    screen,
    start_cycle,
)

SCREENED_ON = dt.date(2026, 3, 2)
CYCLE_DAY_1 = dt.date(2026, 3, 9)


def _candidate(ref: str, **changes: object) -> dict[str, object]:
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


def test_a_participant_of_the_second_protocol_from_screening_to_medication(
    engine: Engine, second_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, second_protocol)
    record = screen(
        engine,
        second_protocol,
        CandidateInput("t1", _candidate("t1"), trial.site_id),
        user=COORDINATOR,
    )
    assert record.eligible_arms == ("hrt_only", "scaffold_msc")
    consent = ConsentInput(record.screening_id, "v2", SCREENED_ON, COORDINATOR)
    participant_id = record_consent(engine, consent, user=COORDINATOR)
    enrol(
        engine,
        second_protocol,
        screening_id=record.screening_id,
        enrolled_on=SCREENED_ON,
        user=COORDINATOR,
    )
    allocation = AllocationInput(participant_id, "scaffold_msc", "randomised", SCREENED_ON)
    allocate(engine, second_protocol, allocation, user=INVESTIGATOR)
    with pytest.raises(RuleViolation, match=r"no cycle 'treatment': use one of \['main'\]"):
        start_cycle(
            engine,
            second_protocol,
            participant_id=participant_id,
            cycle="treatment",
            start_date=CYCLE_DAY_1,
            user=COORDINATOR,
        )
    start_cycle(
        engine,
        second_protocol,
        participant_id=participant_id,
        cycle="main",
        start_date=CYCLE_DAY_1,
        user=COORDINATOR,
    )
    # Baseline scan on cycle day 8 (window ±1): day 11 is out of it and opens a query.
    late_scan = UltrasoundInput(
        participant_id, CYCLE_DAY_1 + dt.timedelta(days=10), 6.4, True, "baseline_scan"
    )
    record_ultrasound(engine, second_protocol, late_scan, user=COORDINATOR)
    # The patch runs on cycle days 3-24: days 1-2 open a query too.
    early_patch = MedicationInput(
        participant_id, "e2_patch", CYCLE_DAY_1 + dt.timedelta(days=1), 2, days=2
    )
    record_medication(engine, second_protocol, early_patch, user=COORDINATOR)
    checks = sorted(q.opened_by for q in list_queries(engine))
    assert checks == ["edit_check:medication_days", "edit_check:visit_window"]
