"""The dosing engine on a second, invented protocol: 2×10⁶ cells/kg in 10 mL, 45–75 kg,
capped at 1.2×10⁸, rounded to 1×10⁶, ±5 %, released on viability ≥90 % and sterility."""

from __future__ import annotations

from pathlib import Path

import pytest

from endotrial.dosing import ReleaseStatus, compute_dose, dose_within_tolerance
from endotrial.errors import InputError
from endotrial.protocol import Protocol, load_protocol_file

SECOND = Path(__file__).parents[1] / "fixtures" / "protocols" / "second_trial.yaml"


@pytest.fixture(scope="module")
def second() -> Protocol:
    return load_protocol_file(SECOND)


def test_dose_and_concentration(second: Protocol) -> None:
    plan = compute_dose(second, 55)
    assert plan.rule_id == "fixed_per_kg"
    assert plan.dose_viable_cells == 1.1e8
    assert plan.volume_ml == 10
    assert plan.viable_concentration_cells_per_ml == 1.1e7


@pytest.mark.parametrize(
    ("weight_kg", "dose_cells"), [(57.3, 1.15e8), (57.25, 1.15e8), (57.2, 1.14e8)]
)
def test_rounding_to_1e6_cells(second: Protocol, weight_kg: float, dose_cells: float) -> None:
    assert compute_dose(second, weight_kg).dose_viable_cells == dose_cells


def test_cap_within_the_weight_range(second: Protocol) -> None:
    plan = compute_dose(second, 62)
    assert plan.capped
    assert (plan.dose_uncapped_viable_cells, plan.dose_viable_cells) == (1.24e8, 1.2e8)
    assert not compute_dose(second, 60).capped


@pytest.mark.parametrize("weight_kg", [44.9, 75.1])
def test_weight_range(second: Protocol, weight_kg: float) -> None:
    with pytest.raises(InputError, match="45–75 kg"):
        compute_dose(second, weight_kg)
    assert compute_dose(second, 45).dose_viable_cells == 9e7
    assert compute_dose(second, 75).dose_viable_cells == 1.2e8


def test_release(second: Protocol) -> None:
    released = compute_dose(second, 55, viability_pct=90, release_results={"sterility": "negative"})
    assert released.released
    low = compute_dose(second, 55, viability_pct=89.9, release_results={"sterility": "negative"})
    assert not low.released
    assert low.release_checks[0].status is ReleaseStatus.failed
    assert not compute_dose(second, 55, viability_pct=95).released
    with pytest.raises(InputError, match="cd45_pct"):
        compute_dose(second, 55, release_results={"cd45_pct": 1})


def test_viability_and_stock(second: Protocol) -> None:
    plan = compute_dose(second, 50, viability_pct=80, stock_cells_per_ml=5e7)
    assert plan.dose_viable_cells == 1e8
    assert plan.draw_total_cells == pytest.approx(1.25e8)
    assert plan.total_concentration_cells_per_ml == pytest.approx(1.25e7)
    assert plan.stock_volume_ml == pytest.approx(2.5)
    assert plan.diluent_volume_ml == pytest.approx(7.5)
    with pytest.raises(InputError, match="too dilute"):
        compute_dose(second, 50, viability_pct=80, stock_cells_per_ml=1.2e7)


def test_tolerance_5_pct(second: Protocol) -> None:
    plan = compute_dose(second, 55)
    assert (plan.dose_min_viable_cells, plan.dose_max_viable_cells) == (1.045e8, 1.155e8)
    assert dose_within_tolerance(plan, 1.045e8) and dose_within_tolerance(plan, 1.155e8)
    assert not dose_within_tolerance(plan, 1.044e8)
    assert not dose_within_tolerance(plan, 1.156e8)
