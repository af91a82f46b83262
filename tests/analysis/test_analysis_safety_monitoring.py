"""Interim safety: the Bayesian excess probability against a closed form and simulation."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln

from endotrial.analysis.safety_monitoring import (
    JEFFREYS,
    UNIFORM,
    BetaPrior,
    posterior_excess,
    serious_events_by_arm,
)
from endotrial.errors import InputError


def miller_probability_b_beats_a(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """Closed form of P(p_B > p_A) for integer a_B (Evan Miller 2015, "Formulas for Bayesian
    A/B testing", evanmiller.org/bayesian-ab-testing.html; after J. D. Cook 2005, "Exact
    calculation of beta inequalities")."""
    total = 0.0
    for i in range(a_b):
        total += math.exp(
            betaln(a_a + i, b_a + b_b) - math.log(b_b + i) - betaln(1 + i, b_b) - betaln(a_a, b_a)
        )
    return total


@pytest.mark.parametrize(
    ("events_a", "total_a", "events_b", "total_b"),
    [(3, 30, 0, 30), (5, 30, 2, 30), (0, 30, 0, 30), (30, 30, 1, 30), (2, 12, 7, 28)],
)
def test_zero_margin_matches_the_closed_form(
    events_a: int, total_a: int, events_b: int, total_b: int
) -> None:
    probability = posterior_excess(events_a, total_a, events_b, total_b, prior=UNIFORM)[0]
    # P(p_A > p_B) is Miller's formula with the arms swapped (B's posterior in A's place).
    expected = miller_probability_b_beats_a(
        1 + events_b, 1 + total_b - events_b, 1 + events_a, 1 + total_a - events_a
    )
    assert probability.estimate == pytest.approx(expected, abs=1e-9)


def test_margin_and_jeffreys_prior_agree_with_simulation() -> None:
    # 4/30 serious AEs in the stem-cell arm against 1/30 in control; margin 5 points.
    result, difference = posterior_excess(
        4, 30, 1, 30, margin=0.05, prior=JEFFREYS, label_a="hbmsc", label_b="control"
    )
    rng = np.random.default_rng(2025)
    draws_a = rng.beta(0.5 + 4, 0.5 + 26, 400_000)
    draws_b = rng.beta(0.5 + 1, 0.5 + 29, 400_000)
    simulated = float(np.mean(draws_a - draws_b > 0.05))
    standard_error = math.sqrt(simulated * (1 - simulated) / 400_000)
    assert result.estimate == pytest.approx(simulated, abs=4 * standard_error)
    assert "hbmsc" in result.quantity and "0.05" in result.quantity
    assert any("Jeffreys" in note for note in result.notes)
    quantiles = np.quantile(draws_a - draws_b, [0.025, 0.5, 0.975])
    assert difference.low == pytest.approx(quantiles[0], abs=3e-3)
    assert difference.estimate == pytest.approx(quantiles[1], abs=3e-3)
    assert difference.high == pytest.approx(quantiles[2], abs=3e-3)


def test_probability_falls_as_the_margin_grows() -> None:
    values = [posterior_excess(4, 30, 1, 30, margin=m)[0].estimate for m in (0, 0.05, 0.1, 0.2)]
    assert values == sorted(values, reverse=True)  # type: ignore[type-var]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InputError, match=r"margin 1\.5"):
        posterior_excess(1, 10, 1, 10, margin=1.5)
    with pytest.raises(InputError, match="total is 0"):
        posterior_excess(0, 0, 1, 10)
    with pytest.raises(InputError, match="must be > 0"):
        BetaPrior(0, 1, "improper")


def test_negative_margin_includes_the_certain_part() -> None:
    result = posterior_excess(1, 30, 3, 30, margin=-0.05)[0]
    rng = np.random.default_rng(7)
    draws = rng.beta(2, 30, 400_000) - rng.beta(4, 28, 400_000)
    simulated = float(np.mean(draws > -0.05))
    assert result.estimate == pytest.approx(simulated, abs=4 * math.sqrt(0.25 / 400_000))


def test_serious_events_are_counted_per_arm_of_the_safety_set() -> None:
    participants = pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3", "P4", "P5"],
            "arm": ["hbmsc", "hbmsc", "control", "control", "control"],
            "in_safety_set": [True, True, True, True, False],
        }
    )
    events = pd.DataFrame(
        {
            "participant_id": ["P1", "P1", "P2", "P3", "P5"],
            "serious": [True, True, False, True, True],
        }
    )
    table = serious_events_by_arm(participants, events, arms=["hbmsc", "control"])
    assert table.to_dict("records") == [
        {"arm": "hbmsc", "participants": 2, "participants_with_serious_ae": 1, "serious_aes": 2},
        # P5 is outside the safety set: neither she nor her event counts.
        {"arm": "control", "participants": 2, "participants_with_serious_ae": 1, "serious_aes": 1},
    ]
