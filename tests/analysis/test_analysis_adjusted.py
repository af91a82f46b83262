"""Adjusted analyses on frames made here: identities, recovery of a known truth, clear errors."""

import numpy as np
import pandas as pd
import pytest

from endotrial.analysis.adjusted import (
    Comparison,
    ancova,
    balance_table,
    g_computation,
    gee_implantation,
    ipw_risk_difference,
    ipw_weights,
    missing_covariate_sensitivity,
    rubin_combine,
)
from endotrial.errors import InputError

PRIMARY = Comparison(
    "hbmsc", "control", "clinical_pregnancy", ("age_years", "baseline_thickness_mm")
)


def confounded_trial(n: int, seed: int) -> tuple[pd.DataFrame, float]:
    """Older women with thinner endometrium choose the stem-cell arm more often; returns the
    frame and the true marginal risk difference (computed on a million simulated women)."""

    def simulate(size: int, rng: np.random.Generator) -> pd.DataFrame:
        age = rng.normal(32, 4, size)
        thickness = rng.normal(5.5, 0.8, size)
        propensity = 1 / (1 + np.exp(-(0.3 * (age - 32) - 1.0 * (thickness - 5.5))))
        treated = rng.random(size) < propensity
        return pd.DataFrame(
            {"age_years": age, "baseline_thickness_mm": thickness, "treated": treated}
        )

    def risk(data: pd.DataFrame, treated: float) -> np.ndarray:
        logit = (
            -0.3
            + 0.8 * treated
            - 0.15 * (data["age_years"] - 32)
            + 0.9 * (data["baseline_thickness_mm"] - 5.5)
        )
        return 1 / (1 + np.exp(-logit.to_numpy()))

    rng = np.random.default_rng(seed)
    population = simulate(1_000_000, rng)
    truth = float(risk(population, 1.0).mean() - risk(population, 0.0).mean())
    sample = simulate(n, rng)
    probability = np.where(sample["treated"], risk(sample, 1.0), risk(sample, 0.0))
    sample["clinical_pregnancy"] = (rng.random(n) < probability).astype(float)
    sample["arm"] = np.where(sample["treated"], "hbmsc", "control")
    return sample.drop(columns=["treated"]), truth


@pytest.fixture(scope="module")
def large_trial() -> tuple[pd.DataFrame, float]:
    return confounded_trial(3000, seed=5)


def test_without_covariates_standardisation_is_the_crude_difference(
    participants: pd.DataFrame,
) -> None:
    crude = participants.groupby("arm")["clinical_pregnancy"].mean()
    result = g_computation(
        participants, Comparison("hbmsc", "control", "clinical_pregnancy"), n_bootstrap=50
    )
    assert result.estimate == pytest.approx(crude["hbmsc"] - crude["control"], abs=1e-9)


def test_adjusted_estimates_recover_the_truth_the_crude_one_misses(
    large_trial: tuple[pd.DataFrame, float],
) -> None:
    frame, truth = large_trial
    crude = frame.groupby("arm")["clinical_pregnancy"].mean()
    crude_difference = crude["hbmsc"] - crude["control"]
    standardised = g_computation(frame, PRIMARY, n_bootstrap=60, seed=3)
    weighted = ipw_risk_difference(frame, PRIMARY)
    assert abs(crude_difference - truth) > 0.08  # confounding biases the crude estimate
    for result in (standardised, weighted):
        assert result.low < truth < result.high, result  # type: ignore[operator]
        assert abs(result.estimate - truth) < 0.04  # type: ignore[operator]


def test_bootstrap_is_reproducible_with_its_seed(participants: pd.DataFrame) -> None:
    first = g_computation(participants, PRIMARY, n_bootstrap=40, seed=9)
    again = g_computation(participants, PRIMARY, n_bootstrap=40, seed=9)
    other = g_computation(participants, PRIMARY, n_bootstrap=40, seed=10)
    assert (first.low, first.high) == (again.low, again.high)
    assert (first.low, first.high) != (other.low, other.high)
    assert any("seed 9" in note for note in first.notes)


def test_ipw_estimate_is_the_hajek_difference_of_weighted_means(
    participants: pd.DataFrame,
) -> None:
    weights = ipw_weights(participants, PRIMARY)
    rows = participants.loc[weights.index]
    treated = rows["arm"] == "hbmsc"
    y = rows["clinical_pregnancy"]
    hajek = np.average(y[treated], weights=weights[treated]) - np.average(
        y[~treated], weights=weights[~treated]
    )
    result = ipw_risk_difference(participants, PRIMARY)
    assert result.estimate == pytest.approx(hajek, abs=1e-12)
    assert result.low < result.estimate < result.high  # type: ignore[operator]


def test_balance_table_before_and_after_weighting(large_trial: tuple[pd.DataFrame, float]) -> None:
    frame, _ = large_trial
    table = balance_table(frame, PRIMARY).set_index("covariate")
    treated = frame[frame["arm"] == "hbmsc"]["age_years"]
    control = frame[frame["arm"] == "control"]["age_years"]
    by_hand = (treated.mean() - control.mean()) / np.sqrt(
        (treated.var(ddof=0) + control.var(ddof=0)) / 2
    )
    assert table.loc["age_years", "smd_unweighted"] == pytest.approx(by_hand)
    assert (table["smd_unweighted"].abs() > 0.2).all()
    assert (table["smd_weighted"].abs() < 0.1).all()


def test_complete_cases_against_multiple_imputation(
    large_trial: tuple[pd.DataFrame, float],
) -> None:
    frame, truth = large_trial
    frame = frame.copy()
    rng = np.random.default_rng(4)
    frame.loc[rng.random(len(frame)) < 0.25, "baseline_thickness_mm"] = np.nan
    complete, imputed = missing_covariate_sensitivity(frame, PRIMARY, n_imputations=5, burn_in=3)
    assert complete.n < imputed.n == len(frame)
    assert "left out" in " ".join(complete.notes)
    for result in (complete, imputed):
        assert result.low < truth < result.high  # type: ignore[operator]
    # Imputation uses the incomplete rows too, so its interval is not wider.
    assert imputed.high - imputed.low <= (complete.high - complete.low) * 1.05  # type: ignore[operator]


def test_rubin_rules_by_hand() -> None:
    estimates, variances = [1.0, 1.2, 0.9], [0.04, 0.05, 0.045]
    pooled, total, df = rubin_combine(estimates, variances, 60)
    between = np.var(estimates, ddof=1)
    assert pooled == pytest.approx(31 / 30)
    assert total == pytest.approx(0.045 + (4 / 3) * between)
    fraction = (4 / 3) * between / total
    df_old = 2 / fraction**2
    df_obs = 59 / 61 * 58 * (1 - fraction)
    assert df == pytest.approx(1 / (1 / df_old + 1 / df_obs))


def test_ancova_matches_least_squares(participants: pd.DataFrame) -> None:
    comparison = Comparison("hbmsc", "control", "thickness_mm")
    result = ancova(participants, comparison, baseline="baseline_thickness_mm")
    design = np.column_stack(
        [
            np.ones(len(participants)),
            (participants["arm"] == "hbmsc").astype(float),
            participants["baseline_thickness_mm"],
        ]
    )
    coefficients, *_ = np.linalg.lstsq(design, participants["thickness_mm"], rcond=None)
    assert result.estimate == pytest.approx(coefficients[1])
    assert result.low < 1.0 < result.high  # type: ignore[operator]  # simulated effect: 1 mm


def test_gee_with_equal_clusters_gives_the_pooled_odds_ratio() -> None:
    rng = np.random.default_rng(8)
    women = 60
    arm = np.repeat(np.where(np.arange(women) < 30, "hbmsc", "control"), 2)
    frailty = np.repeat(rng.normal(0, 1, women), 2)
    implanted = rng.random(2 * women) < 1 / (1 + np.exp(-(-1 + 0.7 * (arm == "hbmsc") + frailty)))
    embryos = pd.DataFrame(
        {
            "participant_id": np.repeat([f"P{i}" for i in range(women)], 2),
            "arm": arm,
            "implanted": implanted.astype(float),
        }
    )
    result = gee_implantation(embryos, treated="hbmsc", control="control")
    rate = embryos.groupby("arm")["implanted"].mean()
    odds = rate / (1 - rate)
    assert result.estimate == pytest.approx(odds["hbmsc"] / odds["control"], rel=1e-6)
    uncorrected = next(n for n in result.notes if n.startswith("uncorrected"))
    low, high = (float(v) for v in uncorrected.split("interval ")[1].split(" to "))
    assert result.low < low and high < result.high  # type: ignore[operator]  # wider


def test_errors_name_the_problem(participants: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="no column"):
        g_computation(participants, Comparison("hbmsc", "control", "nope"), n_bootstrap=50)
    with pytest.raises(InputError, match="no participant in arm 'cells'"):
        ipw_risk_difference(
            participants, Comparison("cells", "control", "clinical_pregnancy", ("age_years",))
        )
    with pytest.raises(InputError, match="outcome must be 0/1"):
        g_computation(participants, Comparison("hbmsc", "control", "thickness_mm"), n_bootstrap=50)
    with pytest.raises(InputError, match="at least one covariate"):
        ipw_weights(participants, Comparison("hbmsc", "control", "clinical_pregnancy"))
    separated = participants.assign(marker=(participants["arm"] == "hbmsc").astype(float))
    with pytest.raises(InputError, match="propensity model cannot be fitted"):
        ipw_weights(separated, Comparison("hbmsc", "control", "clinical_pregnancy", ("marker",)))
