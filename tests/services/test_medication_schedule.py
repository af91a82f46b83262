"""Medication is checked against the drug's days in her own schedule, which follows her dates."""

import datetime as dt

from services_helpers import (
    COORDINATOR,
    TRANSFER_DAY,
    allocated,
    queries,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine

from endotrial.protocol import Protocol
from endotrial.services import (
    MedicationInput,
    TransferInput,
    record_medication,
    record_transfer,
)


def test_luteal_support_moves_with_a_late_transfer(engine: Engine, seed_protocol: Protocol) -> None:
    """Transfer a week late (estradiol extended): luteal support, tied to 10 weeks' gestation,
    may run until transfer + 51 days; a day beyond opens a query naming her dates."""
    trial = set_up_trial(engine, seed_protocol)
    coordinator = trial.actor(COORDINATOR)
    pid = start_transfer_cycle(trial, allocated(trial, "c1", "control"))
    late_transfer = TRANSFER_DAY + dt.timedelta(days=7)
    transfer = TransferInput(participant_id=pid, transfer_date=late_transfer, embryo_grades=["4AB"])
    record_transfer(trial.study, coordinator, transfer)
    ten_weeks = late_transfer + dt.timedelta(days=51)
    last_week = MedicationInput(
        participant_id=pid,
        regimen_id="fet_luteal_dydrogesterone",
        taken_on=ten_weeks,
        doses_taken=14,
        days=7,
    )
    record_medication(trial.study, coordinator, last_week)
    assert queries(trial) == []
    beyond = MedicationInput(
        participant_id=pid,
        regimen_id="fet_luteal_dydrogesterone",
        taken_on=ten_weeks + dt.timedelta(days=1),
        doses_taken=2,
    )
    record_medication(trial.study, coordinator, beyond)
    (query,) = queries(trial)
    assert f"to {ten_weeks} for her" in query.text and query.field == "last_day"
