"""The schedule engine on a second, invented protocol: it knows no trial by name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from icalendar import Calendar

from endotrial.errors import InputError
from endotrial.protocol import Protocol, load_protocol_file
from endotrial.schedule import Schedule, build_schedule, render_schedule_ics

SECOND = Path(__file__).parents[1] / "fixtures" / "protocols" / "second_trial.yaml"
MENSES = dt.date(2026, 3, 2)


def day(n: int) -> dt.date:
    return MENSES + dt.timedelta(days=n - 1)


@pytest.fixture(scope="module")
def second() -> Protocol:
    return load_protocol_file(SECOND)


@pytest.fixture(scope="module")
def scaffold(second: Protocol) -> Schedule:
    return build_schedule(second, "scaffold_msc", {"menses_day1": MENSES})


def test_regimens(scaffold: Schedule) -> None:
    patch = scaffold.event("e2_patch_start")
    assert (patch.date, patch.cycle, patch.cycle_day) == (day(3), "main", 3)
    assert patch.label == "Start estradiol patch 100 µg every 3 days"
    assert scaffold.event("e2_patch_stop").date == day(24)
    assert scaffold.event("progesterone_gel_start").date == day(17)
    assert scaffold.event("progesterone_gel_stop").date == day(30)


def test_procedure_checks_and_short_observation(scaffold: Schedule) -> None:
    placement = scaffold.event("scaffold_placement")
    assert (placement.date, placement.earliest, placement.latest) == (day(12), day(11), day(13))
    assert scaffold.event("pregnancy_test").date == day(10)
    # 6 h of observation ends on the day of the procedure, or the next if it starts late.
    observation = scaffold.event("scaffold_placement_observation_end")
    assert observation.label.startswith("6 h observation ends")
    assert (observation.date, observation.latest) == (day(12), day(13))
    assert scaffold.event("follow_up_scan").date == day(16)


def test_listed_events(scaffold: Schedule) -> None:
    baseline = scaffold.event("baseline_scan")
    assert (baseline.date, baseline.earliest, baseline.latest) == (day(8), day(7), day(9))
    final = scaffold.event("final_visit")
    assert final.date == MENSES + dt.timedelta(days=59) == dt.date(2026, 4, 30)
    assert (final.earliest, final.latest) == (dt.date(2026, 4, 27), dt.date(2026, 5, 3))
    # Day 60 lies past the 30-day cycle, so no cycle day is claimed.
    assert (final.cycle, final.cycle_day) == (None, None)


def test_comparator_arm_has_no_procedure(second: Protocol) -> None:
    schedule = build_schedule(second, "hrt_only", {"menses_day1": MENSES})
    assert {e.id for e in schedule} == {
        "menses_day1",
        "baseline_scan",
        "final_visit",
        "e2_patch_start",
        "e2_patch_stop",
        "progesterone_gel_start",
        "progesterone_gel_stop",
    }


def test_actual_placement_moves_its_dependents(second: Protocol) -> None:
    anchors = {"menses_day1": MENSES, "scaffold_placement": day(14)}
    schedule = build_schedule(second, "scaffold_msc", anchors)
    assert not schedule.event("scaffold_placement").in_window
    assert schedule.event("follow_up_scan").date == day(18)
    assert schedule.event("final_visit").date == dt.date(2026, 4, 30)


def test_missing_root_names_this_protocols_anchor(second: Protocol) -> None:
    with pytest.raises(InputError, match="menses_day1"):
        build_schedule(second, "scaffold_msc", {})


def test_ics_uids_carry_this_protocol(scaffold: Schedule) -> None:
    calendar = Calendar.from_ical(render_schedule_ics(scaffold))
    uids = {str(e["UID"]) for e in calendar.walk("VEVENT")}
    assert "test-thin-endometrium-scaffold_msc-20260302-scaffold_placement@endotrial" in uids
    assert len(uids) == len(scaffold)
