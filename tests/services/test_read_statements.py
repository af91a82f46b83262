"""Issue 10: her page's records are read in a number of SQL statements that does not grow with
her records: one query per record table and one for the audit history of all her fields (not
one per table, nor per record or field). Her whole page reads each of her tables once: its
summary, timeline and outcomes are made from the rows her records show."""

import datetime as dt

from services_helpers import (
    COORDINATOR,
    DAY_10,
    MONITOR,
    TREATMENT_START,
    Trial,
    allocated,
    counting_statements,
    set_up_trial,
)
from sqlalchemy import Engine

from endotrial.protocol import Protocol
from endotrial.services import (
    AdverseEventInput,
    MedicationInput,
    UltrasoundInput,
    participant_page,
    participant_records,
    record_medication,
    record_ultrasound,
    report_adverse_event,
)
from endotrial.services.reads.participant_page import RECENT_PAGES

DAY = dt.timedelta(days=1)
SCANS = 12


def _busy(trial: Trial) -> int:
    """A participant with many records in many tables, each with its audit history."""
    pid = allocated(trial, "c2", "control")
    coordinator = trial.actor(COORDINATOR)
    for scan in range(SCANS):
        on = TREATMENT_START + (scan + 1) * DAY
        record_ultrasound(
            trial.study, coordinator,
            UltrasoundInput(participant_id=pid, scan_date=on, thickness_mm=5.0 + scan / 10),
        )  # fmt: skip
    course = MedicationInput(
        participant_id=pid, regimen_id="tx_estradiol_valerate",
        taken_on=TREATMENT_START + 27 * DAY, doses_taken=56, days=28,
    )  # fmt: skip
    record_medication(trial.study, coordinator, course)
    event_ = AdverseEventInput(
        participant_id=pid, term="Hematoma", ctcae_grade=3, serious=True, onset_date=DAY_10
    )
    report_adverse_event(trial.study, coordinator, event_)
    return pid


def test_her_records_take_as_many_statements_however_many_she_has(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    quiet, busy = allocated(trial, "c1", "control"), _busy(trial)
    monitor = trial.actor(MONITOR)
    participant_records(trial.study, monitor, quiet)  # the protocol check, once per engine
    with counting_statements(engine) as sent:
        few = participant_records(trial.study, monitor, quiet)
        for_few = sent()
    with counting_statements(engine) as sent:
        many = participant_records(trial.study, monitor, busy)
        for_many = sent()
    tables = {r.entity for r in many}
    assert len(many) >= len(few) + SCANS + 2 and len(tables) > len({r.entity for r in few})
    assert sum(r.entity == "ultrasounds" for r in many) == SCANS
    scan = next(r for r in many if r.entity == "ultrasounds")
    thickness = next(f for f in scan.fields if f.name == "thickness_mm")
    assert [(h.action, h.new_value) for h in thickness.history] == [("insert", thickness.value)]
    assert for_many == for_few


#: Her page read (not kept: test_page_cache): sign-in (3), the trail's tip (1), she may be
#: read (1), her site (1), her tables (14: her participant row is the one just read), her
#: fields' history (1), her queries (1), her lock (1). Was 46 when each part read her tables
#: again.
PAGE_STATEMENTS = 23


def test_her_page_reads_each_table_once_however_many_records_she_has(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    quiet, busy = allocated(trial, "c1", "control"), _busy(trial)
    coordinator = trial.actor(COORDINATOR)
    participant_page(trial.study, coordinator, quiet)  # the protocol check, once per engine
    sent_for = {}
    for pid in (quiet, busy):
        RECENT_PAGES.clear()
        with counting_statements(engine) as sent:
            shown = participant_page(trial.study, coordinator, pid)
            sent_for[pid] = sent()
    assert shown.summary.counts.ultrasounds == SCANS and shown.summary.counts.adverse_events == 1
    assert sent_for[quiet] == sent_for[busy] == PAGE_STATEMENTS
