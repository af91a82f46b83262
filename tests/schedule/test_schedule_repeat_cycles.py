"""Issue 9, finding 3, in the schedule: a procedure the protocol gives in several cycles is in
each of them, with its window, pre-checks and observation there; the first administration
keeps the procedure's own event ids (the seed trial's do not change), a repeat's are
`<id>@<cycle>`. Fixture: a placement in each of two cycles, after NCT03724617."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.errors import ProtocolError
from endotrial.protocol import Protocol, load_protocol, load_protocol_file
from endotrial.schedule import Schedule, build_schedule

TWO_CYCLES = Path(__file__).parents[1] / "fixtures" / "protocols" / "two_cycle_placement.yaml"
SEED_GOLDEN = Path(__file__).with_name("nct07176143_schedule.json")
MENSES_1 = dt.date(2026, 3, 9)


def day(n: int, start: dt.date = MENSES_1) -> dt.date:
    """Cycle day `n` of the cycle starting on `start`."""
    return start + dt.timedelta(days=n - 1)


@pytest.fixture(scope="module")
def two_cycles() -> Protocol:
    return load_protocol_file(TWO_CYCLES)


@pytest.fixture(scope="module")
def planned(two_cycles: Protocol) -> Schedule:
    return build_schedule(two_cycles, "scaffold", {"menses_1": MENSES_1})


def _window(schedule: Schedule, event_id: str) -> tuple[Any, ...]:
    event = schedule.event(event_id)
    return event.date, event.earliest, event.latest, event.cycle, event.cycle_day


def test_both_placements_have_their_dates_and_windows(planned: Schedule) -> None:
    menses_2 = day(29)  # planned: 28 days after the first cycle's day 1
    assert _window(planned, "scaffold_placement") == (
        day(5), day(4), day(8), "placement_1", 5,
    )  # fmt: skip
    assert _window(planned, "scaffold_placement@placement_2") == (
        day(5, menses_2), day(4, menses_2), day(8, menses_2), "placement_2", 5,
    )  # fmt: skip
    placements = [e for e in planned if e.kind == "procedure"]
    assert [e.label for e in placements] == [
        "Hysteroscopy and scaffold placement (1 of 2)",
        "Hysteroscopy and scaffold placement (2 of 2)",
    ]
    assert {e.anchor for e in placements} == {"menses_1", "menses_2"}


def test_each_placement_has_its_pre_check_and_observation_in_its_cycle(planned: Schedule) -> None:
    menses_2 = day(29)
    assert _window(planned, "pregnancy_test") == (day(4), day(4), day(4), "placement_1", 4)
    assert _window(planned, "pregnancy_test@placement_2") == (
        day(4, menses_2), day(4, menses_2), day(4, menses_2), "placement_2", 4,
    )  # fmt: skip
    assert planned.event("pregnancy_test@placement_2").anchor == "scaffold_placement@placement_2"
    observation = planned.event("scaffold_placement_observation_end@placement_2")
    assert (observation.date, observation.latest) == (day(5, menses_2), day(6, menses_2))
    assert observation.label == "2 h observation ends (Hysteroscopy and scaffold placement, 2 of 2)"
    # Nine events: two cycle starts, twice (check, placement, observation), the 6-month scan.
    assert len(planned) == 9
    assert len({e.id for e in planned}) == 9


def test_a_repeat_moves_with_its_own_cycle_and_its_actual_date(two_cycles: Protocol) -> None:
    """The second cycle starting late moves the second placement only; the second placement
    done on another day moves its own observation, not the first's, nor the scan that hangs
    from the first."""
    menses_2 = day(33)
    late = build_schedule(two_cycles, "scaffold", {"menses_1": MENSES_1, "menses_2": menses_2})
    assert late.event("scaffold_placement").date == day(5)
    assert late.event("scaffold_placement@placement_2").date == day(5, menses_2)
    done_on = day(7, menses_2)
    actual = build_schedule(
        two_cycles,
        "scaffold",
        {"menses_1": MENSES_1, "menses_2": menses_2, "scaffold_placement@placement_2": done_on},
    )
    repeat = actual.event("scaffold_placement@placement_2")
    assert (repeat.actual, repeat.date, repeat.planned_date) == (True, done_on, day(5, menses_2))
    assert repeat.in_window  # day 7: within +3 days
    assert actual.event("scaffold_placement_observation_end@placement_2").date == done_on
    assert actual.event("scaffold_placement_observation_end").date == day(5)
    assert actual.event("scan_6m").date == day(5) + dt.timedelta(days=182)


def test_the_event_ids_of_a_repeat(two_cycles: Protocol) -> None:
    """What the services match a procedure record filed under a cycle to."""
    from endotrial.schedule.engine import observation_event_id, procedure_event_id

    spec = two_cycles.procedure("scaffold_placement")
    assert procedure_event_id(spec, "placement_1") == "scaffold_placement"
    assert procedure_event_id(spec, "placement_2") == "scaffold_placement@placement_2"
    assert procedure_event_id(spec, "placement_2", "pregnancy_test") == (
        "pregnancy_test@placement_2"
    )
    assert observation_event_id(spec) == "scaffold_placement_observation_end"
    assert observation_event_id(spec, "placement_2") == (
        "scaffold_placement_observation_end@placement_2"
    )


def test_the_schedule_command_shows_both_placements() -> None:
    args = ["schedule", "--protocol", str(TWO_CYCLES), "--arm", "scaffold"]
    result = CliRunner().invoke(app, [*args, "--cycle-start", MENSES_1.isoformat()])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    first = next(line for line in lines if "scaffold placement (1 of 2)" in line)
    second = next(line for line in lines if "scaffold placement (2 of 2)" in line)
    assert first.startswith("2026-03-13  2026-03-12 – 2026-03-16  placement_1 5")
    assert second.startswith("2026-04-10  2026-04-09 – 2026-04-13  placement_2 5")
    assert any(line.startswith("2026-04-09") and "(2 of 2)" in line for line in lines)
    as_json = CliRunner().invoke(
        app, [*args, "--cycle-start", "2026-03-09", "--format", "json",
              "--actual", "scaffold_placement@placement_2=2026-04-12"],
    )  # fmt: skip
    assert as_json.exit_code == 0, as_json.output
    events = {e["id"]: e for e in json.loads(as_json.output)}
    assert events["scaffold_placement@placement_2"]["date"] == "2026-04-12"
    assert events["scaffold_placement@placement_2"]["actual"] is True
    assert events["scaffold_placement"]["date"] == "2026-03-13"


def _clashing_file(tmp_path: Path) -> tuple[Path, str]:
    """The fixture with a listed event named as the second placement's derived event."""
    data = yaml.safe_load(TWO_CYCLES.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["schedule"].append(
        {"id": "scaffold_placement@placement_2", "label": "A visit", "kind": "visit",
         "anchor": "menses_2", "offset_days": 2},
    )  # fmt: skip
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    path = tmp_path / "trial.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def test_an_event_clashing_with_a_repeats_event_is_refused_at_its_field(tmp_path: Path) -> None:
    path, text = _clashing_file(tmp_path)
    with pytest.raises(ProtocolError) as caught:
        load_protocol_file(path)
    message = str(caught.value)
    assert "'scaffold_placement@placement_2'" in message
    assert "a schedule event and a procedure given again in a repeat cycle" in message
    rows = text.splitlines()
    after = next(i for i, row in enumerate(rows, 1) if "repeat_cycles" in row)
    line = next(i for i, row in enumerate(rows, 1) if i > after and "placement_2" in row)
    assert re.search(rf"trial\.yaml:{line}: procedures\[0\]\.repeat_cycles\[0\]: ", message)
    result = CliRunner().invoke(app, ["protocol", "validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:{line}: procedures[0].repeat_cycles[0]: " in result.output
    assert "schedule cannot be built" in result.output


def test_the_seed_schedule_is_unchanged() -> None:
    """The seed gives each procedure once: its events, ids, dates and labels are as before
    repeats were scheduled (the golden file was written by the engine before the change)."""
    protocol = load_protocol("nct07176143")
    start = dt.date(2026, 3, 2)
    cases: dict[str, dict[str, dt.date]] = {
        "hbmsc": {"treatment_cycle_start": start},
        "control": {"treatment_cycle_start": start},
        "hbmsc_actual": {"treatment_cycle_start": start, "hbmsc_infusion": dt.date(2026, 3, 12)},
    }
    built = {
        case: [
            _plain(dataclasses.asdict(e))
            for e in build_schedule(protocol, case.split("_")[0], given)
        ]
        for case, given in cases.items()
    }
    assert built == json.loads(SEED_GOLDEN.read_text(encoding="utf-8"))


def _plain(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in event.items()}
