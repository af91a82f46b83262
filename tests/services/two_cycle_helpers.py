"""The single-arm, two-cycle protocol of tests/fixtures (a scaffold placed in each of two
cycles): one participant taken from screening to allocation, as the study team does it."""

import datetime as dt
from pathlib import Path
from typing import Any

from services_helpers import COORDINATOR, INVESTIGATOR, Trial

from endotrial.services import (
    AllocationInput,
    CandidateInput,
    ConsentInput,
    EnrolmentInput,
    allocate,
    enrol,
    record_consent,
    screen,
)

TWO_CYCLES = Path(__file__).parents[1] / "fixtures" / "protocols" / "two_cycle_placement.yaml"
SCREENED_ON = dt.date(2026, 3, 2)


def allocated_to_scaffold(trial: Trial, ref: str) -> int:
    """Screened, consented, enrolled and allocated to the scaffold arm on SCREENED_ON; no
    cycle started yet. Returns her participant id."""
    coordinator = trial.actor(COORDINATOR)
    items: dict[str, Any] = {"screening_date": SCREENED_ON, "age_years": 31, "thickness_mm": 5.0}
    record = screen(
        trial.study, coordinator, CandidateInput(candidate_ref=ref, items=items, site_id=1)
    )
    consent = ConsentInput(
        screening_id=record.screening_id,
        form_version="v1",
        consent_date=SCREENED_ON,
        taken_by=COORDINATOR,
    )
    pid = record_consent(trial.study, coordinator, consent)
    enrolment = EnrolmentInput(screening_id=record.screening_id, enrolled_on=SCREENED_ON)
    enrol(trial.study, coordinator, enrolment)
    allocation = AllocationInput(
        participant_id=pid, arm="scaffold", basis="single arm", allocated_on=SCREENED_ON
    )
    allocate(trial.study, trial.actor(INVESTIGATOR), allocation)
    return pid
