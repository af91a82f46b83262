"""Power and sample size: R's power.prop.test examples and exact power checked against scipy."""

import math

import numpy as np
import pytest
from scipy import stats

from endotrial.analysis import power as power_module
from endotrial.analysis.power import (
    boschloo_p_values,
    boschloo_rejection_region,
    detectable_p2,
    exact_power,
    exact_sample_size,
    fisher_rejection_region,
    power_from_region,
    power_prop_test,
    sample_size_prop_test,
)
from endotrial.errors import InputError


def test_power_prop_test_matches_the_examples_in_r_documentation() -> None:
    # R, ?power.prop.test, Examples:
    #   power.prop.test(n = 50, p1 = .50, p2 = .75)      ## => power = 0.740
    #   power.prop.test(p1 = .50, p2 = .75, power = .90) ## => n = 76.7
    #   power.prop.test(n = 50, p1 = .5, power = .90)    ## => p2 = 0.8
    assert round(power_prop_test(n=50, p1=0.5, p2=0.75), 3) == 0.740
    assert round(sample_size_prop_test(p1=0.5, p2=0.75, power=0.9), 1) == 76.7
    assert round(detectable_p2(n=50, p1=0.5, power=0.9), 1) == 0.8


def test_one_sided_and_strict_power() -> None:
    two = power_prop_test(n=50, p1=0.5, p2=0.75)
    one = power_prop_test(n=50, p1=0.5, p2=0.75, alternative="one-sided")
    strict = power_prop_test(n=50, p1=0.5, p2=0.75, strict=True)
    assert one > two and strict > two
    # With no difference, non-strict two-sided power is alpha / 2 (R's documented behaviour).
    assert power_prop_test(n=50, p1=0.5, p2=0.5) == pytest.approx(0.025)


def test_fisher_rejection_region_is_scipys_fisher_exact_on_every_table() -> None:
    n1, n2, alpha = 9, 12, 0.05
    region = fisher_rejection_region(n1, n2, alpha)
    for x1 in range(n1 + 1):
        for x2 in range(n2 + 1):
            p_value = stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue
            assert region[x1, x2] == (p_value <= alpha), (x1, x2, p_value)


def test_exact_fisher_power_is_the_sum_over_scipy_decisions() -> None:
    n1, n2, p1, p2 = 14, 11, 0.25, 0.7
    brute = 0.0
    for x1 in range(n1 + 1):
        for x2 in range(n2 + 1):
            if stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue <= 0.05:
                brute += stats.binom.pmf(x1, n1, p1) * stats.binom.pmf(x2, n2, p2)
    result = exact_power(p1=p1, p2=p2, n1=n1, n2=n2, test="fisher")
    assert result.estimate == pytest.approx(brute, rel=1e-12)


def test_boschloo_p_values_match_scipy_on_every_table() -> None:
    n1, n2 = 6, 8
    ours = boschloo_p_values(n1, n2)
    for x1 in range(n1 + 1):
        for x2 in range(n2 + 1):
            table = [[x1, x2], [n1 - x1, n2 - x2]]  # scipy: groups are columns
            expected = stats.boschloo_exact(table, alternative="two-sided", n=64).pvalue
            if math.isnan(expected):  # no successes or no failures at all
                continue
            assert ours[x1, x2] == pytest.approx(expected, rel=1e-7, abs=1e-12), (x1, x2)


def test_exact_tests_hold_their_level_and_boschloo_is_more_powerful() -> None:
    n = 30
    fisher = fisher_rejection_region(n, n, 0.05)
    boschloo = boschloo_rejection_region(n, n, 0.05)
    assert (fisher <= boschloo).all()  # every table Fisher rejects, Boschloo rejects too
    for p in np.linspace(0.05, 0.95, 19):
        assert power_from_region(fisher, p, p) <= 0.05
        assert power_from_region(boschloo, p, p) <= 0.05 + 1e-9
    # The seed trial's design question: 30 against 30, 25 % against 55 %.
    power_f = exact_power(p1=0.25, p2=0.55, n1=30, test="fisher").estimate
    power_b = exact_power(p1=0.25, p2=0.55, n1=30, test="boschloo").estimate
    assert power_f is not None and power_b is not None
    assert power_f < power_b < power_prop_test(n=30, p1=0.25, p2=0.55) + 0.1


def test_monte_carlo_is_used_only_beyond_the_enumeration_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exact = exact_power(p1=0.3, p2=0.6, n1=30, test="fisher")
    assert "enumeration" in exact.method and exact.low is None
    monkeypatch.setitem(power_module.MAX_ENUMERATED_TABLES, "fisher", 100)
    simulated = exact_power(p1=0.3, p2=0.6, n1=30, test="fisher", simulations=4000)
    assert "Monte Carlo" in simulated.method
    assert simulated.low is not None and simulated.high is not None
    assert simulated.low <= exact.estimate <= simulated.high  # type: ignore[operator]


def test_exact_sample_size_is_the_smallest_n_reaching_the_target() -> None:
    result = exact_sample_size(p1=0.3, p2=0.6, power=0.8, test="fisher")
    assert result.estimate is not None
    n = int(result.estimate)
    assert exact_power(p1=0.3, p2=0.6, n1=n).estimate >= 0.8  # type: ignore[operator]
    below = [exact_power(p1=0.3, p2=0.6, n1=k).estimate for k in range(n - 5, n)]
    assert all(value < 0.8 for value in below)  # type: ignore[operator]
    # Fisher's test is conservative: it needs more than the normal approximation.
    assert n >= math.ceil(sample_size_prop_test(p1=0.3, p2=0.6, power=0.8))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 50, "p1": 0.0, "p2": 0.5}, "p1 0 must be strictly between 0 and 1"),
        ({"n": 50, "p1": 0.5, "p2": 1.2}, "p2 1.2 must be"),
        ({"n": 1, "p1": 0.5, "p2": 0.6}, "at least 2"),
        ({"n": 50, "p1": 0.5, "p2": 0.6, "alpha": 5}, "alpha 5 must be"),
    ],
)
def test_bad_design_values_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        power_prop_test(**kwargs)  # type: ignore[arg-type]


def test_bad_group_sizes_and_equal_rates_are_refused() -> None:
    with pytest.raises(InputError, match="n1 0 must be a whole number"):
        exact_power(p1=0.3, p2=0.6, n1=0)
    with pytest.raises(InputError, match="equal"):
        sample_size_prop_test(p1=0.3, p2=0.3)
    with pytest.raises(InputError, match="not one of"):
        exact_power(p1=0.3, p2=0.6, n1=10, test="barnard")  # type: ignore[arg-type]
