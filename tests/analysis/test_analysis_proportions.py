"""Two-group proportions against published reference values (sources next to the numbers)."""

import json
import math

import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

from endotrial.analysis.proportions import (
    TwoGroups,
    boschloo_test,
    compare_proportions,
    fisher_exact_test,
    odds_ratio_woolf,
    rate,
    risk_difference_mn,
    risk_difference_newcombe,
    risk_ratio,
)
from endotrial.analysis.results import results_json
from endotrial.errors import InputError

# Newcombe RG (1998). Interval estimation for the difference between independent proportions:
# comparison of eleven methods. Stat Med 17:873-890, Table II, examples (a)-(h): 95% limits of
# method 10 (hybrid score, no continuity correction) and of the Miettinen-Nurminen score method.
NEWCOMBE_TABLE_II = [
    # (x_a, n_a, x_b, n_b), method 10, Miettinen-Nurminen
    ((56, 70, 48, 80), (0.0524, 0.3339), (0.0528, 0.3382)),
    ((9, 10, 3, 10), (0.1705, 0.8090), (0.1700, 0.8406)),
    ((6, 7, 2, 7), (0.0582, 0.8062), (0.0342, 0.8534)),
    ((5, 56, 0, 29), (-0.0381, 0.1926), (-0.0326, 0.1933)),
    ((0, 10, 0, 20), (-0.1611, 0.2775), (-0.1658, 0.2844)),
    ((0, 10, 0, 10), (-0.2775, 0.2775), (-0.2879, 0.2879)),
    ((10, 10, 0, 20), (0.6791, 1.0), (0.7156, 1.0)),
    ((10, 10, 0, 10), (0.6075, 1.0), (0.6636, 1.0)),
]


@pytest.mark.parametrize(("counts", "newcombe", "mn"), NEWCOMBE_TABLE_II)
def test_risk_difference_intervals_match_newcombe_1998_table_ii(
    counts: tuple[int, int, int, int],
    newcombe: tuple[float, float],
    mn: tuple[float, float],
) -> None:
    groups = TwoGroups(*counts)
    hybrid = risk_difference_newcombe(groups)
    score = risk_difference_mn(groups)
    assert hybrid.estimate == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
    assert (round(hybrid.low, 4), round(hybrid.high, 4)) == newcombe  # type: ignore[arg-type]
    assert (round(score.low, 4), round(score.high, 4)) == mn  # type: ignore[arg-type]


def test_mn_interval_matches_fagerland_lydersen_laake() -> None:
    # Fagerland, Lydersen & Laake (2017), Statistical Analysis of Contingency Tables, ch. 4:
    # CHRNA4 genotype and XFS (Ritland et al. 2007), 0/16 vs 15/72: MN -0.3164 to -0.0056;
    # and the epinephrine RCT (Perondi et al. 2004), 7/34 vs 1/34: Newcombe 0.0189 to 0.3404
    # (values as printed by the book's R package `contingencytables`, tests/test-ch4.R).
    score = risk_difference_mn(TwoGroups(0, 16, 15, 72))
    assert (round(score.low, 4), round(score.high, 4)) == (-0.3164, -0.0056)
    hybrid = risk_difference_newcombe(TwoGroups(7, 34, 1, 34))
    assert (round(hybrid.low, 4), round(hybrid.high, 4)) == (0.0189, 0.3404)


def test_statsmodels_score_interval_is_the_known_wrong_one() -> None:
    """Why MN is computed here (statsmodels issue 10269): if this starts failing, re-check."""
    _low, high = confint_proportions_2indep(56, 70, 48, 80, method="score", correction=True)
    assert round(high, 4) != 0.3382


def test_single_rates_match_newcombe_1998_single_proportion_paper() -> None:
    # Newcombe RG (1998). Two-sided confidence intervals for the single proportion: comparison
    # of seven methods. Stat Med 17:857-872, Table I: Wilson (method 3) 81/263: 0.2553 to
    # 0.3662; 15/148: 0.0624 to 0.1605; Clopper-Pearson (method 5) 15/148: 0.0578 to 0.1617,
    # 0/20: 0 to 0.1684, 1/29: 0.0009 to 0.1776.
    wilson = [(81, 263, (0.2553, 0.3662)), (15, 148, (0.0624, 0.1605))]
    for events, total, expected in wilson:
        result = rate(events, total, method="wilson")
        assert (round(result.low, 4), round(result.high, 4)) == expected  # type: ignore[arg-type]
    exact = [(15, 148, (0.0578, 0.1617)), (0, 20, (0.0, 0.1684)), (1, 29, (0.0009, 0.1776))]
    for events, total, expected in exact:
        result = rate(events, total, method="clopper-pearson")
        assert (round(result.low, 4), round(result.high, 4)) == expected  # type: ignore[arg-type]


def test_rates_at_zero_and_all_stay_in_the_unit_interval() -> None:
    for method in ("wilson", "clopper-pearson"):
        none = rate(0, 30, method=method)
        every = rate(30, 30, method=method)
        assert none.low == 0.0 and 0 < none.high < 0.2  # type: ignore[operator]
        assert every.high == 1.0 and 0.8 < every.low < 1  # type: ignore[operator]


def test_risk_ratio_katz_matches_published_values() -> None:
    # Moore, McCabe & Craig, Introduction to the Practice of Statistics (9th ed.), Example 8.18:
    # aspirin 45/411 vs placebo 73/411, relative risk 95% CI 0.4364 to 0.8707.
    result = risk_ratio(TwoGroups(45, 411, 73, 411))
    assert result.method == "Katz log"
    assert (round(result.low, 4), round(result.high, 4)) == (0.4364, 0.8707)  # type: ignore[arg-type]
    # Fagerland, Lydersen & Laake (2017) ch. 4, Perondi 7/34 vs 1/34: Katz 0.9096 to 53.8695.
    result = risk_ratio(TwoGroups(7, 34, 1, 34))
    assert result.estimate == pytest.approx(7.0)
    assert (round(result.low, 4), round(result.high, 4)) == (0.9096, 53.8695)  # type: ignore[arg-type]


def test_risk_ratio_with_no_events_uses_the_adjusted_log_interval() -> None:
    # The adjusted log interval of Fagerland, Lydersen & Laake (2017) ch. 4 on Perondi 7/34 vs
    # 1/34 is 0.9241 to 27.0523; here it is used only when a group has no events.
    result = risk_ratio(TwoGroups(0, 16, 15, 72))
    assert result.estimate == 0.0
    assert "adjusted log" in result.method and result.notes
    assert 0 < result.low < 1 < result.high  # type: ignore[operator]
    # The same formula on the book's table (forced through the zero-free path by hand):
    x_a, n_a, x_b, n_b = 7.5, 34.5, 1.5, 34.5
    z = stats.norm.ppf(0.975)
    se = math.sqrt(1 / x_a - 1 / n_a + 1 / x_b - 1 / n_b)
    centre = math.log((x_a / n_a) / (x_b / n_b))
    assert round(math.exp(centre - z * se), 4) == 0.9241
    assert round(math.exp(centre + z * se), 4) == 27.0523


def test_odds_ratio_woolf_and_gart_adjustment() -> None:
    # Agresti (2007), An Introduction to Categorical Data Analysis, 2nd ed., §2.3 (Physicians'
    # Health Study): placebo 189/11034 vs aspirin 104/11037, odds ratio 1.83, 95% CI 1.44 to 2.33.
    result = odds_ratio_woolf(TwoGroups(189, 11034, 104, 11037))
    assert round(result.estimate, 2) == 1.83  # type: ignore[arg-type]
    assert (round(result.low, 2), round(result.high, 2)) == (1.44, 2.33)  # type: ignore[arg-type]
    # Fagerland, Lydersen & Laake (2017) ch. 4, Ritland 0/16 vs 15/72: Gart adjusted logit
    # 0.0064 to 1.9804.
    result = odds_ratio_woolf(TwoGroups(0, 16, 15, 72))
    assert result.method.startswith("Gart adjusted logit")
    assert (round(result.low, 4), round(result.high, 4)) == (0.0064, 1.9804)  # type: ignore[arg-type]


def test_fisher_matches_r_fisher_test_on_tea_tasting() -> None:
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2)) (Agresti 1990 p. 61, the Tea Tasting example in
    # ?fisher.test); output as printed in Penn State STAT 504, lesson 4 (TeaLady.out):
    # p-value = 0.4857, 95% CI 0.2117329 to 621.9337505, odds ratio 6.408309.
    result = fisher_exact_test(TwoGroups(3, 4, 1, 4))
    assert round(result.p_value, 4) == 0.4857  # type: ignore[arg-type]
    assert result.estimate == pytest.approx(6.408309, rel=1e-5)
    assert result.low == pytest.approx(0.2117329, rel=1e-3)
    # R stops its root search at uniroot's default tolerance on the 1/OR scale, so its upper
    # limit is off by under 1 %; the exact limit is where P(X <= 3; OR) = 0.025.
    assert result.high == pytest.approx(621.9337505, rel=0.01)
    assert _lower_tail_given_or(3, 4, 4, 4, result.high) == pytest.approx(0.025, abs=1e-6)


def test_fisher_matches_r_fisher_test_on_handedness() -> None:
    # R: fisher.test(matrix(c(43, 9, 44, 4), ncol = 2, byrow = TRUE)), as printed at
    # matstat.org (R course, Fisher's exact test): p-value = 0.2392, 95% CI 0.09150811 to
    # 1.71527769, odds ratio 0.4378606 (right-handed: men 43/52, women 44/48).
    result = fisher_exact_test(TwoGroups(43, 52, 44, 48))
    assert round(result.p_value, 4) == 0.2392  # type: ignore[arg-type]
    assert result.estimate == pytest.approx(0.4378606, rel=1e-4)
    assert result.low == pytest.approx(0.09150811, rel=1e-3)
    assert result.high == pytest.approx(1.71527769, rel=1e-3)
    # Not the sample odds ratio scipy's fisher_exact reports:
    assert result.estimate != pytest.approx((43 * 4) / (9 * 44), rel=1e-3)


def test_fisher_p_value_matches_fagerland_example() -> None:
    # Fagerland, Lydersen & Laake (2017) ch. 4, Ritland 0/16 vs 15/72: Fisher P = 0.06287.
    result = fisher_exact_test(TwoGroups(0, 16, 15, 72))
    assert round(result.p_value, 5) == 0.06287  # type: ignore[arg-type]
    assert result.estimate == 0.0 and result.low == 0.0


def test_boschloo_takes_groups_as_columns() -> None:
    groups = TwoGroups(7, 34, 1, 34)
    result = boschloo_test(groups)
    by_columns = stats.boschloo_exact([[7, 1], [27, 33]], alternative="two-sided").pvalue
    by_rows = stats.boschloo_exact([[7, 27], [1, 33]], alternative="two-sided").pvalue
    assert result.p_value == pytest.approx(by_columns)
    assert result.p_value != pytest.approx(by_rows)
    # Boschloo's test is uniformly at least as powerful as Fisher's: never a larger p-value.
    assert result.p_value <= fisher_exact_test(groups).p_value  # type: ignore[operator]


@pytest.mark.parametrize("counts", [(0, 30, 0, 30), (30, 30, 30, 30), (0, 30, 30, 30)])
def test_degenerate_tables_give_results_not_tracebacks(counts: tuple[int, ...]) -> None:
    results = compare_proportions(TwoGroups(*counts))
    text = results_json(results)
    assert "NaN" not in text and "Infinity" not in text
    for item in json.loads(text):
        for key in ("low", "high"):
            value = item[key]
            if value is not None and item["quantity"].startswith("risk difference"):
                assert -1 <= value <= 1


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ((1, 0, 1, 10), "total is 0"),
        ((11, 10, 1, 10), "between 0 and the total"),
        ((-1, 10, 1, 10), "between 0 and the total"),
        ((1.5, 10, 1, 10), "whole number"),
    ],
)
def test_bad_counts_are_refused_with_a_clear_error(
    counts: tuple[float, int, int, int], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        TwoGroups(*counts)  # type: ignore[arg-type]


def test_bad_confidence_is_refused() -> None:
    with pytest.raises(InputError, match="between 0 and 1"):
        risk_difference_mn(TwoGroups(1, 10, 2, 10), confidence=95)


def _lower_tail_given_or(x: int, row_a: int, row_b: int, column: int, odds: float) -> float:
    support = range(max(0, column - row_b), min(row_a, column) + 1)
    weights = {k: math.comb(row_a, k) * math.comb(row_b, column - k) * odds**k for k in support}
    return sum(w for k, w in weights.items() if k <= x) / sum(weights.values())
