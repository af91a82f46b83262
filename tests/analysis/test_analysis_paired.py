"""Before/after analyses against R's published outputs (sources next to the numbers)."""

import numpy as np
import pytest

from endotrial.analysis.paired import (
    paired_change,
    paired_t,
    signed_rank_cdf,
    wilcoxon_signed_rank,
)
from endotrial.errors import InputError

# Hollander & Wolfe (1973), p. 29f: Hamilton depression scale factor IV in 9 patients at the
# first (x) and second (y) visit after a tranquilizer (the example in R's ?wilcox.test).
DEPRESSION_FIRST = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
DEPRESSION_SECOND = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]


def test_exact_wilcoxon_matches_hollander_wolfe_and_r() -> None:
    # R's regression tests (tests/reg-tests-1a.R, PR#1150): wilcox.test(y, x, paired = TRUE,
    # conf.int = TRUE) gives p = 0.0391, CI (-0.786, -0.010), estimate -0.46: "Results from
    # Hollander & Wolfe (1999), 2nd edition, page 40 and 53".
    result = wilcoxon_signed_rank(DEPRESSION_FIRST, DEPRESSION_SECOND)
    assert "exact" in result.method
    assert round(result.p_value, 4) == 0.0391  # type: ignore[arg-type]
    assert (round(result.low, 3), round(result.high, 3)) == (-0.786, -0.010)  # type: ignore[arg-type]
    assert round(result.estimate, 3) == -0.46  # type: ignore[arg-type]
    # R ?wilcox.test: wilcox.test(x, y, paired = TRUE, alternative = "greater"): V = 40; here
    # the change is y − x, so V is the complement 45 − 40 = 5.
    assert result.statistic == 5


def test_asymptotic_wilcoxon_with_ties_matches_r() -> None:
    # R output posted at stats.stackexchange.com/questions/613310 (19 pairs, one tie):
    # wilcox.test(x1, x2, paired = TRUE, conf.int = TRUE, correct = TRUE): V = 181,
    # p-value = 0.0005795, 95% CI 2.179984 to 4.350064, (pseudo)median 3.314607;
    # t.test(x1, x2, paired = TRUE): t = 3.4757, df = 18, p-value = 0.002698,
    # 95% CI 1.536795 to 6.233732, mean difference 3.885263.
    pairs = [
        (37.14, 33.21), (34.69, 31.25), (65.52, 43.73), (40.56, 38.26), (41.32, 41.72),
        (39.34, 38.14), (43.95, 41.07), (44.26, 39.49), (35.28, 28.50), (37.12, 32.40),
        (37.82, 35.87), (34.71, 33.79), (34.08, 30.49), (33.08, 36.29), (36.89, 33.18),
        (41.38, 37.70), (39.29, 33.86), (41.62, 39.21), (39.36, 35.43),
    ]  # fmt: skip
    first = [a for a, _ in pairs]
    second = [b for _, b in pairs]
    wilcoxon = wilcoxon_signed_rank(before=second, after=first)
    assert "normal approximation" in wilcoxon.method
    assert wilcoxon.statistic == 181
    assert wilcoxon.p_value == pytest.approx(0.0005795, rel=1e-3)
    # R's uniroot stops at tol = 1e-4, so its limits are good to about 4 decimals.
    assert wilcoxon.low == pytest.approx(2.179984, abs=2e-3)
    assert wilcoxon.high == pytest.approx(4.350064, abs=2e-3)
    # R's estimate is a root of its corrected statistic, which is 0 from about 3.2975 to
    # 3.3175 here; ours is the Hodges-Lehmann median of the Walsh averages, in that interval.
    assert wilcoxon.estimate == pytest.approx(3.305)
    assert wilcoxon.estimate == pytest.approx(3.314607, abs=0.02)
    t_test = paired_t(before=second, after=first)
    assert t_test.statistic == pytest.approx(3.4757, abs=1e-4)
    assert t_test.p_value == pytest.approx(0.002698, rel=1e-3)
    assert t_test.low == pytest.approx(1.536795, abs=1e-6)
    assert t_test.high == pytest.approx(6.233732, abs=1e-6)
    assert t_test.estimate == pytest.approx(3.885263, abs=1e-6)


def test_paired_t_matches_r_on_student_sleep_data() -> None:
    # R ?sleep (Cushny & Peebles data, Student 1908): t.test(extra[group == 1],
    # extra[group == 2], paired = TRUE): t = -4.0621, df = 9, p-value = 0.002833,
    # 95% CI -2.4598858 to -0.7001142, mean difference -1.58.
    drug_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    drug_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
    result = paired_t(before=drug_2, after=drug_1)
    assert result.statistic == pytest.approx(-4.0621, abs=1e-4)
    assert result.p_value == pytest.approx(0.002833, rel=1e-3)
    assert (result.low, result.high) == pytest.approx((-2.4598858, -0.7001142), abs=1e-7)
    assert result.estimate == pytest.approx(-1.58)


def test_signed_rank_distribution_is_rs_psignrank() -> None:
    # psignrank(5, 9) = 10/512 = 0.01953 (the p-value of V = 40 in ?wilcox.test).
    assert signed_rank_cdf(9)[5] == pytest.approx(10 / 512)
    assert signed_rank_cdf(9)[-1] == pytest.approx(1.0)


def test_incomplete_pairs_are_left_out_and_counted() -> None:
    before = [*DEPRESSION_FIRST, np.nan, 2.0]
    after = [*DEPRESSION_SECOND, 1.0, None]
    t_result, w_result = paired_change(before, after)
    assert t_result.n == 9 and w_result.n == 9
    assert any("2 incomplete pair(s)" in note for note in t_result.notes)
    assert round(w_result.p_value, 4) == 0.0391  # type: ignore[arg-type]


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(InputError, match="one pair per participant"):
        paired_t([1.0, 2.0], [1.0])
    with pytest.raises(InputError, match="at least 2 complete pairs"):
        paired_t([1.0, np.nan], [2.0, 3.0])
    with pytest.raises(InputError, match="every difference is 0"):
        wilcoxon_signed_rank([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(InputError, match="must be a number"):
        paired_t(["a", "b"], [1.0, 2.0])
