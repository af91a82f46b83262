"""Her timeline: every scheduled event of her arm, dated from her recorded anchors, with its
window and its state on a given day.

A record fulfils an event when it names it (a dated record's `event_id`; a cycle's start, a
procedure and its pre-checks, a transfer, a drug's first and last day name theirs by what they
are); a record of a database without event ids is matched by the event's kind and window,
late rather than early. An event is then:

- `done`: fulfilled within its window (or fulfilled where its own date is not recorded);
- `out_of_window`: fulfilled outside its window;
- `not_yet_due` / `due` / `overdue`: not fulfilled, and the day is before, inside or after
  its window;
- `missed`: recorded as a visit she did not attend (`record_visit` with attended False): settled,
  so neither due nor overdue, and not counted as done;
- `not_applicable`: not fulfilled and no longer expected: after her withdrawal, after a
  cancelled transfer (the transfer and everything hanging from it), or a conditional event
  ("only if: positive beta-hCG") whose window has passed (the protocol states the condition
  as text, so the engine cannot tell a missed visit from one that was not needed).

Each event also lists the measurements the protocol's outcome measures ask for there
(`measures`), each recorded or not: a measurement fulfils no event (the visit does), it is
shown at its event.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from endotrial.errors import InputError
from endotrial.outcomes.measures import MeasuredValue, measures_at
from endotrial.protocol.models import Protocol
from endotrial.schedule import ScheduledEvent, build_schedule
from endotrial.services._common import readable_participant
from endotrial.services._input import as_id
from endotrial.services.context import Actor, Study, Tx, reading
from endotrial.services.measurements import stored_value
from endotrial.services.permissions import Operation
from endotrial.services.reads._records import (
    Fact,
    Records,
    anchors,
    facts,
    load_records,
    transfer_event,
)
from endotrial.services.reads._scope import checked_date
from endotrial.store import Measurement, Participant

#: How far outside its window a record of a database without event ids may still be taken as
#: an event's (a visit four days late is that visit; one a month off is another).
MATCH_SLACK_DAYS = 14


class EventState(enum.StrEnum):
    DONE = "done"
    OUT_OF_WINDOW = "out_of_window"
    DUE = "due"
    OVERDUE = "overdue"
    NOT_YET_DUE = "not_yet_due"
    NOT_APPLICABLE = "not_applicable"
    MISSED = "missed"


@dataclass(frozen=True)
class MeasureAtEvent:
    """A data item the protocol asks to be measured at an event, and her value if recorded."""

    item: str
    measures: tuple[str, ...]
    """The outcome measures that ask for it there (by id)."""
    recorded: bool
    value: MeasuredValue | None
    measured_on: dt.date | None
    record: str | None
    """The measurement ("measurements #4"), if recorded."""


@dataclass(frozen=True)
class TimelineEvent:
    """One scheduled event of her timeline."""

    event_id: str
    label: str
    kind: str
    cycle: str | None
    cycle_day: int | None
    date: dt.date
    """Its actual date when her records anchor it, else its target."""
    planned_date: dt.date
    earliest: dt.date
    latest: dt.date
    state: EventState
    done_on: dt.date | None
    record: str | None
    """The record fulfilling it ("ultrasounds #12"), if any."""
    condition: str | None
    measures: tuple[MeasureAtEvent, ...] = ()
    """What the protocol asks to be measured at the event (its outcome measures)."""


@dataclass(frozen=True)
class Timeline:
    """Her schedule as of `on`; `events` is empty (and `undated_because` says why) until her
    arm and first cycle start are recorded."""

    participant_id: int
    study_id: str
    site_id: int
    arm: str | None
    on: dt.date
    events: tuple[TimelineEvent, ...]
    unscheduled: tuple[str, ...]
    """Records that fulfil no scheduled event (an extra scan)."""
    undated_because: str | None = None

    def count(self, state: EventState) -> int:
        return sum(event.state is state for event in self.events)

    @property
    def states(self) -> tuple[tuple[EventState, int], ...]:
        counts = Counter(event.state for event in self.events)
        return tuple((state, counts[state]) for state in EventState)


def participant_timeline(
    study: Study, actor: Actor, participant_id: int, *, on: dt.date | None = None
) -> Timeline:
    """Her timeline as of `on` (default: today at her site, in its time zone); another site's
    participant is not found."""
    participant_id = as_id(participant_id, "participant_id")
    wanted = checked_date(on)
    with reading(study, actor, Operation.READ_PARTICIPANTS) as tx:
        return timeline_of(tx, readable_participant(tx, participant_id), wanted)


def timeline_of(tx: Tx, participant: Participant, on: dt.date | None) -> Timeline:
    """Her timeline as of `on` (None: today at her site)."""
    records = load_records(tx.session, [participant.id])[participant.id]
    day = on or tx.site_today(participant.site_id)
    return build_timeline(tx.protocol, participant, records, day)


def build_timeline(
    protocol: Protocol, participant: Participant, records: Records, on: dt.date
) -> Timeline:
    """The timeline from her loaded records (no database access: many are built at once)."""
    shell = Timeline(
        participant.id, participant.study_id, participant.site_id, participant.arm, on, (), ()
    )
    if participant.arm is None:
        return _undated(shell, "she has no arm yet")
    try:
        schedule = build_schedule(
            protocol, participant.arm, anchors(protocol, participant, records)
        )
    except InputError:
        return _undated(shell, "her first cycle has not started")
    events = schedule.events
    matched, unscheduled = _match(events, facts(protocol, participant, records), on)
    closed = _closed(protocol, events, records, set(matched))
    measured = {(m.event_id, m.item): m for m in records.measurements}
    timeline = tuple(
        _event(e, matched.get(e.id), e.id in closed, on, _measures(protocol, e.id, measured))
        for e in events
    )
    return Timeline(
        participant.id, participant.study_id, participant.site_id, participant.arm, on,
        timeline, tuple(unscheduled),
    )  # fmt: skip


def _undated(shell: Timeline, why: str) -> Timeline:
    return Timeline(
        shell.participant_id, shell.study_id, shell.site_id, shell.arm, shell.on, (), (), why
    )


def _match(
    events: Sequence[ScheduledEvent], found: Sequence[Fact], on: dt.date
) -> tuple[dict[str, Fact], list[str]]:
    """Each event's fact: by the event id a record names, else by kind and window."""
    by_id = {e.id: e for e in events}
    matched: dict[str, Fact] = {}
    unscheduled: list[str] = []
    for fact in found:
        if fact.event_id is None:
            continue
        event = by_id.get(fact.event_id)
        if event is None or fact.event_id in matched:
            if fact.on is not None:  # a visit of no event of hers, or one made twice
                unscheduled.append(fact.record)
        elif _fulfils(fact, event, on):
            matched[fact.event_id] = fact
    generic = sorted((f for f in found if f.event_id is None), key=lambda f: (f.on, f.record))
    for fact in generic:
        event = _by_window(events, matched, fact)
        if event is None:
            unscheduled.append(fact.record)
        else:
            matched[event.id] = fact
    _aliases(events, matched)
    return matched, unscheduled


def _fulfils(fact: Fact, event: ScheduledEvent, on: dt.date) -> bool:
    """A drug's last recorded day is its stop once it reaches the stop's window, or once that
    window has passed (she stopped early); before, she may still be taking it."""
    if not fact.period_end or fact.on is None:
        return True
    return fact.on >= event.earliest or on > event.latest


def _by_window(
    events: Sequence[ScheduledEvent], matched: dict[str, Fact], fact: Fact
) -> ScheduledEvent | None:
    """The open event of the fact's kind whose window holds its date; else the earliest one
    it is late for; else the nearest it is early for (within MATCH_SLACK_DAYS)."""
    assert fact.on is not None
    day = fact.on
    open_ = [e for e in events if e.kind == fact.kind and e.id not in matched]
    inside = [e for e in open_ if e.earliest <= day <= e.latest]
    if inside:
        return min(inside, key=lambda e: abs((e.planned_date - day).days))
    late = [e for e in open_ if e.latest < day <= e.latest + dt.timedelta(MATCH_SLACK_DAYS)]
    if late:
        return min(late, key=lambda e: e.planned_date)
    early = [e for e in open_ if e.earliest - dt.timedelta(MATCH_SLACK_DAYS) <= day < e.earliest]
    return min(early, key=lambda e: e.planned_date) if early else None


def _aliases(events: Sequence[ScheduledEvent], matched: dict[str, Fact]) -> None:
    """A listed event that a drug starts or stops on (offset 0: 'luteal support starts') is
    done when that drug's start or stop is."""
    for event in events:
        if event.id in matched:
            continue
        for other in events:
            fact = matched.get(other.id)
            starts_here = other.anchor == event.id and other.offset_days == 0
            if other.source == "regimen" and starts_here and fact is not None:
                matched[event.id] = fact
                break


def _closed(
    protocol: Protocol, events: Sequence[ScheduledEvent], records: Records, done: set[str]
) -> set[str]:
    """Events no longer expected: those after her withdrawal; and once her transfer was
    cancelled, the transfer and everything hanging from the first of its anchors not done
    (luteal support that was never started because the endometrium stayed thin)."""
    closed: set[str] = set()
    if records.withdrawal is not None:
        withdrawn_on = records.withdrawal.withdrawn_on
        closed |= {e.id for e in events if e.latest >= withdrawn_on}
    transfer_id = transfer_event(protocol)
    cancelled = records.transfers and all(t.cancelled for t in records.transfers)
    if cancelled and transfer_id is not None:
        anchor_of = {e.id: e.anchor for e in events}
        root = transfer_id
        while (anchor := anchor_of.get(root)) is not None and anchor not in done:
            root = anchor
        closed |= {e.id for e in events if _hangs_from(e.id, root, anchor_of)}
    return closed


def _hangs_from(event_id: str, root: str, anchor_of: dict[str, str | None]) -> bool:
    current: str | None = event_id
    seen: set[str] = set()
    while current is not None and current not in seen:
        if current == root:
            return True
        seen.add(current)
        current = anchor_of.get(current)
    return False


def _measures(
    protocol: Protocol, event_id: str, measured: dict[tuple[str, str], Measurement]
) -> tuple[MeasureAtEvent, ...]:
    """The items asked for at the event (in the protocol's order), each with her value."""
    asked: dict[str, list[str]] = {}
    for measure in measures_at(protocol, event_id):
        asked.setdefault(measure.item, []).append(measure.id)
    shown: list[MeasureAtEvent] = []
    for item, measure_ids in asked.items():
        row = measured.get((event_id, item))
        if row is None:
            shown.append(MeasureAtEvent(item, tuple(measure_ids), False, None, None, None))
            continue
        value, record = stored_value(row), f"measurements #{row.id}"
        shown.append(
            MeasureAtEvent(item, tuple(measure_ids), True, value, row.measured_date, record)
        )
    return tuple(shown)


def _event(
    event: ScheduledEvent,
    fact: Fact | None,
    closed: bool,
    on: dt.date,
    measures: tuple[MeasureAtEvent, ...] = (),
) -> TimelineEvent:
    return TimelineEvent(
        event_id=event.id,
        label=event.label,
        kind=event.kind,
        cycle=event.cycle,
        cycle_day=event.cycle_day,
        date=event.date,
        planned_date=event.planned_date,
        earliest=event.earliest,
        latest=event.latest,
        state=_state(event, fact, closed, on),
        done_on=fact.on if fact is not None and not fact.missed else None,
        record=fact.record if fact is not None else None,
        condition=event.condition,
        measures=measures,
    )


def _state(event: ScheduledEvent, fact: Fact | None, closed: bool, on: dt.date) -> EventState:
    if fact is not None:
        if fact.missed:
            return EventState.MISSED
        if fact.on is None or event.earliest <= fact.on <= event.latest:
            return EventState.DONE
        return EventState.OUT_OF_WINDOW
    if closed or (event.condition is not None and on > event.latest):
        return EventState.NOT_APPLICABLE
    if on < event.earliest:
        return EventState.NOT_YET_DUE
    if on <= event.latest:
        return EventState.DUE
    return EventState.OVERDUE


def timelines(
    protocol: Protocol,
    participants: Sequence[Participant],
    records: dict[int, Records],
    day_at: Callable[[int], dt.date],
) -> list[Timeline]:
    """Many participants' timelines from records loaded together, each as of her site's day."""
    return [
        build_timeline(protocol, p, records.get(p.id, Records()), day_at(p.site_id))
        for p in participants
    ]
