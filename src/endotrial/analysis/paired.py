"""Single-arm before/after trials: change from baseline, paired t and Wilcoxon signed-rank.

The change is after − before, one pair per participant; a pair missing either value is left
out (and counted in the notes). The Wilcoxon interval and estimate follow R's
`wilcox.test(after, before, paired = TRUE, conf.int = TRUE)`:

- without ties or zero differences and n < 50: the exact interval from the order statistics of
  the n(n + 1)/2 Walsh averages at the signed-rank quantiles, and the Hodges-Lehmann estimate
  (their median);
- otherwise: the normal approximation with tie-corrected variance and continuity correction,
  inverted by root finding.

The estimate is always the Hodges-Lehmann estimate, the median of the Walsh averages. (In the
approximate case R reports instead a root of its continuity-corrected statistic, which is 0 on
a whole interval; any point of it may come out, so R's figure can differ from the median of the
Walsh averages by up to that interval's width.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

from endotrial.analysis._checks import check_confidence
from endotrial.analysis.results import AnalysisResult
from endotrial.errors import InputError

#: Below this many non-zero differences (and without ties) R's wilcox.test is exact.
EXACT_BELOW = 50


def paired_change(
    before: ArrayLike, after: ArrayLike, *, confidence: float = 0.95, what: str = "change"
) -> list[AnalysisResult]:
    """Mean change with the paired t test, and the Hodges-Lehmann change with Wilcoxon's test."""
    return [
        paired_t(before, after, confidence=confidence, what=what),
        wilcoxon_signed_rank(before, after, confidence=confidence, what=what),
    ]


def paired_t(
    before: ArrayLike, after: ArrayLike, *, confidence: float = 0.95, what: str = "change"
) -> AnalysisResult:
    """Mean of after − before with its t interval and the paired t test (scipy ttest_rel)."""
    level = check_confidence(confidence)
    differences, dropped = _differences(before, after)
    if differences.size < 2:
        raise InputError(f"{what}: the paired t test needs at least 2 complete pairs")
    test = stats.ttest_rel(differences, np.zeros_like(differences))
    interval = test.confidence_interval(confidence_level=level)
    return AnalysisResult(
        quantity=f"mean {what} (after − before)",
        method="paired t test",
        estimate=float(differences.mean()),
        low=float(interval.low),
        high=float(interval.high),
        confidence=level,
        p_value=float(test.pvalue),
        statistic=float(test.statistic),
        n=int(differences.size),
        notes=(f"df = {differences.size - 1}", *_dropped_note(dropped)),
    )


def wilcoxon_signed_rank(
    before: ArrayLike,
    after: ArrayLike,
    *,
    confidence: float = 0.95,
    correct: bool = True,
    what: str = "change",
) -> AnalysisResult:
    """Wilcoxon signed-rank test of after − before, with the Hodges-Lehmann estimate and CI."""
    level = check_confidence(confidence)
    differences, dropped = _differences(before, after)
    non_zero = differences[differences != 0]
    n = int(non_zero.size)
    if n == 0:
        raise InputError(f"{what}: every difference is 0; the signed-rank test has nothing to rank")
    ranks = stats.rankdata(np.abs(non_zero))
    v_statistic = float(ranks[non_zero > 0].sum())
    ties = np.unique(ranks).size != n
    zeros = n != differences.size
    notes = [f"V = {v_statistic:g} (sum of the ranks of positive differences)"]
    notes += _dropped_note(dropped)
    if n < EXACT_BELOW and not ties and not zeros:
        p_value = float(stats.wilcoxon(non_zero, method="exact").pvalue)
        estimate, low, high, achieved = _exact_interval(non_zero, level)
        method = "Wilcoxon signed-rank, exact; Hodges-Lehmann estimate"
        if not math.isclose(achieved, level, abs_tol=1e-12):
            notes.append(f"the exact interval's achieved confidence is {achieved:.4f}")
    else:
        p_value = float(
            stats.wilcoxon(
                non_zero, zero_method="wilcox", correction=correct, method="asymptotic"
            ).pvalue
        )
        low, high = _asymptotic_interval(non_zero, level, correct)
        estimate = float(np.median(_walsh_averages(non_zero)))
        method = "Wilcoxon signed-rank, normal approximation; Hodges-Lehmann estimate"
        reasons = [r for r, flag in (("ties", ties), ("zero differences", zeros)) if flag]
        if reasons:
            notes.append(f"{' and '.join(reasons)}: exact distribution not used")
    return AnalysisResult(
        quantity=f"(pseudo)median {what} (after − before)",
        method=method,
        estimate=estimate,
        low=low,
        high=high,
        confidence=level,
        p_value=p_value,
        statistic=v_statistic,
        n=int(differences.size),
        notes=tuple(notes),
    )


def signed_rank_cdf(n: int) -> NDArray[np.float64]:
    """P(V <= v) for v = 0 … n(n+1)/2 under H0 (R's psignrank), by counting subsets."""
    top = n * (n + 1) // 2
    counts = np.zeros(top + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[: top + 1 - rank].copy()
    return np.cumsum(counts) / 2.0**n


def _exact_interval(differences: NDArray[np.float64], level: float) -> tuple[float, ...]:
    n = differences.size
    walsh = _walsh_averages(differences)
    cdf = signed_rank_cdf(n)
    alpha = 1 - level
    # R: qu <- qsignrank(alpha / 2, n); the smallest v with P(V <= v) >= alpha / 2.
    lower_rank = int(np.searchsorted(cdf, alpha / 2 - 1e-12))
    lower_rank = max(lower_rank, 1)
    upper_rank = n * (n + 1) // 2 - lower_rank
    achieved = 1 - 2 * float(cdf[lower_rank - 1])
    return (
        float(np.median(walsh)),
        float(walsh[lower_rank - 1]),
        float(walsh[upper_rank]),
        achieved,
    )


def _asymptotic_interval(
    differences: NDArray[np.float64], level: float, correct: bool
) -> tuple[float, float]:
    z_quantile = float(stats.norm.isf((1 - level) / 2))
    low_end, high_end = float(differences.min()), float(differences.max())

    def standardised(shift: float, target: float) -> float:
        moved = differences - shift
        moved = moved[moved != 0]
        count = moved.size
        if count == 0:
            return -target
        ranks = stats.rankdata(np.abs(moved))
        centred = ranks[moved > 0].sum() - count * (count + 1) / 4
        _, tie_sizes = np.unique(ranks, return_counts=True)
        variance = (
            count * (count + 1) * (2 * count + 1) / 24 - np.sum(tie_sizes**3 - tie_sizes) / 48
        )
        correction = math.copysign(0.5, centred) if correct and centred != 0 else 0.0
        return float((centred - correction) / math.sqrt(variance)) - target

    def root(target: float) -> float:
        # As R's wilcox.test: a level the few or tied differences cannot reach ends the
        # interval at the smallest or largest difference (brentq would find no sign change).
        if standardised(low_end, target) <= 0:
            return low_end
        if standardised(high_end, target) >= 0:
            return high_end
        return float(optimize.brentq(standardised, low_end, high_end, args=(target,), xtol=1e-10))

    return root(z_quantile), root(-z_quantile)


def _walsh_averages(differences: NDArray[np.float64]) -> NDArray[np.float64]:
    i, j = np.triu_indices(differences.size)
    return np.sort((differences[i] + differences[j]) / 2)


def _differences(before: ArrayLike, after: ArrayLike) -> tuple[NDArray[np.float64], int]:
    first = _as_float_vector(before, "before")
    second = _as_float_vector(after, "after")
    if first.shape != second.shape:
        raise InputError(
            f"before has {first.size} values and after {second.size}: give one pair per participant"
        )
    complete = np.isfinite(first) & np.isfinite(second)
    return second[complete] - first[complete], int((~complete).sum())


def _as_float_vector(values: ArrayLike, what: str) -> NDArray[np.float64]:
    try:
        vector = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what}: every value must be a number (or empty)") from None
    if vector.ndim != 1:
        raise InputError(f"{what}: give a flat list of values, one per participant")
    return vector


def _dropped_note(dropped: int) -> Sequence[str]:
    return [f"{dropped} incomplete pair(s) left out"] if dropped else []
