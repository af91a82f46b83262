"""Issue 9, finding 3, through the services: each administration of a procedure the protocol
repeats over cycles is its own schedule event (`<id>@<cycle>` for a repeat), so
- a repeat can be recorded by its event id (before: `procedure.not_in_arm`, the event id read
  as a procedure id);
- a record dates the administration of the cycle it is filed under, whichever is recorded
  first (before: the earliest record dated the first administration, so a scan hung from the
  first placement moved with the second);
- an event hung from a repeat (balloon removed a week after the second placement) follows the
  placement done, in the services' window checks and on her timeline.
Fixture: tests/fixtures/protocols/two_cycle_placement.yaml (and a variant of it)."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from services_helpers import COORDINATOR, RADIOLOGIST, Trial, queries, refused
from services_helpers import set_up_trial as _set_up_trial
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from two_cycle_helpers import TWO_CYCLES, allocated_to_scaffold

from endotrial.protocol import Protocol, load_protocol
from endotrial.services import (
    CycleStartInput,
    EventState,
    ProcedureInput,
    TimelineEvent,
    UltrasoundInput,
    VisitInput,
    participant_timeline,
    record_procedure,
    record_ultrasound,
    record_visit,
    start_cycle,
)
from endotrial.store import Cycle, Procedure

CYCLE_1 = dt.date(2026, 3, 9)
CYCLE_2 = CYCLE_1 + dt.timedelta(days=28)
FIRST, SECOND = "scaffold_placement", "scaffold_placement@placement_2"
#: Hung from the second placement (the loader refused this before: see
#: tests/schedule/test_anchor_on_repeat.py).
BALLOON_REMOVAL_2 = {
    "id": "balloon_removal_2",
    "label": "Foley balloon removed (1 week after the second placement)",
    "kind": "visit",
    "anchor": SECOND,
    "offset_days": 7,
    "window_before_days": 1,
    "window_after_days": 1,
}


@pytest.fixture(scope="module")
def two_cycles() -> Protocol:
    return load_protocol(TWO_CYCLES)


@pytest.fixture(scope="module")
def balloon(tmp_path_factory: pytest.TempPathFactory) -> Protocol:
    document = yaml.safe_load(TWO_CYCLES.read_text(encoding="utf-8"))
    document["schedule"].append(BALLOON_REMOVAL_2)
    path = tmp_path_factory.mktemp("balloon") / "two_cycle_balloon.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_protocol(path)


def _in_second_cycle(trial: Trial, ref: str) -> int:
    """Screened, consented, enrolled, allocated; her first cycle started on CYCLE_1 and her
    second on CYCLE_2, no placement recorded yet."""
    pid = allocated_to_scaffold(trial, ref)
    coordinator = trial.actor(COORDINATOR)
    for cycle, on in (("placement_1", CYCLE_1), ("placement_2", CYCLE_2)):
        start = CycleStartInput(participant_id=pid, cycle=cycle, start_date=on)
        start_cycle(trial.study, coordinator, start)
    return pid


def _placed(
    trial: Trial,
    pid: int,
    on: dt.date,
    *,
    event_id: str | None = None,
    cycle: str | None = None,
    procedure_id: str | None = None,
) -> int:
    """A placement recorded on `on`, named by its event, cycle or procedure as given."""
    procedure = ProcedureInput(
        participant_id=pid,
        procedure_date=on,
        pre_checks={"pregnancy_test": "negative"},
        viability_pct=92.0,
        dose_given_cells=20_000_000,
        release_results={"sterility": "negative"},
        cell_lot="LOT-1",
        event_id=event_id,
        cycle=cycle,
        procedure_id=procedure_id,
    )
    return record_procedure(trial.study, trial.actor(RADIOLOGIST), procedure).procedure_id


def _stored(engine: Engine, procedure_id: int) -> tuple[str, str | None]:
    """The protocol cycle a procedure record is filed under, and the event id it keeps."""
    with Session(engine) as session:
        row = session.get_one(Procedure, procedure_id)
        return str(session.scalar(select(Cycle.kind).where(Cycle.id == row.cycle_id))), row.event_id


def _timeline(trial: Trial, pid: int, on: dt.date) -> dict[str, TimelineEvent]:
    timeline = participant_timeline(trial.study, trial.actor(COORDINATOR), pid, on=on)
    return {event.event_id: event for event in timeline.events}


def test_a_repeat_is_recorded_by_its_event_id(engine: Engine, two_cycles: Protocol) -> None:
    """The repeat's event names the procedure and its cycle; a cycle given that contradicts
    the event is refused, naming the field."""
    trial = _set_up_trial(engine, two_cycles)
    pid = _in_second_cycle(trial, "ev1")
    first = _placed(trial, pid, CYCLE_1 + dt.timedelta(days=4), event_id=FIRST)
    day_5 = CYCLE_2 + dt.timedelta(days=4)
    with refused("procedure.other_cycle", field="cycle") as caught:
        _placed(trial, pid, day_5, event_id=SECOND, cycle="placement_1")
    assert caught.value.params["event_cycle"] == "placement_2"
    with refused("visit.other_procedure", field="event_id"):
        _placed(trial, pid, day_5, event_id=SECOND, procedure_id="balloon")
    second = _placed(trial, pid, day_5, event_id=SECOND, procedure_id=FIRST, cycle="placement_2")
    # Stored as before: the procedure's id as its event, the administration by its cycle.
    assert [_stored(engine, first), _stored(engine, second)] == [
        ("placement_1", FIRST), ("placement_2", FIRST),
    ]  # fmt: skip
    assert queries(trial) == []  # day 5 of her own second cycle
    events = _timeline(trial, pid, day_5)
    assert events[SECOND].record == f"procedures #{second}"
    assert events[FIRST].record == f"procedures #{first}"


def test_the_first_placements_event_is_its_first_cycle(
    engine: Engine, two_cycles: Protocol
) -> None:
    """Named by the first administration's event while she is in her second cycle, the
    placement is the first (recorded late), not the second."""
    trial = _set_up_trial(engine, two_cycles)
    pid = _in_second_cycle(trial, "ev2")
    late = CYCLE_2 + dt.timedelta(days=4)
    first = _placed(trial, pid, late, event_id=FIRST)
    assert _stored(engine, first)[0] == "placement_1"
    found = queries(trial)  # 28 days after its window
    assert [q.opened_by for q in found] == ["edit_check:visit_window"]
    assert "(1 of 2)' (" in found[0].text
    with refused("procedure.done_in_cycle", field="cycle"):
        _placed(trial, pid, late, event_id=FIRST)


def test_a_repeat_out_of_its_window_is_queried_against_its_scheduled_event(
    engine: Engine, two_cycles: Protocol
) -> None:
    trial = _set_up_trial(engine, two_cycles)
    pid = _in_second_cycle(trial, "ev3")
    day_5 = CYCLE_2 + dt.timedelta(days=4)
    _placed(trial, pid, day_5 + dt.timedelta(days=4), event_id=SECOND)  # window: -1/+3 days
    (query,) = queries(trial)
    window = f"({day_5 - dt.timedelta(days=1)} to {day_5 + dt.timedelta(days=3)})"
    assert f"'Hysteroscopy and scaffold placement (2 of 2)' in the placement_2 cycle {window}" in (
        query.text
    )


def test_the_second_placement_recorded_alone_does_not_move_what_hangs_from_the_first(
    engine: Engine, two_cycles: Protocol
) -> None:
    """Only the second placement recorded: the 6-month scan (hung from the first) stays dated
    from the first's plan, in the services' window check as on her timeline."""
    trial = _set_up_trial(engine, two_cycles)
    pid = _in_second_cycle(trial, "ev4")
    _placed(trial, pid, CYCLE_2 + dt.timedelta(days=4), cycle="placement_2")
    scan_on = CYCLE_1 + dt.timedelta(days=4 + 182)  # the first's planned day 5 + 6 months
    scan = UltrasoundInput(
        participant_id=pid, scan_date=scan_on, thickness_mm=7.5, event_id="scan_6m"
    )
    record_ultrasound(trial.study, trial.actor(RADIOLOGIST), scan)
    assert queries(trial) == []  # before: dated from the second placement, 28 days later
    planned = _timeline(trial, pid, scan_on)["scan_6m"]
    assert (planned.state, planned.date) == (EventState.DONE, scan_on)


def test_an_event_hung_from_the_repeat_follows_the_placement_done(
    engine: Engine, balloon: Protocol
) -> None:
    """The second placement on day 8 of her second cycle (the last of its window): the balloon
    is due a week later, and removed then without a query; her timeline agrees."""
    trial = _set_up_trial(engine, balloon)
    pid = _in_second_cycle(trial, "ev5")
    _placed(trial, pid, CYCLE_1 + dt.timedelta(days=4), event_id=FIRST)
    placed_on = CYCLE_2 + dt.timedelta(days=7)
    removal_on = placed_on + dt.timedelta(days=7)
    due = _timeline(trial, pid, placed_on)
    assert due["balloon_removal_2"].date == CYCLE_2 + dt.timedelta(days=4 + 7)  # planned
    _placed(trial, pid, placed_on, event_id=SECOND)
    removal = VisitInput(participant_id=pid, event_id="balloon_removal_2", visit_date=removal_on)
    visit_id = record_visit(trial.study, trial.actor(COORDINATOR), removal)
    assert queries(trial) == []  # before: 3 days after the planned removal's window
    shown = _timeline(trial, pid, removal_on)["balloon_removal_2"]
    assert (shown.state, shown.date, shown.record) == (
        EventState.DONE, removal_on, f"visits #{visit_id}",
    )  # fmt: skip
    assert (shown.earliest, shown.latest) == (
        removal_on - dt.timedelta(days=1), removal_on + dt.timedelta(days=1),
    )  # fmt: skip
