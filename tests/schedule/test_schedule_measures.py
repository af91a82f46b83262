"""The schedule shows the measurements the protocol's outcome measures ask for at each event
(issue 9, finding 8): `endotrial schedule` prints them under the event, the JSON and the
calendar carry them; a protocol without outcome measures prints as before."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from icalendar import Calendar
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.outcomes.measures import measures_to_take
from endotrial.protocol import Protocol, load_protocol
from endotrial.schedule import build_schedule
from endotrial.schedule.render import (
    render_schedule_ics,
    render_schedule_json,
    render_schedule_table,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "protocols" / "thickness_before_after.yaml"
MENSES = dt.date(2026, 3, 9)


def _before_after() -> Protocol:
    return load_protocol(FIXTURE)


def test_what_to_measure_at_each_event_names_the_item_with_its_unit_or_values() -> None:
    assert measures_to_take(_before_after()) == {
        "baseline_scan": ("thickness_mm (mm)",),
        "follow_up_3m": ("thickness_mm (mm)", "pain_vas (0-10)"),
        "follow_up_6m": (
            "thickness_mm (mm)",
            "niche_present (yes/no)",
            "adhesion_grade (none/mild/moderate/severe)",
        ),
    }


def test_the_table_json_and_calendar_show_the_measures_at_their_events() -> None:
    protocol = _before_after()
    schedule = build_schedule(protocol, "scaffold", {"menses": MENSES})
    measures = measures_to_take(protocol)
    lines = render_schedule_table(schedule, measures=measures).splitlines()
    at = next(i for i, line in enumerate(lines) if "Follow-up at 3 months" in line)
    assert lines[at + 1].strip() == "measure: thickness_mm (mm), pain_vas (0-10)"
    records = {r["id"]: r for r in json.loads(render_schedule_json(schedule, measures=measures))}
    assert records["baseline_scan"]["measures"] == ["thickness_mm (mm)"]
    assert "measures" not in records["menses"]
    calendar = Calendar.from_ical(render_schedule_ics(schedule, measures=measures))
    descriptions = [str(e["description"]) for e in calendar.walk("VEVENT")]
    assert sum("Measure: thickness_mm (mm), niche_present" in d for d in descriptions) == 1


def test_a_protocol_without_outcome_measures_prints_as_before(seed_protocol: Protocol) -> None:
    assert measures_to_take(seed_protocol) == {}
    start = seed_protocol.cycles[0].start_event
    schedule = build_schedule(seed_protocol, "hbmsc", {start: MENSES})
    measures = measures_to_take(seed_protocol)
    assert render_schedule_table(schedule, measures=measures) == render_schedule_table(schedule)
    assert render_schedule_json(schedule, measures=measures) == render_schedule_json(schedule)


def test_endotrial_schedule_prints_the_measures() -> None:
    args = ["schedule", "--protocol", str(FIXTURE), "--arm", "scaffold"]
    result = CliRunner().invoke(app, [*args, "--cycle-start", "2026-03-09"])
    assert result.exit_code == 0, result.output
    assert "measure: thickness_mm (mm), niche_present (yes/no), adhesion_grade" in result.output
