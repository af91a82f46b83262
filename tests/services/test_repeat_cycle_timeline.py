"""Issue 9, finding 3, on her timeline: a procedure the protocol gives in each of two cycles
is shown twice, the second due in her second cycle and done by the record filed under that
cycle (before: the timeline had the first only, and the second record was 'unscheduled')."""

from __future__ import annotations

import datetime as dt

import pytest
from services_helpers import COORDINATOR, RADIOLOGIST, Trial, set_up_trial
from sqlalchemy import Engine
from two_cycle_helpers import TWO_CYCLES, allocated_to_scaffold

from endotrial.protocol import Protocol, load_protocol
from endotrial.services import (
    CycleStartInput,
    EventState,
    ProcedureInput,
    Timeline,
    TimelineEvent,
    participant_timeline,
    record_procedure,
    start_cycle,
)

CYCLE_1 = dt.date(2026, 3, 9)
CYCLE_2 = CYCLE_1 + dt.timedelta(days=30)  # two days after its planned start
SECOND = "scaffold_placement@placement_2"


@pytest.fixture(scope="module")
def two_cycles() -> Protocol:
    return load_protocol(TWO_CYCLES)


def _enrolled(trial: Trial, ref: str) -> int:
    """Screened, consented, enrolled, allocated, her first cycle started on CYCLE_1."""
    pid = allocated_to_scaffold(trial, ref)
    _start(trial, pid, "placement_1", CYCLE_1)
    return pid


def _start(trial: Trial, pid: int, cycle: str, on: dt.date) -> None:
    start = CycleStartInput(participant_id=pid, cycle=cycle, start_date=on)
    start_cycle(trial.study, trial.actor(COORDINATOR), start)


def _placed(trial: Trial, pid: int, on: dt.date) -> int:
    procedure = ProcedureInput(
        participant_id=pid,
        procedure_date=on,
        pre_checks={"pregnancy_test": "negative"},
        viability_pct=92.0,
        dose_given_cells=20_000_000,
        release_results={"sterility": "negative"},
        cell_lot="LOT-1",
    )
    return record_procedure(trial.study, trial.actor(RADIOLOGIST), procedure).procedure_id


def _timeline(trial: Trial, pid: int, on: dt.date) -> Timeline:
    return participant_timeline(trial.study, trial.actor(COORDINATOR), pid, on=on)


def _events(timeline: Timeline) -> dict[str, TimelineEvent]:
    return {event.event_id: event for event in timeline.events}


def test_the_second_placement_is_due_in_her_second_cycle_then_done(
    engine: Engine, two_cycles: Protocol
) -> None:
    trial = set_up_trial(engine, two_cycles)
    pid = _enrolled(trial, "tc1")
    first_id = _placed(trial, pid, CYCLE_1 + dt.timedelta(days=4))
    events = _events(_timeline(trial, pid, CYCLE_1 + dt.timedelta(days=5)))
    assert events["scaffold_placement"].state is EventState.DONE
    assert events["scaffold_placement"].record == f"procedures #{first_id}"
    assert events[SECOND].state is EventState.NOT_YET_DUE
    assert events[SECOND].label == "Hysteroscopy and scaffold placement (2 of 2)"

    _start(trial, pid, "placement_2", CYCLE_2)
    on_day_5 = CYCLE_2 + dt.timedelta(days=4)
    timeline = _timeline(trial, pid, on_day_5)
    second = _events(timeline)[SECOND]
    window = (on_day_5 - dt.timedelta(days=1), on_day_5 + dt.timedelta(days=3))
    assert (second.state, second.date, (second.earliest, second.latest)) == (
        EventState.DUE, on_day_5, window,
    )  # fmt: skip
    assert (second.cycle, second.cycle_day) == ("placement_2", 5)

    second_id = _placed(trial, pid, on_day_5)
    timeline = _timeline(trial, pid, on_day_5)
    events = _events(timeline)
    assert (events[SECOND].state, events[SECOND].done_on) == (EventState.DONE, on_day_5)
    assert events[SECOND].record == f"procedures #{second_id}"
    assert events["pregnancy_test@placement_2"].state is EventState.DONE
    assert events["scaffold_placement_observation_end@placement_2"].state is EventState.DONE
    # The first stays fulfilled by the first record; nothing is left unscheduled.
    assert events["scaffold_placement"].record == f"procedures #{first_id}"
    assert timeline.unscheduled == ()


def test_a_late_second_placement_is_out_of_its_window(engine: Engine, two_cycles: Protocol) -> None:
    trial = set_up_trial(engine, two_cycles)
    pid = _enrolled(trial, "tc2")
    _placed(trial, pid, CYCLE_1 + dt.timedelta(days=4))
    _start(trial, pid, "placement_2", CYCLE_2)
    late = CYCLE_2 + dt.timedelta(days=10)
    overdue = _events(_timeline(trial, pid, late))[SECOND]
    assert overdue.state is EventState.OVERDUE
    _placed(trial, pid, late)
    second = _events(_timeline(trial, pid, late))[SECOND]
    assert (second.state, second.date, second.done_on) == (EventState.OUT_OF_WINDOW, late, late)
