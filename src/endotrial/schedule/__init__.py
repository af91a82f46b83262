"""The schedule engine: protocol anchors, offsets and windows → one participant's calendar."""

from endotrial.schedule.engine import Schedule, ScheduledEvent, build_schedule
from endotrial.schedule.render import (
    render_schedule_ics,
    render_schedule_json,
    render_schedule_table,
    schedule_records,
)

__all__ = [
    "Schedule",
    "ScheduledEvent",
    "build_schedule",
    "render_schedule_ics",
    "render_schedule_json",
    "render_schedule_table",
    "schedule_records",
]
