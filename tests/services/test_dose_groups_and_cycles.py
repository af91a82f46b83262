"""Issue 9, findings 1-3, through the services: a fixed dose, one dose group per arm (three
fixed doses and a vehicle control sharing one procedure), and a procedure the protocol gives
in each of two consecutive cycles. The protocols are test files shaped like NCT05495711 and
NCT03724617 (tests/fixtures/protocols)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    RADIOLOGIST,
    Trial,
    allocated_from_screening,
    queries,
    refused,
)
from services_helpers import set_up_trial as _set_up_trial
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol, load_protocol
from endotrial.reporting.dataset_build import build_dataset
from endotrial.services import (
    CandidateInput,
    CorrectionInput,
    CycleStartInput,
    ProcedureInput,
    ProcedureRecord,
    correct_record,
    record_procedure,
    screen,
    start_cycle,
)
from endotrial.store import Cycle, Procedure

FIXTURES = Path(__file__).parents[1] / "fixtures" / "protocols"
SCREENED_ON = dt.date(2026, 3, 2)
CYCLE_1 = dt.date(2026, 3, 9)
CYCLE_2 = CYCLE_1 + dt.timedelta(days=28)
RELEASED = {"sterility": "negative"}
PASSED = {"pregnancy_test": "negative"}


@pytest.fixture(scope="module")
def dose_groups() -> Protocol:
    return load_protocol(FIXTURES / "fixed_dose_groups.yaml")


@pytest.fixture(scope="module")
def two_cycles() -> Protocol:
    return load_protocol(FIXTURES / "two_cycle_placement.yaml")


def _participant(trial: Trial, ref: str, arm: str, first_cycle: str) -> int:
    """Screened, consented, enrolled, allocated to `arm` and her first cycle started."""
    coordinator = trial.actor(COORDINATOR)
    items = {"screening_date": SCREENED_ON, "age_years": 31, "thickness_mm": 5.0}
    record = screen(
        trial.study, coordinator, CandidateInput(candidate_ref=ref, items=items, site_id=1)
    )
    assert arm in record.eligible_arms
    participant_id = allocated_from_screening(
        trial, record.screening_id, arm, on=SCREENED_ON, basis="randomised"
    )
    _start(trial, participant_id, first_cycle, CYCLE_1)
    return participant_id


def _start(trial: Trial, participant_id: int, cycle: str, on: dt.date) -> None:
    start = CycleStartInput(participant_id=participant_id, cycle=cycle, start_date=on)
    start_cycle(trial.study, trial.actor(COORDINATOR), start)


def _given(trial: Trial, participant_id: int, on: dt.date, **fields: object) -> ProcedureRecord:
    procedure = ProcedureInput(
        participant_id=participant_id, procedure_date=on, pre_checks=PASSED, **fields
    )
    return record_procedure(trial.study, trial.actor(RADIOLOGIST), procedure)


def _cells(cells: int) -> dict[str, object]:
    """The dose fields of a product with cells (no weight: the doses are fixed)."""
    return {
        "viability_pct": 92.0,
        "dose_given_cells": cells,
        "release_results": RELEASED,
        "cell_lot": "LOT-1",
    }


def _stored(engine: Engine, record: ProcedureRecord) -> tuple[str, int | None, float | None]:
    """The cycle a procedure is filed under, its dose and volume as stored."""
    with Session(engine) as session:
        row = session.get_one(Procedure, record.procedure_id)
        cycle = session.scalar(select(Cycle.kind).where(Cycle.id == row.cycle_id))
        return str(cycle), row.dose_cells, row.volume_ml


# --------------------------------------------------------------------------- dose groups


def test_each_arm_is_dosed_by_its_own_fixed_rule_whatever_the_weight(
    engine: Engine, dose_groups: Protocol
) -> None:
    """Finding 2: the arm's rule, not the procedure's, doses her; a fixed dose needs no
    weight (finding 1). Before: every arm was dosed by the procedure's rule."""
    trial = _set_up_trial(engine, dose_groups)
    day_12 = CYCLE_1 + dt.timedelta(days=11)
    low = _participant(trial, "low1", "low", "main")
    record = _given(trial, low, day_12, **_cells(10_000_000))
    assert (record.plan is not None, record.plan and record.plan.dose_viable_cells) == (True, 1e7)
    assert record.plan is not None and record.plan.kind == "fixed"
    assert record.plan.rule_id == "low_dose" and record.plan.weight_kg is None
    assert _stored(engine, record) == ("main", 10_000_000, 1.0)
    # The high dose group: 1×10⁷ cells is far outside ±10 % of 4×10⁷, refused outright.
    high = _participant(trial, "high1", "high", "main")
    with refused("procedure.blocked") as caught:
        _given(trial, high, day_12, weight_kg=60.0, **_cells(10_000_000))
    assert "4e+07" in str(caught.value)
    # Its rule bounds the weight (40-80 kg), and says so.
    with refused("input.invalid", field=None) as caught:
        _given(trial, high, day_12, weight_kg=95.0, **_cells(40_000_000))
    assert "40–80 kg" in str(caught.value)
    assert _given(trial, high, day_12, weight_kg=60.0, **_cells(40_000_000)).plan is not None
    # The middle group has no rule of its own: the procedure's.
    mid = _participant(trial, "mid1", "mid", "main")
    assert (_given(trial, mid, day_12, **_cells(20_000_000)).plan or record.plan).rule_id == (
        "mid_dose"
    )
    assert queries(trial) == []


def test_the_vehicle_control_is_recorded_without_cells(
    engine: Engine, dose_groups: Protocol
) -> None:
    """Finding 2: the vehicle arm's procedure has no dose rule and no cells; the services
    record it (before: 'no dose rule' for every arm) and refuse a cell count given for it."""
    trial = _set_up_trial(engine, dose_groups)
    vehicle = _participant(trial, "veh1", "vehicle", "main")
    day_12 = CYCLE_1 + dt.timedelta(days=11)
    with refused("procedure.no_cells", field="viability_pct") as caught:
        _given(trial, vehicle, day_12, **_cells(20_000_000))
    assert caught.value.params["fields"] == ["viability_pct", "dose_given_cells", "release_results"]
    record = _given(trial, vehicle, day_12, weight_kg=61.0, cell_lot="VEH-3")
    assert record.plan is None and not record.overridden
    assert _stored(engine, record) == ("main", None, None)
    with refused("procedure.once"):
        _given(trial, vehicle, day_12)
    # The analysis counts her as treated with her arm's procedure (before: not treated, her
    # shared procedure having a dose rule the vehicle arm does not use).
    (row,) = build_dataset(engine, dose_groups).participants.to_dict("records")
    assert (row["arm"], row["received_intervention"]) == ("vehicle", True)


def test_a_dose_with_cells_still_needs_its_count(engine: Engine, dose_groups: Protocol) -> None:
    trial = _set_up_trial(engine, dose_groups)
    low = _participant(trial, "low1", "low", "main")
    with refused("input.invalid", field="dose_given_cells"):
        _given(trial, low, CYCLE_1 + dt.timedelta(days=11), viability_pct=92.0, cell_lot="L")
    with refused("procedure.no_lot", field="cell_lot"):
        _given(trial, low, CYCLE_1 + dt.timedelta(days=11), **{**_cells(10**7), "cell_lot": None})


# --------------------------------------------------------------------------- two cycles


def test_one_placement_in_each_of_two_cycles(engine: Engine, two_cycles: Protocol) -> None:
    """Finding 3: the second placement is filed under the second cycle (before: refused as a
    single intervention, or filed under cycle 1); a third is beyond the protocol's count."""
    trial = _set_up_trial(engine, two_cycles)
    pid = _participant(trial, "tc1", "scaffold", "placement_1")
    first = _given(trial, pid, CYCLE_1 + dt.timedelta(days=4), **_cells(20_000_000))
    assert _stored(engine, first) == ("placement_1", 20_000_000, 1.0)
    # Her second cycle has not started: the placement due is the second, which waits for it.
    with refused("procedure.no_cycle") as caught:
        _given(trial, pid, CYCLE_1 + dt.timedelta(days=20), **_cells(20_000_000))
    assert caught.value.params["cycle"] == "placement_2"
    _start(trial, pid, "placement_2", CYCLE_2)
    with refused("procedure.done_in_cycle", field="cycle") as caught:
        _given(trial, pid, CYCLE_2 + dt.timedelta(days=4), cycle="placement_1", **_cells(2 * 10**7))
    assert caught.value.params["cycles"] == ["placement_1", "placement_2"]
    second = _given(trial, pid, CYCLE_2 + dt.timedelta(days=4), **_cells(20_000_000))
    assert _stored(engine, second) == ("placement_2", 20_000_000, 1.0)
    assert queries(trial) == []  # day 5 of her own second cycle: in its window
    with refused("procedure.all_given", field="cycle") as caught:
        _given(trial, pid, CYCLE_2 + dt.timedelta(days=6), **_cells(20_000_000))
    assert caught.value.params["count"] == 2
    with refused("procedure.not_in_cycle", field="cycle"):
        _given(trial, pid, CYCLE_2 + dt.timedelta(days=6), cycle="follow_up", **_cells(2 * 10**7))


def test_a_repeat_placement_out_of_its_cycles_window_opens_a_query(
    engine: Engine, two_cycles: Protocol
) -> None:
    """The window of a repeat is its own cycle's day 5 (-1/+3 days), not the first cycle's."""
    trial = _set_up_trial(engine, two_cycles)
    pid = _participant(trial, "tc2", "scaffold", "placement_1")
    _given(trial, pid, CYCLE_1 + dt.timedelta(days=4), **_cells(20_000_000))
    _start(trial, pid, "placement_2", CYCLE_2)
    late = _given(
        trial, pid, CYCLE_2 + dt.timedelta(days=10), cycle="placement_2", **_cells(20_000_000)
    )
    assert _stored(engine, late)[0] == "placement_2"
    found = queries(trial)
    assert [q.opened_by for q in found] == ["edit_check:visit_window"]
    assert "placement_2 cycle" in found[0].text


def test_a_correction_redoses_by_her_arms_rule(engine: Engine, dose_groups: Protocol) -> None:
    """A corrected viability redoses by her arm's fixed rule (before: the procedure's rule,
    with a weight of 0 kg); a vehicle's procedure has no dose to recheck."""
    trial = _set_up_trial(engine, dose_groups)
    day_12 = CYCLE_1 + dt.timedelta(days=11)
    low = _given(trial, _participant(trial, "low1", "low", "main"), day_12, **_cells(10**7))
    vehicle = _given(trial, _participant(trial, "veh1", "vehicle", "main"), day_12)
    investigator = trial.actor(INVESTIGATOR)
    for record in (low, vehicle):
        correction = CorrectionInput(
            record="procedure",
            record_id=record.procedure_id,
            field="weight_kg",
            new_value=64.0,
            reason="weight read from the ward chart, not the screening sheet",
        )
        correct_record(trial.study, investigator, correction)
    assert _stored(engine, low) == ("main", 10_000_000, 1.0)
    assert queries(trial) == []
