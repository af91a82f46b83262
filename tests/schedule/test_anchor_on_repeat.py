"""Issue 9, finding 3: a listed schedule event may hang from a repeat administration of a
procedure (`<id>@<cycle>`), e.g. "balloon removed 1 week after the second placement".
Before, the loader refused the anchor as undefined although the engine could build it.
Fixture: tests/fixtures/protocols/two_cycle_placement.yaml with such events added."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from endotrial.errors import ProtocolError
from endotrial.protocol import Protocol, load_protocol
from endotrial.schedule import build_schedule

TWO_CYCLES = Path(__file__).parents[1] / "fixtures" / "protocols" / "two_cycle_placement.yaml"
SECOND = "scaffold_placement@placement_2"
MENSES_1 = dt.date(2026, 3, 9)
BALLOON_REMOVAL_2 = {
    "id": "balloon_removal_2",
    "label": "Foley balloon removed (1 week after the second placement)",
    "kind": "visit",
    "anchor": SECOND,
    "offset_days": 7,
    "window_before_days": 1,
    "window_after_days": 1,
}


def variant(folder: Path, *events: dict[str, Any], **changes: Any) -> Path:
    """The two-cycle fixture with top-level `changes` and `events` added to its schedule,
    written to `folder`."""
    document = yaml.safe_load(TWO_CYCLES.read_text(encoding="utf-8"))
    document.update(changes)
    document["schedule"] = [*document["schedule"], *events]
    path = folder / "two_cycle_variant.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def balloon(tmp_path_factory: pytest.TempPathFactory) -> Protocol:
    return load_protocol(variant(tmp_path_factory.mktemp("balloon"), BALLOON_REMOVAL_2))


def test_an_event_hung_from_the_second_placement_loads_and_is_dated_from_it(
    balloon: Protocol,
) -> None:
    planned = build_schedule(balloon, "scaffold", {"menses_1": MENSES_1})
    second_placement = MENSES_1 + dt.timedelta(days=28 + 4)  # day 5 of the planned 2nd cycle
    removal = planned.event("balloon_removal_2")
    assert (removal.date, removal.earliest, removal.latest) == (
        second_placement + dt.timedelta(days=7),
        second_placement + dt.timedelta(days=6),
        second_placement + dt.timedelta(days=8),
    )
    assert (removal.anchor, removal.cycle, removal.cycle_day) == (SECOND, "placement_2", 12)

    # Her second cycle began 2 days late and the placement was on its day 7: the removal
    # follows the placement actually done, not the first placement nor the plan.
    menses_2 = MENSES_1 + dt.timedelta(days=30)
    placed = menses_2 + dt.timedelta(days=6)
    actual = {"menses_1": MENSES_1, "menses_2": menses_2, SECOND: placed}
    removal = build_schedule(balloon, "scaffold", actual).event("balloon_removal_2")
    assert (removal.date, removal.planned_date) == (placed + dt.timedelta(days=7),) * 2


def test_an_administration_the_protocol_does_not_give_is_still_undefined(
    tmp_path: Path,
) -> None:
    """Only the cycles the procedure is repeated in give it an `<id>@<cycle>` event."""
    stray = {**BALLOON_REMOVAL_2, "anchor": "scaffold_placement@placement_3"}
    with pytest.raises(ProtocolError) as caught:
        load_protocol(variant(tmp_path, stray))
    message = str(caught.value)
    assert "schedule[3].anchor" in message
    assert "'scaffold_placement@placement_3', which the file does not define" in message
    assert f"'{SECOND}'" in message  # listed among the anchors it may name


def test_a_loop_through_a_repeat_is_reported_as_a_loop(tmp_path: Path) -> None:
    """The second cycle's start hung from the placement made in it: a loop, not a missing id."""
    document = yaml.safe_load(TWO_CYCLES.read_text(encoding="utf-8"))
    schedule = document["schedule"]
    menses_2 = next(e for e in schedule if e["id"] == "menses_2")
    menses_2.update(anchor=SECOND, offset_days=-10)
    with pytest.raises(ProtocolError) as caught:
        load_protocol(variant(tmp_path, schedule=schedule))
    message = str(caught.value)
    assert "the schedule's anchors form a cycle" in message
    assert SECOND in message and "menses_2" in message


def test_an_arm_without_the_procedure_cannot_have_an_event_hung_from_its_repeat(
    tmp_path: Path,
) -> None:
    """An arm's events hang from events of that arm: the repeat is the scaffold arm's only."""
    document = yaml.safe_load(TWO_CYCLES.read_text(encoding="utf-8"))
    observation = {
        "id": "observation",
        "label": "Observation only",
        "type": "NO_INTERVENTION",
        "description": "No placement.",
        "interventions": [],
        "regimens": [],
        "procedures": [],
    }
    two_arms = {
        "arms": [*document["arms"], observation],
        "design": {**document["design"], "intervention_model": "PARALLEL"},
        # The 6-month scan hangs from the first placement: the scaffold arm's only, too.
        "schedule": [
            {**e, "arms": ["scaffold"]} if e["id"] == "scan_6m" else e for e in document["schedule"]
        ],
    }
    with pytest.raises(ProtocolError) as caught:
        load_protocol(variant(tmp_path, BALLOON_REMOVAL_2, **two_arms))
    message = str(caught.value)
    assert "schedule[3].anchor" in message
    assert (
        f"event 'balloon_removal_2' hangs from '{SECOND}', which arm 'observation' does not "
        "have (only arm 'scaffold' has it)"
    ) in message

    restricted = {**BALLOON_REMOVAL_2, "arms": ["scaffold"]}
    fixed = load_protocol(variant(tmp_path, restricted, **two_arms))
    roots = {"menses_1": MENSES_1}
    for arm, has_it in (("scaffold", True), ("observation", False)):
        events = {e.id for e in build_schedule(fixed, arm, roots)}
        assert ("balloon_removal_2" in events) is has_it
