"""Her dated records, loaded in bulk for many participants at once (one query per table), and
what each says was done: the facts a timeline matches to the scheduled events."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, Select, bindparam, select
from sqlalchemy.orm import Session

from endotrial.protocol.models import Protocol
from endotrial.schedule.engine import observation_event_id, procedure_event_id
from endotrial.services._common import Administration, administration
from endotrial.store import (
    Cycle,
    EmbryoTransfer,
    Measurement,
    MedicationRecord,
    Participant,
    PregnancyOutcome,
    Procedure,
    Ultrasound,
    Visit,
    Withdrawal,
)

#: The schedule kind each date of a pregnancy outcome fulfils (the protocol's event kinds).
OUTCOME_DATES = (
    ("beta_hcg_date", "lab", "beta_hcg_event_id"),
    ("ultrasound_date", "ultrasound", "ultrasound_event_id"),
    ("ongoing_date", "ultrasound", None),
    ("birth_date", "follow_up", None),
)


@dataclass(frozen=True)
class Fact:
    """Something recorded as done: on `on` (None: done, its own date not recorded), naming
    the scheduled event it fulfils (`event_id`), or only its kind (matched by window)."""

    record: str
    on: dt.date | None
    event_id: str | None = None
    kind: str | None = None
    period_end: bool = False
    """A medication period's last day: it fulfils the drug's stop only once the stop is near."""
    missed: bool = False
    """A visit recorded as not attended: its event is settled (missed), not fulfilled."""


@dataclass
class Records:
    """One participant's records that date her schedule or fulfil its events."""

    cycles: list[Cycle] = field(default_factory=list)
    procedures: list[Procedure] = field(default_factory=list)
    transfers: list[EmbryoTransfer] = field(default_factory=list)
    medication: list[MedicationRecord] = field(default_factory=list)
    ultrasounds: list[Ultrasound] = field(default_factory=list)
    outcomes: list[PregnancyOutcome] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    """Outcome measures' values: shown at their events, fulfilling none (a visit does)."""
    withdrawal: Withdrawal | None = None


#: The tables a timeline reads, the `Records` list each fills and the column it is ordered by
#: (then by id); a withdrawal is one row at most.
_DATED: tuple[tuple[Any, str, Any], ...] = (
    (Cycle, "cycles", Cycle.start_date),
    (Procedure, "procedures", Procedure.procedure_date),
    (EmbryoTransfer, "transfers", EmbryoTransfer.transfer_date),
    (MedicationRecord, "medication", MedicationRecord.last_day),
    (Ultrasound, "ultrasounds", Ultrasound.scan_date),
    (PregnancyOutcome, "outcomes", PregnancyOutcome.id),
    (Visit, "visits", Visit.visit_date),
    (Measurement, "measurements", Measurement.measured_date),
    (Withdrawal, "withdrawal", Withdrawal.id),
)


def load_records(session: Session, participant_ids: Sequence[int]) -> dict[int, Records]:
    """Every participant's records, by participant id (one query per table)."""
    found: defaultdict[int, Records] = defaultdict(Records)
    if not participant_ids:
        return {}
    wanted = sorted(set(participant_ids))
    for model, name, order in _DATED:
        # One participant (her page) by a statement built once per table, bound to her id.
        if len(wanted) == 1:
            rows = session.scalars(_hers(model, order), {"participant_id": wanted[0]})
        else:
            match = model.participant_id.in_(wanted)
            rows = session.scalars(select(model).where(match).order_by(order, model.id))
        for row in rows:
            _file(found[row.participant_id], name, row)
    return {pid: found[pid] for pid in wanted}


def records_from(rows: Sequence[Any]) -> Records:
    """One participant's records from her rows already read (any order, other tables' rows
    ignored), ordered as `load_records` orders them."""
    records = Records()
    for model, name, order in _DATED:
        mine = [row for row in rows if type(row) is model]
        for row in sorted(mine, key=lambda r: (getattr(r, order.key), r.id)):
            _file(records, name, row)
    return records


def _file(records: Records, name: str, row: Any) -> None:
    if name == "withdrawal":
        records.withdrawal = row
    else:
        getattr(records, name).append(row)


@functools.cache
def _hers(model: Any, order: Any) -> Select[Any]:
    """One participant's rows of `model` in `order`, her id bound as `participant_id`."""
    whose = model.participant_id == bindparam("participant_id", type_=Integer())
    return select(model).where(whose).order_by(order, model.id)


def anchors(protocol: Protocol, participant: Participant, records: Records) -> dict[str, dt.date]:
    """The recorded dates her schedule hangs from (as `services._common.actual_dates`): each
    cycle's start, each administration of a procedure, and a transfer done."""
    dates: dict[str, dt.date] = {}
    starts = {c.id: c.start_event for c in protocol.cycles}
    for cycle in records.cycles:
        if cycle.kind in starts:
            dates[starts[cycle.kind]] = cycle.start_date
    for given in _procedures_given(protocol, participant, records):
        dates.setdefault(given.administration.event_id, given.row.procedure_date)
    transfer_id = transfer_event(protocol)
    done = [t for t in records.transfers if not t.cancelled]
    if done and transfer_id is not None:
        dates[transfer_id] = done[0].transfer_date
    return dates


def transfer_event(protocol: Protocol) -> str | None:
    return next((e.id for e in protocol.schedule if e.kind == "transfer"), None)


def facts(protocol: Protocol, participant: Participant, records: Records) -> list[Fact]:
    """What her records say was done, each naming its event where the record keeps it."""
    found: list[Fact] = []
    starts = {c.id: c.start_event for c in protocol.cycles}
    for cycle in records.cycles:
        if cycle.kind in starts:
            found.append(Fact(f"cycles #{cycle.id}", cycle.start_date, starts[cycle.kind]))
    found += _procedure_facts(protocol, participant, records)
    transfer_id = transfer_event(protocol)
    for transfer in records.transfers:
        if not transfer.cancelled and transfer_id is not None:
            found.append(
                Fact(f"embryo_transfers #{transfer.id}", transfer.transfer_date, transfer_id)
            )
    found += _medication_facts(protocol, records.medication)
    for scan in records.ultrasounds:
        found.append(Fact(f"ultrasounds #{scan.id}", scan.scan_date, scan.event_id, "ultrasound"))
    for outcome in records.outcomes:
        for column, kind, event_column in OUTCOME_DATES:
            on = getattr(outcome, column)
            if on is not None:
                record = f"pregnancy_outcomes #{outcome.id} ({column})"
                event_id = getattr(outcome, event_column) if event_column else None
                found.append(Fact(record, on, event_id, kind))
    for visit in records.visits:
        record = f"visits #{visit.id}"
        found.append(Fact(record, visit.visit_date, visit.event_id, missed=not visit.attended))
    return found


@dataclass(frozen=True)
class _Given:
    """A procedure done, with the administration (schedule event) it fulfils."""

    row: Procedure
    administration: Administration


def _procedures_given(
    protocol: Protocol, participant: Participant, records: Records
) -> list[_Given]:
    """Each procedure done, fulfilling its administration in the cycle it is filed under
    (`services._common.administration`, which `actual_dates` shares)."""
    kinds = {c.id: c.kind for c in records.cycles}
    found = []
    for row in records.procedures:
        cycle = kinds.get(row.cycle_id) if row.cycle_id is not None else None
        given = administration(protocol, participant.arm, row.procedure_id, cycle)
        if given is not None:
            found.append(_Given(row, given))
    return found


def _procedure_facts(protocol: Protocol, participant: Participant, records: Records) -> list[Fact]:
    """The procedure done, with its pre-checks and observation, in the cycle it is filed under."""
    found = []
    for given in _procedures_given(protocol, participant, records):
        record = f"procedures #{given.row.id}"
        done = given.administration
        found.append(Fact(record, given.row.procedure_date, done.event_id))
        if done.spec is None or done.cycle is None:
            found.append(Fact(record, None, f"{done.event_id}_observation_end"))
            continue
        for check in done.spec.pre_checks:
            if check.id in given.row.pre_checks:  # recorded with it, undated
                check_event = procedure_event_id(done.spec, done.cycle, check.id)
                found.append(Fact(record, None, check_event))
        found.append(Fact(record, None, observation_event_id(done.spec, done.cycle)))
    return found


def _medication_facts(protocol: Protocol, rows: list[MedicationRecord]) -> list[Fact]:
    """A drug's start is fulfilled by the first day of its earliest period, its stop by the
    last day of its latest (the period's own `event_id` names its course, not one of the
    two)."""
    by_regimen: defaultdict[str, list[MedicationRecord]] = defaultdict(list)
    for row in rows:
        by_regimen[row.regimen_id].append(row)
    found = []
    per_day = {r.id: r.doses_per_day for r in protocol.regimens}
    for regimen_id, periods in by_regimen.items():
        first = min(periods, key=lambda r: (first_day(r, per_day.get(regimen_id, 1)), r.id))
        last = max(periods, key=lambda r: (r.last_day, r.id))
        start_on = first_day(first, per_day.get(regimen_id, 1))
        found.append(Fact(f"medication_records #{first.id}", start_on, f"{regimen_id}_start"))
        record = f"medication_records #{last.id}"
        found.append(Fact(record, last.last_day, f"{regimen_id}_stop", period_end=True))
    return found


def first_day(row: MedicationRecord, doses_per_day: int) -> dt.date:
    """A period's first day: as stored, or (before revision 0005 kept it) its last day less
    the days its planned doses cover."""
    if row.first_day is not None:
        return row.first_day
    days = max(row.doses_planned // max(doses_per_day, 1), 1)
    return row.last_day - dt.timedelta(days=days - 1)
