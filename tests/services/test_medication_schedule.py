"""Medication is checked against the drug's days in her own schedule, which follows her dates."""

import datetime as dt

from services_helpers import (
    COORDINATOR,
    TRANSFER_DAY,
    allocated,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine

from endotrial.protocol import Protocol
from endotrial.services import (
    MedicationInput,
    TransferInput,
    list_queries,
    record_medication,
    record_transfer,
)


def test_luteal_support_moves_with_a_late_transfer(engine: Engine, seed_protocol: Protocol) -> None:
    """Transfer a week late (estradiol extended): luteal support, tied to 10 weeks' gestation,
    may run until transfer + 51 days; a day beyond opens a query naming her dates."""
    trial = set_up_trial(engine, seed_protocol)
    pid = start_transfer_cycle(trial, allocated(trial, "c1", "control"))
    late_transfer = TRANSFER_DAY + dt.timedelta(days=7)
    record_transfer(
        engine, seed_protocol, TransferInput(pid, late_transfer, ("4AB",)), user=COORDINATOR
    )
    ten_weeks = late_transfer + dt.timedelta(days=51)
    last_week = MedicationInput(pid, "fet_luteal_dydrogesterone", ten_weeks, 14, days=7)
    record_medication(engine, seed_protocol, last_week, user=COORDINATOR)
    assert list_queries(engine) == []
    beyond = MedicationInput(pid, "fet_luteal_dydrogesterone", ten_weeks + dt.timedelta(days=1), 2)
    record_medication(engine, seed_protocol, beyond, user=COORDINATOR)
    (query,) = list_queries(engine)
    assert f"to {ten_weeks} for her" in query.text and query.field == "taken_on"
