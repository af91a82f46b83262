"""Power and sample size for comparing two proportions: analytic and exact.

Analytic: the normal approximation of R's `power.prop.test` (pooled variance under H0,
unpooled under H1), solved for power, n per group or p2 as R does, with root finding.

Exact: the power of Fisher's exact test or Boschloo's test at level alpha is the probability,
under two independent binomials, of the tables the test rejects. The rejection region is
computed once per (n1, n2, alpha) over all (n1 + 1)(n2 + 1) outcomes, vectorised, and power is
then one sum of binomial probabilities, so it is exact and costs milliseconds. Monte Carlo is
used only when the outcome space is too large to enumerate (see MAX_ENUMERATED_TABLES).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats
from scipy.special import gammaln

from endotrial.analysis._checks import check_probability
from endotrial.analysis.results import AnalysisResult
from endotrial.errors import InputError

ExactTest = Literal["fisher", "boschloo"]
Sidedness = Literal["two-sided", "one-sided"]

#: Above this many possible tables, exact power falls back to Monte Carlo.
MAX_ENUMERATED_TABLES = {"fisher": 4_000_000, "boschloo": 250_000}
#: scipy's and R's relative tolerance when comparing table probabilities in Fisher's test.
FISHER_TIE_TOLERANCE = 1 + 1e-7
#: Cells of the (nuisance grid x tables) matrix used for Boschloo's supremum.
_BOSCHLOO_GRID_CELLS = 20_000_000


# --- analytic (R's power.prop.test) -------------------------------------------------------


def power_prop_test(
    *,
    n: float,
    p1: float,
    p2: float,
    alpha: float = 0.05,
    alternative: Sidedness = "two-sided",
    strict: bool = False,
) -> float:
    """Power of the two-sample test of proportions with n per group (R's power.prop.test).

    `strict` adds the probability of rejecting in the wrong tail (two-sided only), as R does.
    """
    _check_design(p1, p2, alpha)
    if n < 2:
        raise InputError(f"n per group {n:g} must be at least 2")
    tails = 2 if alternative == "two-sided" else 1
    z_alpha = float(stats.norm.isf(alpha / tails))
    spread_h0 = math.sqrt((p1 + p2) * (1 - (p1 + p2) / 2))
    spread_h1 = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    shift = math.sqrt(n) * abs(p1 - p2)
    power = float(stats.norm.cdf((shift - z_alpha * spread_h0) / spread_h1))
    if strict and tails == 2:
        power += float(stats.norm.sf((shift + z_alpha * spread_h0) / spread_h1))
    return power


def sample_size_prop_test(
    *,
    p1: float,
    p2: float,
    power: float = 0.8,
    alpha: float = 0.05,
    alternative: Sidedness = "two-sided",
    strict: bool = False,
) -> float:
    """n per group (not rounded, as R prints it) reaching `power`; round up to plan."""
    _check_design(p1, p2, alpha)
    check_probability(power, "power")
    if p1 == p2:
        raise InputError("p1 and p2 are equal: no sample size detects a difference of 0")

    def gap(n: float) -> float:
        return (
            power_prop_test(n=n, p1=p1, p2=p2, alpha=alpha, alternative=alternative, strict=strict)
            - power
        )

    if gap(2) >= 0:
        return 2.0
    return float(optimize.brentq(gap, 2, 1e7, xtol=1e-10))


def detectable_p2(
    *,
    n: float,
    p1: float,
    power: float = 0.8,
    alpha: float = 0.05,
    alternative: Sidedness = "two-sided",
) -> float:
    """The p2 > p1 that n per group detects with `power` (R: power.prop.test(p2 = NULL))."""
    check_probability(p1, "p1")
    check_probability(power, "power")

    def gap(p2: float) -> float:
        return power_prop_test(n=n, p1=p1, p2=p2, alpha=alpha, alternative=alternative) - power

    upper = 1 - 1e-12
    if gap(upper) < 0:
        raise InputError(f"no p2 above p1 = {p1:g} reaches power {power:g} with n = {n:g}")
    return float(optimize.brentq(gap, p1 + 1e-12, upper, xtol=1e-12))


# --- exact ---------------------------------------------------------------------------------


def fisher_rejection_region(n1: int, n2: int, alpha: float) -> NDArray[np.bool_]:
    """Tables (x1, x2) that the two-sided Fisher exact test rejects at level alpha.

    Entry [x1, x2] is True when the p-value (sum of the hypergeometric probabilities, given the
    margin x1 + x2, of the tables no more probable than this one, as R and scipy compute it)
    is at most alpha.
    """
    return fisher_p_values(n1, n2) <= alpha


def fisher_p_values(n1: int, n2: int) -> NDArray[np.float64]:
    """Two-sided Fisher p-values of every table, indexed [x1, x2]; cached per (n1, n2)."""
    return _fisher_p_values(*_check_sizes(n1, n2)).copy()


@lru_cache(maxsize=32)
def _fisher_p_values(n1: int, n2: int) -> NDArray[np.float64]:
    x1 = np.arange(n1 + 1)[:, None]
    x2 = np.arange(n2 + 1)[None, :]
    margin = x1 + x2
    log_pmf = _log_choose(n1, x1) + _log_choose(n2, x2) - _log_choose(n1 + n2, margin)
    pmf = np.exp(log_pmf)
    p_values = np.empty_like(pmf)
    for m in range(n1 + n2 + 1):
        cells = margin == m
        probabilities = pmf[cells]
        ordered = np.sort(probabilities)
        cumulative = np.cumsum(ordered)
        index = np.searchsorted(ordered, probabilities * FISHER_TIE_TOLERANCE, side="right")
        p_values[cells] = np.minimum(cumulative[index - 1], 1.0)
    return p_values


def boschloo_p_values(
    n1: int, n2: int, alternative: Literal["less", "greater", "two-sided"] = "two-sided"
) -> NDArray[np.float64]:
    """Boschloo p-values of every table [x1, x2], as scipy's boschloo_exact defines them.

    One-sided: the supremum over the common success probability of P(Fisher's one-sided p-value
    <= the observed one). Two-sided: twice the smaller one-sided p-value (scipy's definition).
    The supremum is taken on a fine grid (relative error about 1e-6: below the true supremum)
    and polished by bounded optimisation for every table.
    """
    n1, n2 = _check_sizes(n1, n2)
    everything = np.ones((n1 + 1, n2 + 1), dtype=bool)
    return _boschloo(n1, n2, alternative, polish=everything)


def boschloo_rejection_region(n1: int, n2: int, alpha: float) -> NDArray[np.bool_]:
    """Tables (x1, x2) that the two-sided Boschloo test rejects at level alpha.

    Grid suprema are polished only for tables within 1e-4 (relative) below alpha, the only
    ones whose decision the grid's small underestimate could flip.
    """
    n1, n2 = _check_sizes(n1, n2)
    rough = _boschloo(n1, n2, "two-sided", polish=None)
    near = (rough <= alpha) & (rough > alpha * (1 - 1e-4))
    if near.any():
        rough = _boschloo(n1, n2, "two-sided", polish=near)
    return rough <= alpha


def _boschloo(
    n1: int,
    n2: int,
    alternative: Literal["less", "greater", "two-sided"],
    polish: NDArray[np.bool_] | None,
) -> NDArray[np.float64]:
    if alternative == "two-sided":
        less = _boschloo(n1, n2, "less", polish)
        greater = _boschloo(n1, n2, "greater", polish)
        two_sided: NDArray[np.float64] = np.minimum(2 * np.minimum(less, greater), 1.0)
        return two_sided
    grid = _boschloo_grid(n1, n2, alternative)
    p_values = grid.p_values.copy()
    if polish is not None:
        flat = p_values.ravel()
        flat[polish.ravel()] = grid.polished(np.flatnonzero(polish.ravel()))
    return p_values


def exact_power(
    *,
    p1: float,
    p2: float,
    n1: int,
    n2: int | None = None,
    alpha: float = 0.05,
    test: ExactTest = "fisher",
    simulations: int = 20_000,
    seed: int = 20250930,
) -> AnalysisResult:
    """Power of the two-sided exact test with n1 and n2 participants, by enumeration.

    Falls back to Monte Carlo (seeded; with a Wilson interval for the simulation error) only
    when (n1 + 1)(n2 + 1) exceeds MAX_ENUMERATED_TABLES[test].
    """
    _check_design(p1, p2, alpha, allow_equal=True)
    n2 = n1 if n2 is None else n2
    n1, n2 = _check_sizes(n1, n2)
    name = _test_name(test)
    if (n1 + 1) * (n2 + 1) > MAX_ENUMERATED_TABLES[test]:
        return _monte_carlo_power(p1, p2, n1, n2, alpha, test, simulations, seed)
    region = _rejection_region(n1, n2, alpha, test)
    power = power_from_region(region, p1, p2)
    size = max(power_from_region(region, p, p) for p in (p1, p2))
    return AnalysisResult(
        quantity="power",
        method=f"{name}, exact by enumeration of all {(n1 + 1) * (n2 + 1)} outcomes",
        estimate=power,
        n=n1 + n2,
        notes=(
            f"n1 = {n1}, n2 = {n2}, p1 = {p1:g}, p2 = {p2:g}, two-sided alpha = {alpha:g}",
            f"rejection rate if both rates were {p1:g} or {p2:g}: at most {size:.4f}",
        ),
    )


def power_from_region(region: NDArray[np.bool_], p1: float, p2: float) -> float:
    """P(table in region) under independent Binomial(n1, p1) and Binomial(n2, p2)."""
    n1, n2 = region.shape[0] - 1, region.shape[1] - 1
    pmf1 = stats.binom.pmf(np.arange(n1 + 1), n1, p1)
    pmf2 = stats.binom.pmf(np.arange(n2 + 1), n2, p2)
    return float(min(pmf1 @ region.astype(float) @ pmf2, 1.0))


def exact_sample_size(
    *,
    p1: float,
    p2: float,
    power: float = 0.8,
    alpha: float = 0.05,
    test: ExactTest = "fisher",
    n_max: int = 2000,
) -> AnalysisResult:
    """Smallest n per group whose exact power reaches `power` (equal groups).

    The search starts below the analytic answer. Exact power is not monotone in n (it saw-
    tooths with the discreteness of the test), so the note gives the power at n + 1 too.
    """
    _check_design(p1, p2, alpha)
    check_probability(power, "power")
    guide = sample_size_prop_test(p1=p1, p2=p2, power=power, alpha=alpha)
    n = max(2, math.floor(guide * 0.7))
    while n <= n_max:
        achieved = exact_power(p1=p1, p2=p2, n1=n, alpha=alpha, test=test).estimate
        assert achieved is not None
        if achieved >= power:
            following = exact_power(p1=p1, p2=p2, n1=n + 1, alpha=alpha, test=test).estimate
            return AnalysisResult(
                quantity="sample size per group",
                method=f"{_test_name(test)}, exact power by enumeration",
                estimate=float(n),
                n=2 * n,
                notes=(
                    f"power {achieved:.4f} at n = {n} per group (target {power:g}), "
                    f"{following:.4f} at n = {n + 1}; exact power saw-tooths with n, so a "
                    "larger n can have less power",
                    f"normal approximation (R power.prop.test): n = {math.ceil(guide)}",
                ),
            )
        n += 1
    raise InputError(f"no n up to {n_max} per group reaches power {power:g}; raise n_max")


# --- internals ------------------------------------------------------------------------------


def _rejection_region(n1: int, n2: int, alpha: float, test: ExactTest) -> NDArray[np.bool_]:
    if test == "fisher":
        return fisher_rejection_region(n1, n2, alpha)
    return boschloo_rejection_region(n1, n2, alpha)


class _BoschlooGrid:
    """One-sided Boschloo p-values of all tables of (n1, n2) from a grid over the nuisance.

    Tables are sorted by Fisher's one-sided p-value; a table's Boschloo p-value is the supremum
    over pi of the probability of all tables sorted at or before it (ties to 1e-13 included, as
    scipy does), so one cumulative sum per grid point gives every table's value at once.
    """

    def __init__(self, n1: int, n2: int, alternative: Literal["less", "greater"]) -> None:
        x1 = np.arange(n1 + 1)[:, None]
        x2 = np.arange(n2 + 1)[None, :]
        total = n1 + n2
        if alternative == "less":
            statistic = stats.hypergeom.cdf(x1, total, x1 + x2, n1)
        else:
            statistic = stats.hypergeom.cdf(x2, total, x1 + x2, n2)
        flat = statistic.ravel()
        self.order = np.argsort(flat, kind="stable")
        ordered = flat[self.order]
        self.last_of_tie = np.searchsorted(ordered, ordered * (1 + 1e-13), side="right") - 1
        x1_sorted = np.broadcast_to(x1, statistic.shape).ravel()[self.order]
        x2_sorted = np.broadcast_to(x2, statistic.shape).ravel()[self.order]
        self.log_choose = (
            _log_choose(n1, np.arange(n1 + 1))[x1_sorted]
            + _log_choose(n2, np.arange(n2 + 1))[x2_sorted]
        )
        self.successes = x1_sorted + x2_sorted
        self.failures = total - self.successes
        self.shape = statistic.shape
        self.step, best, self.best_pi = self._grid_supremum(flat.size)
        p_sorted = np.minimum(best[self.last_of_tie], 1.0)
        self.p_values = np.empty(flat.size)
        self.p_values[self.order] = p_sorted
        self.p_values = self.p_values.reshape(self.shape)
        self._best_sorted = best

    def cumulative(self, pi: NDArray[np.float64]) -> NDArray[np.float64]:
        """P_pi(table sorted at or before each position); rows: pi values."""
        log_pi = np.log(np.clip(pi, 1e-300, 1.0))[:, None]
        log_rest = np.log(np.clip(1 - pi, 1e-300, 1.0))[:, None]
        log_joint = self.log_choose + self.successes * log_pi + self.failures * log_rest
        return np.cumsum(np.exp(log_joint), axis=1)

    def _grid_supremum(self, tables: int) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
        points = int(min(2001, max(101, _BOSCHLOO_GRID_CELLS // tables)))
        grid = np.linspace(0.0, 1.0, points)
        best = np.zeros(tables)
        best_pi = np.zeros(tables)
        for chunk in np.array_split(grid, max(1, grid.size // 200)):
            values = self.cumulative(chunk)
            top = values.max(axis=0)
            better = top > best
            best = np.where(better, top, best)
            best_pi = np.where(better, chunk[values.argmax(axis=0)], best_pi)
        return 1.0 / (points - 1), best, best_pi

    def polished(self, tables: NDArray[np.intp]) -> NDArray[np.float64]:
        """Grid suprema of the given (flat) tables polished by bounded Brent search."""
        rank = np.empty(self.order.size, dtype=np.intp)
        rank[self.order] = np.arange(self.order.size)
        result = np.empty(tables.size)
        for i, table in enumerate(tables):
            column = int(self.last_of_tie[rank[table]])
            centre = float(self.best_pi[column])

            def negative(pi: float, column: int = column) -> float:
                return -float(self.cumulative(np.array([pi]))[0, column])

            found = optimize.minimize_scalar(
                negative,
                bounds=(max(0.0, centre - self.step), min(1.0, centre + self.step)),
                method="bounded",
                options={"xatol": 1e-10},
            )
            result[i] = min(max(self._best_sorted[column], -float(found.fun)), 1.0)
        return result


@lru_cache(maxsize=32)
def _boschloo_grid(n1: int, n2: int, alternative: Literal["less", "greater"]) -> _BoschlooGrid:
    return _BoschlooGrid(n1, n2, alternative)


def _monte_carlo_power(
    p1: float, p2: float, n1: int, n2: int, alpha: float, test: ExactTest, sims: int, seed: int
) -> AnalysisResult:
    rng = np.random.default_rng(seed)
    tables = np.column_stack([rng.binomial(n1, p1, sims), rng.binomial(n2, p2, sims)])
    unique, counts = np.unique(tables, axis=0, return_counts=True)
    rejected = 0
    for (x1, x2), count in zip(unique, counts, strict=True):
        table = np.array([[x1, x2], [n1 - x1, n2 - x2]])
        if test == "fisher":
            p_value = float(stats.fisher_exact(table).pvalue)
        else:
            p_value = float(stats.boschloo_exact(table, alternative="two-sided").pvalue)
        rejected += int(count) if p_value <= alpha else 0
    low, high = _wilson_interval(rejected, sims)
    return AnalysisResult(
        quantity="power",
        method=f"{_test_name(test)}, Monte Carlo ({sims} simulated trials, seed {seed})",
        estimate=rejected / sims,
        low=low,
        high=high,
        confidence=0.95,
        n=n1 + n2,
        notes=(
            f"n1 = {n1}, n2 = {n2}: too many outcomes to enumerate; the interval is the "
            "simulation error only",
        ),
    )


def _wilson_interval(successes: int, trials: int) -> tuple[float, float]:
    result = stats.binomtest(successes, trials).proportion_ci(method="wilson")
    return float(result.low), float(result.high)


def _log_choose(n: int | NDArray[np.int_], k: NDArray[np.int_]) -> NDArray[np.float64]:
    return np.asarray(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1), dtype=np.float64)


def _test_name(test: str) -> str:
    names = {"fisher": "Fisher's exact test", "boschloo": "Boschloo's test"}
    if test not in names:
        raise InputError(f"test '{test}' is not one of: {', '.join(names)}")
    return names[test]


def _check_sizes(n1: int, n2: int) -> tuple[int, int]:
    for value, what in ((n1, "n1"), (n2, "n2")):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InputError(f"{what} {value!r} must be a whole number of participants, >= 1")
    return int(n1), int(n2)


def _check_design(p1: float, p2: float, alpha: float, *, allow_equal: bool = True) -> None:
    check_probability(p1, "p1")
    check_probability(p2, "p2")
    check_probability(alpha, "alpha")
    if not allow_equal and p1 == p2:
        raise InputError("p1 and p2 are equal")


def power_report(
    *,
    p1: float,
    p2: float,
    n: int | None = None,
    power: float | None = None,
    alpha: float = 0.05,
    exact: bool = False,
) -> list[AnalysisResult]:
    """What `endotrial power` prints: power for n per group, or n per group for a power.

    The analytic answer always (R's power.prop.test, two-sided); with `exact`, also that of
    Fisher's exact test and of Boschloo's test by enumeration.
    """
    if (n is None) == (power is None):
        raise InputError("give either --n (participants per group) or --power (e.g. 0.8)")
    design = f"p1 = {p1:g}, p2 = {p2:g}, two-sided alpha = {alpha:g}"
    if n is not None:
        analytic = power_prop_test(n=n, p1=p1, p2=p2, alpha=alpha)
        results = [
            AnalysisResult(
                quantity="power",
                method="normal approximation (as R power.prop.test)",
                estimate=analytic,
                n=2 * n,
                notes=(f"n = {n} per group, {design}",),
            )
        ]
        if exact:
            results += [
                exact_power(p1=p1, p2=p2, n1=n, alpha=alpha, test=test)
                for test in ("fisher", "boschloo")
            ]
        return results
    assert power is not None
    needed = sample_size_prop_test(p1=p1, p2=p2, power=power, alpha=alpha)
    results = [
        AnalysisResult(
            quantity="sample size per group",
            method="normal approximation (as R power.prop.test)",
            estimate=float(math.ceil(needed)),
            n=2 * math.ceil(needed),
            notes=(f"n = {needed:.2f} before rounding up, power {power:g}, {design}",),
        )
    ]
    if exact:
        results += [
            exact_sample_size(p1=p1, p2=p2, power=power, alpha=alpha, test=test)
            for test in ("fisher", "boschloo")
        ]
    return results
