"""A participant of the before-after test protocol (tests/fixtures/protocols/
thickness_before_after.yaml, shaped like NCT03724617), for the outcome-measure tests."""

import datetime as dt
from pathlib import Path
from typing import Any

from services_helpers import COORDINATOR, INVESTIGATOR, Trial

from endotrial.protocol import Protocol, load_protocol
from endotrial.services import (
    AllocationInput,
    CandidateInput,
    ConsentInput,
    CycleStartInput,
    EnrolmentInput,
    allocate,
    enrol,
    record_consent,
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
    consent = ConsentInput(
        screening_id=record.screening_id,
        form_version="v1",
        consent_date=SCREENED_ON,
        taken_by=COORDINATOR,
    )
    participant_id = record_consent(trial.study, coordinator, consent)
    enrolment = EnrolmentInput(screening_id=record.screening_id, enrolled_on=SCREENED_ON)
    enrol(trial.study, coordinator, enrolment)
    allocation = AllocationInput(
        participant_id=participant_id, arm="scaffold", basis="single arm", allocated_on=SCREENED_ON
    )
    allocate(trial.study, trial.actor(INVESTIGATOR), allocation)
    if start:
        cycle = CycleStartInput(participant_id=participant_id, cycle="placement", start_date=MENSES)
        start_cycle(trial.study, coordinator, cycle)
    return participant_id
