"""Two groups' events out of totals: rates, differences, ratios and exact tests.

Every function takes a `TwoGroups` (events and totals of groups A and B; A is compared with B:
difference A − B, ratio A / B) and returns `AnalysisResult`s. Methods and their sources are in
docs/analysis.md. Libraries are used where they are right:

- Clopper-Pearson and Wilson intervals: statsmodels `proportion_confint`;
- Woolf logit interval for the odds ratio: statsmodels `Table2x2` (with a zero cell, on the
  table with 0.5 added to every cell, Gart's adjustment; statsmodels' `shift_zeros` adds it to
  the zero cells only);
- Fisher's exact test: scipy `fisher_exact` for the p-value, and scipy `odds_ratio(kind=
  "conditional")` for the conditional maximum likelihood estimate and its exact interval
  (what R's fisher.test reports; scipy's fisher_exact statistic is the sample odds ratio);
- Boschloo's test: scipy `boschloo_exact`, which takes the two groups as *columns*.

The Miettinen-Nurminen interval is computed here because statsmodels 0.15's score interval for
a difference is wrong (statsmodels issue 10269; 56/70 vs 48/80 gives 0.0526 to 0.3440 against
the published 0.0528 to 0.3382) and fails outright on tables with a zero or full cell.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from scipy.stats.contingency import odds_ratio as scipy_odds_ratio
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.proportion import proportion_confint

from endotrial.analysis._checks import check_confidence, check_counts
from endotrial.analysis.results import AnalysisResult

RATE_METHODS = ("clopper-pearson", "wilson")


@dataclass(frozen=True)
class TwoGroups:
    """Events and totals of two independent groups; A is compared with B."""

    events_a: int
    total_a: int
    events_b: int
    total_b: int
    label_a: str = "A"
    label_b: str = "B"

    def __post_init__(self) -> None:
        check_counts(self.events_a, self.total_a, self.label_a)
        check_counts(self.events_b, self.total_b, self.label_b)

    @property
    def rate_a(self) -> float:
        return self.events_a / self.total_a

    @property
    def rate_b(self) -> float:
        return self.events_b / self.total_b

    @property
    def n(self) -> int:
        return self.total_a + self.total_b

    def table(self) -> np.ndarray:
        """Rows are groups A and B, columns events and non-events."""
        return np.array(
            [
                [self.events_a, self.total_a - self.events_a],
                [self.events_b, self.total_b - self.events_b],
            ]
        )

    def has_zero_cell(self) -> bool:
        return bool((self.table() == 0).any())


def rate(
    events: int, total: int, *, method: str = "wilson", confidence: float = 0.95, group: str = ""
) -> AnalysisResult:
    """The proportion events/total with a Clopper-Pearson (exact) or Wilson (score) interval."""
    events, total = check_counts(events, total, group or "?")
    level = check_confidence(confidence)
    if method not in RATE_METHODS:
        raise ValueError(f"method must be one of {RATE_METHODS}")
    library_method = "beta" if method == "clopper-pearson" else "wilson"
    low, high = _exact_ends(
        events, total, proportion_confint(events, total, alpha=1 - level, method=library_method)
    )
    name = "Clopper-Pearson exact" if method == "clopper-pearson" else "Wilson score"
    return AnalysisResult(
        quantity=f"rate {group}".strip(),
        method=name,
        estimate=events / total,
        low=low,
        high=high,
        confidence=level,
        n=total,
        notes=(f"{events}/{total}",),
    )


def risk_difference_newcombe(groups: TwoGroups, *, confidence: float = 0.95) -> AnalysisResult:
    """A − B with Newcombe's hybrid score interval (Newcombe 1998, method 10, no correction).

    Square-and-add of the two Wilson intervals; defined for 0/n and n/n, clipped to [-1, 1].
    """
    level = check_confidence(confidence)
    p_a, p_b = groups.rate_a, groups.rate_b
    low_a, high_a = _wilson(groups.events_a, groups.total_a, level)
    low_b, high_b = _wilson(groups.events_b, groups.total_b, level)
    difference = p_a - p_b
    low = difference - math.hypot(p_a - low_a, high_b - p_b)
    high = difference + math.hypot(high_a - p_a, p_b - low_b)
    return AnalysisResult(
        quantity=f"risk difference {groups.label_a} − {groups.label_b}",
        method="Newcombe hybrid score (method 10)",
        estimate=difference,
        low=_clip(low, -1.0, 1.0),
        high=_clip(high, -1.0, 1.0),
        confidence=level,
        n=groups.n,
    )


def risk_difference_mn(groups: TwoGroups, *, confidence: float = 0.95) -> AnalysisResult:
    """A − B with the Miettinen-Nurminen score interval (with the N/(N−1) variance factor).

    The set of differences d whose score statistic z(d)² is at most the chi-square quantile;
    its ends found by bracketing root search on each side of the estimate, so 0/n, n/n and
    0/n against 0/m tables work; limits are clipped to [-1, 1].
    """
    level = check_confidence(confidence)
    critical = float(stats.chi2.ppf(level, df=1))
    difference = groups.rate_a - groups.rate_b

    def excess(delta: float) -> float:
        return _mn_score_squared(groups, delta) - critical

    edge = 1e-12
    low = _score_limit(excess, -1.0 + edge, difference)
    high = _score_limit(excess, 1.0 - edge, difference)
    return AnalysisResult(
        quantity=f"risk difference {groups.label_a} − {groups.label_b}",
        method="Miettinen-Nurminen score",
        estimate=difference,
        low=_clip(low, -1.0, 1.0),
        high=_clip(high, -1.0, 1.0),
        confidence=level,
        n=groups.n,
    )


def risk_ratio(groups: TwoGroups, *, confidence: float = 0.95) -> AnalysisResult:
    """A / B with the Katz log interval; with a zero event count, the adjusted log interval.

    Katz: exp(log RR ± z·sqrt(1/x_a − 1/n_a + 1/x_b − 1/n_b)). When x_a or x_b is 0 the log is
    undefined, so 0.5 is added to each event count and each total (the "adjusted log" interval
    of Fagerland, Lydersen & Laake 2015) and the note says so.
    """
    level = check_confidence(confidence)
    z = float(stats.norm.ppf(0.5 + level / 2))
    x_a, n_a = float(groups.events_a), float(groups.total_a)
    x_b, n_b = float(groups.events_b), float(groups.total_b)
    notes: tuple[str, ...] = ()
    method = "Katz log"
    if x_a == 0 or x_b == 0:
        x_a, n_a, x_b, n_b = x_a + 0.5, n_a + 0.5, x_b + 0.5, n_b + 0.5
        method = "adjusted log (0.5 added to events and totals)"
        notes = ("a group has no events: interval from the adjusted counts",)
    log_ratio = math.log((x_a / n_a) / (x_b / n_b))
    se = math.sqrt(1 / x_a - 1 / n_a + 1 / x_b - 1 / n_b)
    estimate = _safe_ratio(groups.rate_a, groups.rate_b)
    return AnalysisResult(
        quantity=f"risk ratio {groups.label_a} / {groups.label_b}",
        method=method,
        estimate=estimate,
        low=math.exp(log_ratio - z * se),
        high=math.exp(log_ratio + z * se),
        confidence=level,
        n=groups.n,
        notes=notes,
    )


def odds_ratio_woolf(groups: TwoGroups, *, confidence: float = 0.95) -> AnalysisResult:
    """Sample odds ratio A : B with Woolf's logit interval; Gart's adjustment for a zero cell.

    With a zero cell 0.5 is added to all four cells (Gart 1966) and the estimate reported is
    then the adjusted one, as the note says. (statsmodels' own `shift_zeros` adds 0.5 to the
    zero cells only, which is not Gart's interval.)
    """
    level = check_confidence(confidence)
    zero = groups.has_zero_cell()
    counts = groups.table().astype(float) + (0.5 if zero else 0.0)
    table = Table2x2(counts)
    low, high = table.oddsratio_confint(alpha=1 - level)
    return AnalysisResult(
        quantity=f"odds ratio {groups.label_a} : {groups.label_b}",
        method="Gart adjusted logit (0.5 added to every cell)" if zero else "Woolf logit",
        estimate=float(table.oddsratio),
        low=float(low),
        high=float(high),
        confidence=level,
        n=groups.n,
        notes=("a zero cell: estimate and interval from the adjusted table",) if zero else (),
    )


def fisher_exact_test(groups: TwoGroups, *, confidence: float = 0.95) -> AnalysisResult:
    """Fisher's exact test, two-sided, with the conditional MLE odds ratio and its exact CI.

    As R's fisher.test: p sums the tables no more probable than the observed one; the estimate
    maximises the conditional (non-central hypergeometric) likelihood; the interval inverts
    the two one-sided exact tests.
    """
    level = check_confidence(confidence)
    table = groups.table()
    p_value = float(stats.fisher_exact(table, alternative="two-sided").pvalue)
    with warnings.catch_warnings():
        # scipy warns when a margin is zero; the NaN estimate below carries that news.
        warnings.simplefilter("ignore", RuntimeWarning)
        conditional = scipy_odds_ratio(table, kind="conditional")
        interval = conditional.confidence_interval(confidence_level=level)
    notes: tuple[str, ...] = ()
    if groups.events_a + groups.events_b == 0 or table[:, 1].sum() == 0:
        notes = ("no events (or no non-events) in either group: the odds ratio is not estimable",)
    return AnalysisResult(
        quantity=f"odds ratio {groups.label_a} : {groups.label_b} (conditional MLE)",
        method="Fisher's exact test, exact conditional interval",
        estimate=float(conditional.statistic),
        low=float(interval.low),
        high=float(interval.high),
        confidence=level,
        p_value=p_value,
        n=groups.n,
        notes=notes,
    )


def boschloo_test(groups: TwoGroups) -> AnalysisResult:
    """Boschloo's exact unconditional test, two-sided (scipy: twice the smaller one-sided p).

    scipy takes the two samples as the *columns* of the table, so the table is transposed.
    """
    by_columns = groups.table().T  # columns: group A, group B; rows: events, non-events
    result = stats.boschloo_exact(by_columns, alternative="two-sided")
    p_value = float(result.pvalue)
    notes: tuple[str, ...] = ()
    if math.isnan(p_value):
        p_value = 1.0
        notes = ("no events or no non-events at all: nothing to test, p = 1",)
    return AnalysisResult(
        quantity=f"{groups.label_a} vs {groups.label_b}",
        method="Boschloo's exact unconditional test",
        estimate=None,
        p_value=p_value,
        statistic=float(result.statistic),
        n=groups.n,
        notes=("statistic: the one-sided Fisher p-value of the observed table", *notes),
    )


def compare_proportions(groups: TwoGroups, *, confidence: float = 0.95) -> list[AnalysisResult]:
    """Every interval and test above for two groups, in the order a report shows them."""
    results = [
        rate(groups.events_a, groups.total_a, method=m, confidence=confidence, group=label)
        for label, m in ((groups.label_a, "clopper-pearson"), (groups.label_a, "wilson"))
    ]
    results += [
        rate(groups.events_b, groups.total_b, method=m, confidence=confidence, group=label)
        for label, m in ((groups.label_b, "clopper-pearson"), (groups.label_b, "wilson"))
    ]
    results += [
        risk_difference_newcombe(groups, confidence=confidence),
        risk_difference_mn(groups, confidence=confidence),
        risk_ratio(groups, confidence=confidence),
        odds_ratio_woolf(groups, confidence=confidence),
        fisher_exact_test(groups, confidence=confidence),
        boschloo_test(groups),
    ]
    return results


def _wilson(events: int, total: int, level: float) -> tuple[float, float]:
    interval = proportion_confint(events, total, alpha=1 - level, method="wilson")
    return _exact_ends(events, total, interval)


def _exact_ends(events: int, total: int, interval: tuple[float, float]) -> tuple[float, float]:
    """Clip to [0, 1]; at 0/n and n/n the limit is exactly 0 or 1 (rounding gives 1 − 1e-16)."""
    low = 0.0 if events == 0 else _clip(float(interval[0]), 0.0, 1.0)
    high = 1.0 if events == total else _clip(float(interval[1]), 0.0, 1.0)
    return low, high


def _mn_score_squared(groups: TwoGroups, delta: float) -> float:
    """Miettinen-Nurminen's squared score statistic for H0: p_a − p_b = delta."""
    n_a, n_b = groups.total_a, groups.total_b
    p_a, p_b = groups.rate_a, groups.rate_b
    tilde_a, tilde_b = _restricted_mle(p_a, n_a, p_b, n_b, delta)
    total = n_a + n_b
    variance = (tilde_a * (1 - tilde_a) / n_a + tilde_b * (1 - tilde_b) / n_b) * (
        total / (total - 1)
    )
    gap = p_a - p_b - delta
    if variance <= 0:
        return 0.0 if abs(gap) < 1e-15 else math.inf
    return gap * gap / variance


def _restricted_mle(
    p_a: float, n_a: int, p_b: float, n_b: int, delta: float
) -> tuple[float, float]:
    """Maximum likelihood (p_a, p_b) under p_a − p_b = delta: Farrington & Manning's cubic."""
    theta = n_b / n_a
    a = 1 + theta
    b = -(1 + theta + p_a + theta * p_b + delta * (theta + 2))
    c = delta * delta + delta * (2 * p_a + theta + 1) + p_a + theta * p_b
    d = -p_a * delta * (1 + delta)
    v = b**3 / (27 * a**3) - b * c / (6 * a**2) + d / (2 * a)
    radicand = b * b / (9 * a * a) - c / (3 * a)
    u = math.copysign(math.sqrt(max(radicand, 0.0)), v if v != 0 else 1.0)
    if abs(u) < 1e-15:  # a triple root
        tilde_a = -b / (3 * a)
    else:
        cosine = max(-1.0, min(1.0, v / u**3))
        w = (math.pi + math.acos(cosine)) / 3
        tilde_a = 2 * u * math.cos(w) - b / (3 * a)
    tilde_a = _clip(tilde_a, max(0.0, delta), min(1.0, 1.0 + delta))
    return tilde_a, _clip(tilde_a - delta, 0.0, 1.0)


def _score_limit(excess: Callable[[float], float], boundary: float, estimate: float) -> float:
    """The root of `excess` between the estimate (inside) and a boundary (±1)."""
    if excess(boundary) <= 0:
        return math.copysign(1.0, boundary)
    low, high = sorted((estimate, boundary))
    return float(optimize.brentq(excess, low, high, xtol=1e-12))


def _safe_ratio(numerator: float, denominator: float) -> float:
    if denominator == 0:
        return math.nan if numerator == 0 else math.inf
    return numerator / denominator


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)
