"""A schedule as a terminal table, as JSON records, and as an iCalendar file.

The three views show the same facts; the calendar is what a coordinator imports into the
participant's (or the site's) calendar application, so its UIDs are stable: re-importing an
updated schedule replaces the events instead of duplicating them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from icalendar import Calendar, Event

from endotrial.schedule.engine import Schedule, ScheduledEvent

PRODID = "-//endotrial//schedule//EN"
_HEADERS = ("date", "window", "cycle day", "event", "status")


def schedule_records(schedule: Schedule) -> list[dict[str, Any]]:
    """One plain dict per event, dates as ISO strings, ready for `json.dumps`."""
    return [_record(schedule, event) for event in schedule]


def render_schedule_json(schedule: Schedule) -> str:
    return json.dumps(schedule_records(schedule), indent=2, ensure_ascii=False)


def _record(schedule: Schedule, event: ScheduledEvent) -> dict[str, Any]:
    return {
        "protocol_id": schedule.protocol_id,
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


def render_schedule_table(schedule: Schedule) -> str:
    """Aligned plain-text columns, narrow enough for a terminal.

    A condition goes on its own indented line under the event; notes are left to the JSON and
    calendar views. Given dates are marked, and so is an actual date outside its window.
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
    title = f"{schedule.protocol_id} — arm {schedule.arm_id} ({schedule.arm_label})"
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


def render_schedule_ics(schedule: Schedule, stamp: dt.datetime | None = None) -> bytes:
    """An iCalendar (RFC 5545) file: one all-day VEVENT per event.

    `stamp` (DTSTAMP) defaults to now; pass a fixed time for byte-identical output.
    """
    stamp = stamp or dt.datetime.now(dt.UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{schedule.protocol_id} — arm {schedule.arm_id}")
    for event in schedule:
        calendar.add_component(_vevent(schedule, event, stamp.astimezone(dt.UTC)))
    return bytes(calendar.to_ical())


def _vevent(schedule: Schedule, event: ScheduledEvent, stamp: dt.datetime) -> Event:
    vevent = Event()
    vevent.add("uid", f"{schedule.protocol_id}-{schedule.arm_id}-{event.id}@endotrial")
    vevent.add("dtstamp", stamp)
    vevent.add("dtstart", event.date)
    vevent.add("dtend", event.date + dt.timedelta(days=1))
    vevent.add("summary", event.label)
    vevent.add("description", _description(schedule, event))
    vevent.add("categories", [event.kind])
    vevent.add("transp", "TRANSPARENT")
    return vevent


def _description(schedule: Schedule, event: ScheduledEvent) -> str:
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
    lines.append(f"Arm: {schedule.arm_id} ({schedule.arm_label})")
    lines.append(f"Protocol: {schedule.protocol_id}")
    return "\n".join(lines)
