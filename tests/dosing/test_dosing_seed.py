"""The dosing engine on the seed protocol's rule: 1×10⁶ viable cells/kg in 15 mL."""

from __future__ import annotations

import json
import math

import pytest

from endotrial.dosing import (
    DosePlan,
    ReleaseStatus,
    compute_dose,
    dose_plan_dict,
    dose_within_tolerance,
    release_checks,
    render_dose_json,
    render_dose_text,
)
from endotrial.errors import InputError, ProtocolError
from endotrial.protocol import Protocol, load_protocol
from endotrial.protocol.models import DoseRule

ALL_PASS: dict[str, float | str] = {
    "viability_pct": 92,
    "sterility": "negative",
    "mycoplasma": "negative",
    "endotoxin_eu_ml": 0.2,
    "cd105_pct": 98,
    "cd73_pct": 99,
    "cd90_pct": 97,
    "cd45_pct": 0.5,
    "cd34_pct": 0.4,
    "cd14_or_cd11b_pct": 0.3,
    "cd79a_or_cd19_pct": 0.2,
    "hla_dr_pct": 1.0,
}


@pytest.fixture(scope="module")
def seed() -> Protocol:
    return load_protocol("nct07176143")


@pytest.fixture(scope="module")
def rule(seed: Protocol) -> DoseRule:
    return seed.dose_rule()


def test_design_worked_example_60_kg(seed: Protocol) -> None:
    """DESIGN.md: 60 kg → 6×10⁷ cells, 4×10⁶ cells/mL in 15 mL."""
    plan = compute_dose(seed, 60)
    assert plan.dose_viable_cells == 6e7
    assert plan.volume_ml == 15
    assert plan.viable_concentration_cells_per_ml == 4e6
    assert not plan.capped
    assert plan.draw_total_cells is None and plan.stock_volume_ml is None


def test_viability_gives_total_cells_to_draw(seed: Protocol) -> None:
    plan = compute_dose(seed, 58, viability_pct=92)
    assert plan.dose_viable_cells == 5.8e7
    assert plan.draw_total_cells is not None
    assert plan.draw_total_cells == pytest.approx(6.3043478e7)
    assert plan.draw_total_cells * 0.92 == pytest.approx(5.8e7)
    assert plan.viable_concentration_cells_per_ml == pytest.approx(5.8e7 / 15)
    assert plan.total_concentration_cells_per_ml == pytest.approx(6.3043478e7 / 15)


@pytest.mark.parametrize(
    ("weight_kg", "dose_cells"),
    [(58.35, 5.84e7), (58.34, 5.83e7), (58.349, 5.83e7), (58.25, 5.83e7), (58.2, 5.82e7)],
)
def test_rounding_to_1e5_cells_half_up(seed: Protocol, weight_kg: float, dose_cells: float) -> None:
    assert compute_dose(seed, weight_kg).dose_viable_cells == dose_cells


@pytest.mark.parametrize(
    ("weight_kg", "dose_cells"),
    [(35, 3.5e7), (35.0, 3.5e7), (35.01, 3.5e7), (90, 9e7), (89.9, 8.99e7)],
)
def test_weight_just_inside_the_range(seed: Protocol, weight_kg: float, dose_cells: float) -> None:
    assert compute_dose(seed, weight_kg).dose_viable_cells == dose_cells


@pytest.mark.parametrize("weight_kg", [34.99, 90.01, 120])
def test_weight_outside_the_range(seed: Protocol, weight_kg: float) -> None:
    with pytest.raises(InputError, match=r"35–90 kg.*weigh the participant again.*investigator"):
        compute_dose(seed, weight_kg)


@pytest.mark.parametrize("weight_kg", [0, -60, math.nan, math.inf])
def test_weight_not_a_body_weight(seed: Protocol, weight_kg: float) -> None:
    with pytest.raises(InputError, match="not a body weight"):
        compute_dose(seed, weight_kg)


@pytest.mark.parametrize("viability_pct", [0, -5, 100.5, math.nan])
def test_viability_must_be_a_percentage(seed: Protocol, viability_pct: float) -> None:
    with pytest.raises(InputError, match="viability"):
        compute_dose(seed, 60, viability_pct=viability_pct)


def test_cap(rule: DoseRule) -> None:
    capped_rule = rule.model_copy(update={"max_total_cells": 7.0e7})
    plan = compute_dose(capped_rule, 80)
    assert plan.capped
    assert plan.dose_uncapped_viable_cells == 8e7
    assert plan.dose_viable_cells == 7e7
    assert plan.viable_concentration_cells_per_ml == pytest.approx(7e7 / 15)
    assert any("capped" in note for note in plan.notes)
    assert "Capped from" in render_dose_text(plan)
    at_cap = compute_dose(capped_rule, 70)
    assert not at_cap.capped and at_cap.dose_viable_cells == 7e7


def test_seed_cap_is_the_dose_at_the_top_weight(seed: Protocol) -> None:
    plan = compute_dose(seed, 90)
    assert plan.dose_viable_cells == 9e7 and not plan.capped


def check_status(plan: DosePlan, criterion_id: str) -> ReleaseStatus:
    return next(c.status for c in plan.release_checks if c.criterion_id == criterion_id)


def test_all_release_criteria_pass(seed: Protocol) -> None:
    plan = compute_dose(seed, 60, release_results=ALL_PASS)
    assert plan.released
    assert {c.status for c in plan.release_checks} == {ReleaseStatus.passed}
    assert len(plan.release_checks) == 12


@pytest.mark.parametrize(
    ("criterion_id", "value", "status"),
    [
        ("viability_pct", 79, ReleaseStatus.failed),
        ("viability_pct", 79.99, ReleaseStatus.failed),
        ("viability_pct", 80, ReleaseStatus.passed),
        ("sterility", "positive", ReleaseStatus.failed),
        ("sterility", "Negative ", ReleaseStatus.passed),
        ("mycoplasma", "detected", ReleaseStatus.failed),
        ("endotoxin_eu_ml", 0.5, ReleaseStatus.passed),
        ("endotoxin_eu_ml", "0.51", ReleaseStatus.failed),
        ("cd45_pct", 2.0, ReleaseStatus.passed),
        ("cd45_pct", 2.1, ReleaseStatus.failed),
        ("cd105_pct", 95, ReleaseStatus.passed),
        ("cd105_pct", 94.9, ReleaseStatus.failed),
    ],
)
def test_release_criterion(
    seed: Protocol, criterion_id: str, value: float | str, status: ReleaseStatus
) -> None:
    plan = compute_dose(seed, 60, release_results={**ALL_PASS, criterion_id: value})
    assert check_status(plan, criterion_id) is status
    assert plan.released is (status is ReleaseStatus.passed)


def test_untested_criterion_blocks_release(seed: Protocol) -> None:
    results = {k: v for k, v in ALL_PASS.items() if k != "mycoplasma"}
    plan = compute_dose(seed, 60, release_results=results)
    assert check_status(plan, "mycoplasma") is ReleaseStatus.not_tested
    assert not plan.released
    assert not compute_dose(seed, 60).released


def test_viability_argument_counts_as_the_viability_result(seed: Protocol) -> None:
    results = {k: v for k, v in ALL_PASS.items() if k != "viability_pct"}
    assert compute_dose(seed, 60, viability_pct=80, release_results=results).released
    failed = compute_dose(seed, 60, viability_pct=79, release_results=results)
    assert check_status(failed, "viability_pct") is ReleaseStatus.failed
    with pytest.raises(InputError, match="two viabilities"):
        compute_dose(seed, 60, viability_pct=85, release_results=ALL_PASS)
    assert compute_dose(seed, 60, viability_pct=92, release_results=ALL_PASS).released


def test_release_results_refused_when_unknown_or_not_numbers(rule: DoseRule) -> None:
    with pytest.raises(InputError, match="sterilty"):
        release_checks(rule, {"sterilty": "negative"})
    with pytest.raises(InputError, match=r"cd45_pct.*not a number"):
        release_checks(rule, {"cd45_pct": "low"})


def test_stock_dilution(seed: Protocol) -> None:
    plan = compute_dose(seed, 60, stock_cells_per_ml=1.0e7)
    assert plan.stock_volume_ml == pytest.approx(6.0)
    assert plan.diluent_volume_ml == pytest.approx(9.0)
    assert any("no viability" in note for note in plan.notes)
    with_viability = compute_dose(seed, 58, viability_pct=92, stock_cells_per_ml=2.0e7)
    stock_ml, diluent_ml = with_viability.stock_volume_ml, with_viability.diluent_volume_ml
    assert stock_ml is not None and diluent_ml is not None
    assert stock_ml == pytest.approx(6.3043478e7 / 2e7)
    assert stock_ml + diluent_ml == pytest.approx(15)


def test_stock_exactly_filling_the_volume(seed: Protocol) -> None:
    plan = compute_dose(seed, 60, stock_cells_per_ml=4.0e6)
    assert (plan.stock_volume_ml, plan.diluent_volume_ml) == (15, 0)


def test_stock_too_dilute(seed: Protocol) -> None:
    with pytest.raises(InputError, match=r"too dilute.*20\.00 mL.*at least 4\.000 × 10\^6"):
        compute_dose(seed, 60, stock_cells_per_ml=3.0e6)
    with pytest.raises(InputError, match="above 0"):
        compute_dose(seed, 60, stock_cells_per_ml=0)


def test_tolerance_band_edges(seed: Protocol) -> None:
    plan = compute_dose(seed, 60)
    assert (plan.dose_min_viable_cells, plan.dose_max_viable_cells) == (5.4e7, 6.6e7)
    assert dose_within_tolerance(plan, 5.4e7)
    assert dose_within_tolerance(plan, 6.6e7)
    assert dose_within_tolerance(plan, 6e7)
    assert not dose_within_tolerance(plan, 5.4e7 - 1)
    assert not dose_within_tolerance(plan, 6.6e7 + 1)


def test_tolerance_band_on_an_awkward_dose(seed: Protocol) -> None:
    plan = compute_dose(seed, 58.3)  # 5.83e7; 10% edges are 5.247e7 and 6.413e7 exactly
    assert dose_within_tolerance(plan, 5.247e7)
    assert dose_within_tolerance(plan, 6.413e7)
    assert not dose_within_tolerance(plan, 5.2469999e7)


def test_rule_lookup(seed: Protocol) -> None:
    assert compute_dose(seed, 60, rule_id="hbmsc_weight_based").rule_id == "hbmsc_weight_based"
    with pytest.raises(InputError, match="no dose rule 'other'"):
        compute_dose(seed, 60, rule_id="other")
    with pytest.raises(ProtocolError, match="no dose rule"):
        compute_dose(seed.model_copy(update={"dose_rules": []}), 60)


def test_json_names_units(seed: Protocol) -> None:
    plan = compute_dose(seed, 58, viability_pct=92, stock_cells_per_ml=2e7, release_results={})
    data = json.loads(render_dose_json(plan))
    assert data == json.loads(json.dumps(dose_plan_dict(plan)))
    for key in (
        "weight_kg",
        "dose_viable_cells",
        "volume_ml",
        "viable_concentration_cells_per_ml",
        "draw_total_cells",
        "total_concentration_cells_per_ml",
        "stock_volume_ml",
        "diluent_volume_ml",
        "dose_min_viable_cells",
        "dose_max_viable_cells",
    ):
        assert isinstance(data[key], float), key
    assert data["dose_viable_cells"] == 5.8e7
    viability = data["release_checks"][0]
    assert viability == {
        "criterion_id": "viability_pct",
        "label": "Viability (trypan blue or 7-AAD)",
        "kind": "minimum",
        "limit": 80.0,
        "unit": "%",
        "value": 92.0,
        "status": "pass",
        "override_allowed": True,
        "override_limit": 70.0,
    }
    assert data["released"] is False


def test_text_worksheet(seed: Protocol) -> None:
    plan = compute_dose(seed, 60, viability_pct=79, stock_cells_per_ml=1e7)
    text = render_dose_text(plan)
    assert "6.000 × 10^7 cells" in text
    assert "4.000 × 10^6 cells/mL" in text
    assert "Tolerance (±10 %)" in text and "5.400 × 10^7 – 6.600 × 10^7" in text
    assert "NOT RELEASED" in text
    viability_row = next(
        line for line in text.splitlines() if line.strip().startswith("viability_pct ")
    )
    assert "Viability" in viability_row and "≥ 80 %" in viability_row
    assert "79" in viability_row and "FAIL" in viability_row
    # Results are given by id (--release sterility=negative): every id is in the worksheet.
    assert all(f"  {check.criterion_id}  " in text for check in plan.release_checks)


@pytest.mark.parametrize("viability_pct", [0.92, 0.8, 0.999])
def test_viability_as_a_fraction_is_refused_with_the_percentage(
    seed: Protocol, viability_pct: float
) -> None:
    """0.92 typed for 92 % would be counted as 0.92 % viable cells: no product is that."""
    percent = {0.92: "92", 0.8: "80", 0.999: "99.9"}[viability_pct]
    with pytest.raises(InputError, match=rf"did you mean {percent}\?"):
        compute_dose(seed, 60, viability_pct=viability_pct)
    with pytest.raises(InputError, match=rf"did you mean {percent}\?"):
        compute_dose(seed, 60, release_results={**ALL_PASS, "viability_pct": viability_pct})
    assert compute_dose(seed, 60, viability_pct=1).viability_pct == 1


@pytest.mark.parametrize(
    ("criterion_id", "given", "suggestion"),
    [
        ("sterility", "neg", "negative"),
        ("sterility", "negatve", "negative"),
        ("mycoplasma", "pos", "positive"),
        ("sterility", "ok", None),
        ("sterility", "", None),
        ("sterility", "not detected", None),
    ],
)
def test_release_words_outside_the_allowed_set_are_refused(
    rule: DoseRule, criterion_id: str, given: str, suggestion: str | None
) -> None:
    """An abbreviation or a typo is neither a pass nor a fail: it is refused, naming the words
    the protocol's test takes, instead of silently failing the product."""
    with pytest.raises(InputError) as caught:
        release_checks(rule, {criterion_id: given})
    message = str(caught.value)
    assert f"release result for {criterion_id}" in message
    assert "'negative' (passes)" in message and "'positive'" in message
    if suggestion:
        assert f"did you mean '{suggestion}'?" in message
    else:
        assert "did you mean" not in message


def test_release_words_in_the_allowed_set_are_judged(rule: DoseRule) -> None:
    checks = release_checks(
        rule, {"sterility": "NEGATIVE", "mycoplasma": " Detected ", "viability_pct": 85}
    )
    status = {check.criterion_id: check.status for check in checks}
    assert status["sterility"] is ReleaseStatus.passed
    assert status["mycoplasma"] is ReleaseStatus.failed
    assert status["viability_pct"] is ReleaseStatus.passed
