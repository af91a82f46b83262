"""A schedule as a terminal table, as JSON records, and as an iCalendar file.

The three views show the same facts; the calendar is what a coordinator imports into the
participant's (or the site's) calendar application. Its UIDs are stable for one schedule (the
same participant and cycle start), so re-importing an updated schedule replaces the events
instead of duplicating them, and unique across schedules (they carry the participant's study id
and the cycle start), so several participants' calendars can share one clinic calendar.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from icalendar import Calendar, Event

from endotrial.errors import InputError
from endotrial.schedule.engine import Schedule, ScheduledEvent

#: What to measure at each event, by event id (`outcomes.measures.measures_to_take`).
Measures = Mapping[str, Sequence[str]]
PRODID = "-//endotrial//schedule//EN"
_HEADERS = ("date", "window", "cycle day", "event", "status")
_STUDY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")


def checked_participant(label: str | None) -> str | None:
    """A participant's study id as it may appear in a calendar, or an error.

    The calendar leaves the trial's systems (it is imported into clinic and personal calendars),
    so it may carry a pseudonymous study id but never a name: a study id is one word of letters,
    digits, '-', '_' or '.', with at least one digit.
    """
    if label is None:
        return None
    text = label.strip()
    if not _STUDY_ID.fullmatch(text) or not any(ch.isdigit() for ch in text):
        raise InputError(
            f"participant '{label}' is not a study id: give her study id (one word of letters, "
            "digits, '-', '_' or '.', with at least one digit, e.g. P-017), never her name"
        )
    return text


def schedule_records(
    schedule: Schedule, participant: str | None = None, *, measures: Measures | None = None
) -> list[dict[str, Any]]:
    """One plain dict per event, dates as ISO strings, ready for `json.dumps`; an event where
    the protocol asks for measurements lists them under `measures`."""
    participant = checked_participant(participant)
    records = []
    for event in schedule:
        record = _record(schedule, event, participant)
        if measures and measures.get(event.id):
            record["measures"] = list(measures[event.id])
        records.append(record)
    return records


def render_schedule_json(
    schedule: Schedule, participant: str | None = None, *, measures: Measures | None = None
) -> str:
    records = schedule_records(schedule, participant, measures=measures)
    return json.dumps(records, indent=2, ensure_ascii=False)


def _record(schedule: Schedule, event: ScheduledEvent, participant: str | None) -> dict[str, Any]:
    return {
        "protocol_id": schedule.protocol_id,
        "participant": participant,
        "arm": schedule.arm_id,
        "id": event.id,
        "label": event.label,
        "kind": event.kind,
        "source": event.source,
        "date": event.date.isoformat(),
        "planned_date": event.planned_date.isoformat(),
        "earliest": event.earliest.isoformat(),
        "latest": event.latest.isoformat(),
        "actual": event.actual,
        "in_window": event.in_window,
        "anchor": event.anchor,
        "offset_days": event.offset_days,
        "cycle": event.cycle,
        "cycle_day": event.cycle_day,
        "condition": event.condition,
        "note": event.note,
    }


def render_schedule_table(
    schedule: Schedule, participant: str | None = None, *, measures: Measures | None = None
) -> str:
    """Aligned plain-text columns, narrow enough for a terminal.

    A condition goes on its own indented line under the event, and so do the measurements the
    protocol asks for there (`measures`); notes are left to the JSON and calendar views. Given
    dates are marked, and so is an actual date outside its window.
    """
    rows = [_HEADERS, *(_row(event) for event in schedule)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS))]
    indent = sum(widths[:3]) + 2 * 3

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    lines = [line(_HEADERS), "  ".join("-" * w for w in widths)]
    for event, row in zip(schedule, rows[1:], strict=True):
        lines.append(line(row))
        if event.condition:
            lines.append(" " * indent + f"  only if: {event.condition}")
        if measures and measures.get(event.id):
            lines.append(" " * indent + f"  measure: {', '.join(measures[event.id])}")
    participant = checked_participant(participant)
    title = f"{schedule.protocol_id} — arm {schedule.arm_id} ({schedule.arm_label})"
    if participant:
        title = f"{title} — participant {participant}"
    return "\n".join([title, "", *lines]) + "\n"


def _row(event: ScheduledEvent) -> tuple[str, str, str, str, str]:
    day = f"{event.cycle} {event.cycle_day}" if event.cycle_day is not None else ""
    return (event.date.isoformat(), _window(event), day, event.label, _status(event))


def _status(event: ScheduledEvent) -> str:
    if not event.actual:
        return ""
    status = "given" if event.anchor is None else "actual"
    return status if event.in_window else f"{status}, OUT OF WINDOW"


def _window(event: ScheduledEvent) -> str:
    if event.earliest == event.latest == event.date:
        return ""
    return f"{event.earliest.isoformat()} – {event.latest.isoformat()}"


def render_schedule_ics(
    schedule: Schedule,
    stamp: dt.datetime | None = None,
    participant: str | None = None,
    *,
    measures: Measures | None = None,
) -> bytes:
    """An iCalendar (RFC 5545) file: one all-day VEVENT per event.

    `stamp` (DTSTAMP) defaults to now; pass a fixed time for byte-identical output.
    `participant` (a study id, never a name) goes into every summary and UID; without it, two
    participants of one arm starting on the same day share UIDs, so give it whenever calendars
    of several participants are imported into one.
    """
    participant = checked_participant(participant)
    stamp = stamp or dt.datetime.now(dt.UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    name = f"{schedule.protocol_id} — arm {schedule.arm_id}"
    calendar.add("x-wr-calname", f"{name} — {participant}" if participant else name)
    prefix = _uid_prefix(schedule, participant)
    for event in schedule:
        to_measure = measures.get(event.id, ()) if measures else ()
        vevent = _vevent(schedule, event, stamp.astimezone(dt.UTC), prefix, participant, to_measure)
        calendar.add_component(vevent)
    return bytes(calendar.to_ical())


def _uid_prefix(schedule: Schedule, participant: str | None) -> str:
    """protocol-arm[-participant]-cyclestart: one per schedule, the same when it is updated."""
    roots = [e.planned_date for e in schedule if e.anchor is None] or [e.date for e in schedule]
    cycle_start = f"{min(roots):%Y%m%d}" if roots else "undated"
    parts = [schedule.protocol_id, schedule.arm_id, participant, cycle_start]
    return "-".join(part for part in parts if part)


def _vevent(
    schedule: Schedule,
    event: ScheduledEvent,
    stamp: dt.datetime,
    uid_prefix: str,
    participant: str | None,
    to_measure: Sequence[str] = (),
) -> Event:
    vevent = Event()
    vevent.add("uid", f"{uid_prefix}-{event.id}@endotrial")
    vevent.add("dtstamp", stamp)
    vevent.add("dtstart", event.date)
    vevent.add("dtend", event.date + dt.timedelta(days=1))
    vevent.add("summary", f"{participant}: {event.label}" if participant else event.label)
    description = _description(schedule, event, participant)
    if to_measure:
        description = f"{description}\nMeasure: {', '.join(to_measure)}"
    vevent.add("description", description)
    vevent.add("categories", [event.kind])
    vevent.add("transp", "TRANSPARENT")
    return vevent


def _description(schedule: Schedule, event: ScheduledEvent, participant: str | None) -> str:
    lines = [f"Window: {event.earliest.isoformat()} to {event.latest.isoformat()}"]
    if event.actual and event.planned_date != event.date:
        lines.append(f"Actual date; planned {event.planned_date.isoformat()}")
    elif event.actual:
        lines.append("Date given by the site")
    if event.condition:
        lines.append(f"Condition: {event.condition}")
    if event.cycle_day is not None:
        lines.append(f"Cycle: {event.cycle}, day {event.cycle_day}")
    if event.anchor:
        lines.append(f"Anchor: {event.anchor} {event.offset_days:+d} days")
    if event.note:
        lines.append(f"Note: {event.note}")
    if participant:
        lines.append(f"Participant: {participant}")
    lines.append(f"Arm: {schedule.arm_id} ({schedule.arm_label})")
    lines.append(f"Protocol: {schedule.protocol_id}")
    return "\n".join(lines)
