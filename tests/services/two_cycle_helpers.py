"""The single-arm, two-cycle protocol of tests/fixtures (a scaffold placed in each of two
cycles): one participant taken from screening to allocation, as the study team does it."""

import datetime as dt
from pathlib import Path
from typing import Any

from services_helpers import COORDINATOR, Trial, allocated_from_screening

from endotrial.services import CandidateInput, screen

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
    return allocated_from_screening(
        trial, record.screening_id, "scaffold", on=SCREENED_ON, basis="single arm"
    )
