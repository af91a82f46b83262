"""Exact power of Fisher's test for 30 against 30 vs a plain simulation loop, in one run.

The loop is what one would write without endotrial: simulate a trial (two binomial draws),
call scipy's fisher_exact on its table, count rejections; 10,000 trials. Against it, in the
same process and run:

1. *exact*: endotrial's exact power, by enumeration of all 31 x 31 outcomes: the rejection
   region is built once (vectorised Fisher p-values per margin) and power is one sum of
   binomial probabilities. Timed from cold (region cache cleared), best of 5.
2. *lookup*: simulation done the vectorised way, 1,000,000 trials drawn with numpy and looked
   up in the precomputed region (region build included), to compare trials per second.

Targets (issue 11): the exact answer in less time than the loop's 10,000 trials, or at least
1,000x the loop's trials per second. Boschloo's test is timed the same way with a shorter loop
(scipy's boschloo_exact takes milliseconds per table).
Run: .venv/bin/python bench/bench_power.py [--p1 0.25] [--p2 0.55] [--trials 10000]
"""

import argparse
import time

import numpy as np
from scipy import stats

from endotrial.analysis import power as power_module
from endotrial.analysis.power import exact_power, fisher_rejection_region


def clear_caches() -> None:
    power_module._fisher_p_values.cache_clear()
    power_module._boschloo_grid.cache_clear()


def loop_power(p1: float, p2: float, n: int, trials: int, test: str, seed: int) -> float:
    rng = np.random.default_rng(seed)
    rejected = 0
    for _ in range(trials):
        x1, x2 = rng.binomial(n, p1), rng.binomial(n, p2)
        if test == "fisher":
            p_value = stats.fisher_exact([[x1, n - x1], [x2, n - x2]]).pvalue
        else:
            table = [[x1, x2], [n - x1, n - x2]]
            p_value = stats.boschloo_exact(table, alternative="two-sided").pvalue
        rejected += p_value <= 0.05
    return rejected / trials


def best_of(repeats: int, work: object) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeats):
        clear_caches()
        start = time.perf_counter()
        value = work()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--p1", type=float, default=0.25)
    parser.add_argument("--p2", type=float, default=0.55)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--boschloo-trials", type=int, default=300)
    args = parser.parse_args()
    p1, p2, n = args.p1, args.p2, args.n

    start = time.perf_counter()
    loop_estimate = loop_power(p1, p2, n, args.trials, "fisher", seed=1)
    loop_seconds = time.perf_counter() - start
    loop_rate = args.trials / loop_seconds

    exact_seconds, exact = best_of(
        5, lambda: exact_power(p1=p1, p2=p2, n1=n, test="fisher").estimate
    )

    def lookup() -> float:
        region = fisher_rejection_region(n, n, 0.05)
        rng = np.random.default_rng(2)
        x1 = rng.binomial(n, p1, 1_000_000)
        x2 = rng.binomial(n, p2, 1_000_000)
        return float(region[x1, x2].mean())

    lookup_seconds, lookup_estimate = best_of(5, lookup)
    lookup_rate = 1_000_000 / lookup_seconds
    se = (loop_estimate * (1 - loop_estimate) / args.trials) ** 0.5

    print(f"Fisher's exact test, {n} vs {n}, p1 = {p1}, p2 = {p2}, two-sided alpha 0.05")
    print(
        f"  loop ({args.trials} trials, scipy fisher_exact): {loop_seconds:.3f} s, "
        f"{loop_rate:,.0f} trials/s, power {loop_estimate:.4f} ± {se:.4f}"
    )
    print(f"  exact by enumeration: {exact_seconds * 1000:.2f} ms, power {exact:.6f}")
    print(
        f"  lookup (1,000,000 trials in the region): {lookup_seconds:.3f} s, "
        f"{lookup_rate:,.0f} trials/s, power {lookup_estimate:.4f}"
    )
    print(f"  exact answer: {loop_seconds / exact_seconds:,.0f}x faster than the loop's trials")
    print(f"  trials per second: {lookup_rate / loop_rate:,.0f}x the loop's")

    start = time.perf_counter()
    boschloo_loop = loop_power(p1, p2, n, args.boschloo_trials, "boschloo", seed=3)
    boschloo_loop_seconds = time.perf_counter() - start
    boschloo_seconds, boschloo_exact = best_of(
        3, lambda: exact_power(p1=p1, p2=p2, n1=n, test="boschloo").estimate
    )
    per_trial = boschloo_loop_seconds / args.boschloo_trials
    print("Boschloo's test, same design")
    print(
        f"  loop ({args.boschloo_trials} trials, scipy boschloo_exact): "
        f"{boschloo_loop_seconds:.2f} s, {1 / per_trial:,.0f} trials/s, "
        f"power {boschloo_loop:.3f}"
    )
    print(
        f"  exact by enumeration: {boschloo_seconds:.3f} s, power {boschloo_exact:.6f}; "
        f"the loop would need {per_trial * 10_000:.0f} s for 10,000 trials "
        f"({per_trial * 10_000 / boschloo_seconds:,.0f}x)"
    )


if __name__ == "__main__":
    main()
