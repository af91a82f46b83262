"""A participant of the before-after test protocol (tests/fixtures/protocols/
thickness_before_after.yaml, shaped like NCT03724617), for the outcome-measure tests."""

import datetime as dt
from pathlib import Path
from typing import Any

from services_helpers import COORDINATOR, Trial, allocated_from_screening

from endotrial.protocol import Protocol, load_protocol
from endotrial.services import (
    CandidateInput,
    CycleStartInput,
    screen,
    start_cycle,
)

BEFORE_AFTER = Path(__file__).parents[1] / "fixtures" / "protocols" / "thickness_before_after.yaml"
SCREENED_ON = dt.date(2026, 3, 2)
MENSES = dt.date(2026, 3, 9)
BASELINE = MENSES + dt.timedelta(days=2)  # cycle day 3
PLACEMENT = MENSES + dt.timedelta(days=4)  # cycle day 5 (planned)
AT_3M = PLACEMENT + dt.timedelta(days=91)
AT_6M = PLACEMENT + dt.timedelta(days=182)


def before_after_protocol() -> Protocol:
    return load_protocol(BEFORE_AFTER)


def before_after_participant(trial: Trial, ref: str = "C-1", *, start: bool = True) -> int:
    """Screened, consented, enrolled, allocated (the single arm) and, with `start`, her
    placement cycle started on MENSES."""
    coordinator = trial.actor(COORDINATOR)
    items: dict[str, Any] = {"screening_date": SCREENED_ON, "age_years": 31, "thickness_mm": 4.1}
    candidate = CandidateInput(candidate_ref=ref, items=items, site_id=trial.site_id)
    record = screen(trial.study, coordinator, candidate)
    participant_id = allocated_from_screening(
        trial, record.screening_id, "scaffold", on=SCREENED_ON, basis="single arm"
    )
    if start:
        cycle = CycleStartInput(participant_id=participant_id, cycle="placement", start_date=MENSES)
        start_cycle(trial.study, coordinator, cycle)
    return participant_id
