"""Interim safety for the safety board: serious adverse events by arm and a Bayesian excess.

The posterior probability that arm A's serious-AE rate exceeds arm B's by more than a margin
uses independent beta-binomial models with a stated prior, Beta(1, 1) (uniform) or Jeffreys'
Beta(1/2, 1/2). It is computed by one-dimensional numerical integration, not by simulation:

    P(p_A − p_B > m) = ∫ S_A(b + m) · b^(α_B − 1) (1 − b)^(β_B − 1) / B(α_B, β_B) db,

with S_A the regularised upper incomplete beta function (A's posterior survival function).
QUADPACK's algebraic-weight rule (scipy `quad(weight="alg")`) takes the beta kernel's endpoint
singularities (Jeffreys prior, 0 events) exactly; the range is split where b + m leaves [0, 1].
The posterior of the difference is given by its median and an equal-tailed credible interval,
found by inverting the same integral.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special

from endotrial.analysis._checks import check_confidence, check_counts
from endotrial.analysis.results import AnalysisResult
from endotrial.errors import InputError


@dataclass(frozen=True)
class BetaPrior:
    """A Beta(a, b) prior for a rate, the same for both arms."""

    a: float
    b: float
    name: str

    def __post_init__(self) -> None:
        if not (self.a > 0 and self.b > 0):
            raise InputError(f"prior Beta({self.a:g}, {self.b:g}): both parameters must be > 0")


UNIFORM = BetaPrior(1.0, 1.0, "uniform Beta(1, 1)")
JEFFREYS = BetaPrior(0.5, 0.5, "Jeffreys Beta(1/2, 1/2)")
PRIORS = {"uniform": UNIFORM, "jeffreys": JEFFREYS}


def posterior_excess(
    events_a: int,
    total_a: int,
    events_b: int,
    total_b: int,
    *,
    margin: float = 0.0,
    prior: BetaPrior = UNIFORM,
    confidence: float = 0.95,
    label_a: str = "A",
    label_b: str = "B",
) -> list[AnalysisResult]:
    """P(rate A − rate B > margin | data), and the posterior of the difference A − B."""
    events_a, total_a = check_counts(events_a, total_a, label_a)
    events_b, total_b = check_counts(events_b, total_b, label_b)
    level = check_confidence(confidence)
    if not -1 < margin < 1:
        raise InputError(f"margin {margin:g} must be a difference of rates, between -1 and 1")
    a_a, b_a = prior.a + events_a, prior.b + total_a - events_a
    a_b, b_b = prior.a + events_b, prior.b + total_b - events_b
    probability = probability_difference_exceeds(a_a, b_a, a_b, b_b, margin)
    tail = (1 - level) / 2
    low, median, high = (
        _difference_quantile((a_a, b_a, a_b, b_b), q) for q in (tail, 0.5, 1 - tail)
    )
    counts = f"{label_a} {events_a}/{total_a}, {label_b} {events_b}/{total_b}"
    prior_note = f"prior {prior.name} for each arm; independent binomial likelihoods"
    return [
        AnalysisResult(
            quantity=f"P(rate {label_a} − rate {label_b} > {margin:g} | data)",
            method="beta-binomial posterior, numerical integration",
            estimate=probability,
            n=total_a + total_b,
            notes=(counts, prior_note),
        ),
        AnalysisResult(
            quantity=f"posterior difference {label_a} − {label_b} (median)",
            method="beta-binomial posterior, equal-tailed credible interval",
            estimate=median,
            low=low,
            high=high,
            confidence=level,
            n=total_a + total_b,
            notes=(counts, prior_note),
        ),
    ]


def probability_difference_exceeds(
    a_a: float, b_a: float, a_b: float, b_b: float, margin: float
) -> float:
    """P(p_A − p_B > margin) for independent Beta(a_a, b_a) and Beta(a_b, b_b) rates."""

    def survival_a(x: float) -> float:
        if x <= 0:
            return 1.0
        if x >= 1:
            return 0.0
        return float(special.betaincc(a_a, b_a, x))

    log_norm = float(special.betaln(a_b, b_b))
    if margin >= 0:
        # b in [0, 1 − m]; the (1 − b) factor is regular there unless m = 0.
        if margin == 0:
            value = _quad_alg(survival_a, 0.0, 1.0, (a_b - 1, b_b - 1))
        else:
            value = _quad_alg(
                lambda b: survival_a(b + margin) * (1 - b) ** (b_b - 1),
                0.0,
                1.0 - margin,
                (a_b - 1, 0.0),
            )
        probability = value * np.exp(-log_norm)
    else:
        # b in [0, −m]: A exceeds for sure; b in [−m, 1]: integrate.
        certain = float(special.betainc(a_b, b_b, -margin))
        value = _quad_alg(
            lambda b: survival_a(b + margin) * b ** (a_b - 1),
            -margin,
            1.0,
            (0.0, b_b - 1),
        )
        probability = certain + value * np.exp(-log_norm)
    return float(np.clip(probability, 0.0, 1.0))


def _quad_alg(
    function: Callable[[float], float], low: float, high: float, powers: tuple[float, float]
) -> float:
    """∫ f(x) (x − low)^p (high − x)^q dx by QUADPACK QAWS (scipy quad, weight="alg")."""
    value, _error = integrate.quad(
        function, low, high, weight="alg", wvar=powers, epsabs=1e-12, epsrel=1e-10, limit=200
    )
    return float(value)


def serious_events_by_arm(
    participants: pd.DataFrame, adverse_events: pd.DataFrame, arms: Sequence[str] | None = None
) -> pd.DataFrame:
    """Cumulative serious AEs per arm of the safety set: participants, with ≥1 SAE, SAEs.

    Frames follow the analysis dataset contract (participants: participant_id, arm,
    in_safety_set; adverse_events: participant_id, serious). AEs are counted in the arm of the
    participant's row (treatment received, in the safety set).
    """
    safety = participants[participants["in_safety_set"].astype(bool)]
    serious = adverse_events[adverse_events["serious"].astype(bool)]
    serious = serious[serious["participant_id"].isin(safety["participant_id"])]
    arm_of = safety.set_index("participant_id")["arm"]
    serious_arm = serious["participant_id"].map(arm_of)
    order = list(arms) if arms is not None else sorted(safety["arm"].dropna().unique())
    rows = []
    for arm in order:
        in_arm = safety[safety["arm"] == arm]
        events = serious[serious_arm == arm]
        rows.append(
            {
                "arm": arm,
                "participants": len(in_arm),
                "participants_with_serious_ae": events["participant_id"].nunique(),
                "serious_aes": len(events),
            }
        )
    return pd.DataFrame(rows)


def _difference_quantile(parameters: tuple[float, float, float, float], quantile: float) -> float:
    def gap(d: float) -> float:
        return 1 - probability_difference_exceeds(*parameters, d) - quantile

    return float(optimize.brentq(gap, -1.0 + 1e-12, 1.0 - 1e-12, xtol=1e-9))
