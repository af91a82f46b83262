"""Adjusted comparisons for a non-randomised trial, on the participants frame.

Allocation in the seed trial is not random, so the primary risk difference is also estimated
adjusted for the plan's baseline covariates, two ways that rest on different models:

- standardisation (g-computation): a logistic outcome model, everyone's predicted risk under
  each arm, averaged; percentile interval from a seeded bootstrap stratified by arm;
- inverse-probability weighting: a logistic propensity model, ATE weights, the weighted
  difference of means with a robust (sandwich, HC0) interval; treating the weights as known
  makes it conservative (Lunceford & Davidian 2004);

with a balance table (standardised mean differences before and after weighting, Austin &
Stuart 2015), and a sensitivity analysis of missing covariates: complete cases against multiple
imputation (statsmodels MICE chained equations with predictive mean matching, combined by
Rubin's rules). Secondary: ANCOVA of a continuous outcome on its baseline (OLS), and
implantation per embryo by GEE (logistic, exchangeable within woman) with the Mancl-DeRouen
bias-reduced robust variance (statsmodels cov_type="bias_reduced").

The frame (see `endotrial.analysis.dataset`): one row per participant with `arm` (arm id),
the outcome (0/1, or NaN when unknown: such rows are left out and counted) and numeric or
categorical covariate columns (categories become indicator columns, first level dropped).
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import statsmodels.api as sm
from numpy.typing import NDArray
from scipy import stats
from statsmodels.imputation.mice import MICEData
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from endotrial.analysis._checks import check_confidence
from endotrial.analysis.results import AnalysisResult
from endotrial.errors import InputError

Fitted = TypeVar("Fitted")


@dataclass(frozen=True)
class Comparison:
    """Which arms are compared (treated vs control), on which columns."""

    treated: str
    control: str
    outcome: str
    covariates: tuple[str, ...] = ()
    arm_column: str = "arm"

    @property
    def label(self) -> str:
        return f"{self.treated} − {self.control}"


@dataclass(frozen=True)
class _Prepared:
    """Rows of the two arms with known outcome and complete covariates, as numbers."""

    outcome: NDArray[np.float64]
    treated: NDArray[np.float64]
    covariates: pd.DataFrame  # indicator-coded, float
    excluded: int


# --- standardisation (g-computation) ------------------------------------------------------


def g_computation(
    frame: pd.DataFrame,
    comparison: Comparison,
    *,
    n_bootstrap: int = 2000,
    seed: int = 20250930,
    confidence: float = 0.95,
) -> AnalysisResult:
    """Adjusted risk difference by standardisation, with a stratified bootstrap interval."""
    level = check_confidence(confidence)
    if n_bootstrap < 20:
        raise InputError(f"n_bootstrap {n_bootstrap} is too few for an interval; use >= 200")
    data = _prepare(frame, comparison)
    estimate, _ = _standardised_difference(data)
    rng = np.random.default_rng(seed)
    arms = [np.flatnonzero(data.treated == value) for value in (1.0, 0.0)]
    replicates: list[float] = []
    for _ in range(n_bootstrap):
        rows = np.concatenate([rng.choice(arm, size=arm.size, replace=True) for arm in arms])
        sample = _Prepared(data.outcome[rows], data.treated[rows], data.covariates.iloc[rows], 0)
        value = _bootstrap_estimate(sample)
        if value is not None:
            replicates.append(value)
    failed = n_bootstrap - len(replicates)
    if len(replicates) < n_bootstrap / 2:
        raise InputError(
            f"{comparison.outcome}: the outcome model failed in {failed} of {n_bootstrap} "
            "bootstrap samples (separation or too few events); use fewer covariates"
        )
    tail = (1 - level) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    notes = [
        f"logistic outcome model: {comparison.outcome} ~ arm + {_covariate_text(comparison)}",
        f"percentile bootstrap, {n_bootstrap} resamples within arm, seed {seed}",
        *_excluded_note(data),
    ]
    if failed:
        notes.append(f"{failed} bootstrap fits failed (separation) and were dropped")
    return AnalysisResult(
        quantity=f"adjusted risk difference {comparison.label} ({comparison.outcome})",
        method="standardisation (g-computation)",
        estimate=estimate,
        low=float(low),
        high=float(high),
        confidence=level,
        n=int(data.outcome.size),
        notes=tuple(notes),
    )


def _standardised_difference(data: _Prepared) -> tuple[float, float]:
    """Estimate and delta-method variance (conditional on the covariates) of the g-formula."""
    design = _design(data.treated, data.covariates)
    fit = sm.GLM(data.outcome, design, family=sm.families.Binomial()).fit()
    as_treated = design.copy()
    as_treated[:, 1] = 1.0
    as_control = design.copy()
    as_control[:, 1] = 0.0
    risk_treated = _expit(as_treated @ fit.params)
    risk_control = _expit(as_control @ fit.params)
    gradient = (risk_treated * (1 - risk_treated)) @ as_treated / len(design) - (
        risk_control * (1 - risk_control)
    ) @ as_control / len(design)
    variance = float(gradient @ np.asarray(fit.cov_params()) @ gradient)
    return float(risk_treated.mean() - risk_control.mean()), variance


# --- inverse-probability weighting ---------------------------------------------------------


def ipw_weights(frame: pd.DataFrame, comparison: Comparison) -> pd.Series:
    """ATE weights 1/e(x) (treated) and 1/(1 − e(x)) (control) from a logistic propensity
    model of the arm on the covariates; indexed like the rows used (two arms, complete)."""
    if not comparison.covariates:
        raise InputError("inverse-probability weighting needs at least one covariate")
    rows = _arm_rows(frame, comparison)
    covariates = _covariate_matrix(rows, comparison.covariates)
    complete = covariates.notna().all(axis=1)
    treated = (rows.loc[complete, comparison.arm_column] == comparison.treated).to_numpy(float)
    design = sm.add_constant(covariates[complete].to_numpy(float), has_constant="add")
    propensity = _fit_or_refuse(
        lambda: sm.GLM(treated, design, family=sm.families.Binomial()).fit(),
        "the propensity model",
    ).predict(design)
    weights = np.where(treated == 1, 1 / propensity, 1 / (1 - propensity))
    return pd.Series(weights, index=rows.index[complete], name="ipw_weight")


def ipw_risk_difference(
    frame: pd.DataFrame, comparison: Comparison, *, confidence: float = 0.95
) -> AnalysisResult:
    """Weighted difference of outcome means with a robust (HC0 sandwich) interval."""
    level = check_confidence(confidence)
    weights = ipw_weights(frame, comparison)
    rows = frame.loc[weights.index]
    outcome = pd.to_numeric(rows[comparison.outcome], errors="coerce")
    known = outcome.notna().to_numpy()
    treated = (rows[comparison.arm_column] == comparison.treated).to_numpy(float)[known]
    fit = sm.WLS(
        outcome.to_numpy(float)[known],
        sm.add_constant(treated, has_constant="add"),
        weights=weights.to_numpy()[known],
    ).fit(cov_type="HC0")
    low, high = fit.conf_int(alpha=1 - level)[1]
    effective = _effective_sample_size(weights.to_numpy()[known])
    return AnalysisResult(
        quantity=f"IPW risk difference {comparison.label} ({comparison.outcome})",
        method="inverse-probability weighting (ATE), robust HC0 interval",
        estimate=float(fit.params[1]),
        low=float(low),
        high=float(high),
        confidence=level,
        p_value=float(fit.pvalues[1]),
        n=int(known.sum()),
        notes=(
            f"logistic propensity model: arm ~ {_covariate_text(comparison)}",
            f"weights {weights.min():.2f} to {weights.max():.2f}; effective sample size "
            f"{effective:.1f} of {int(known.sum())}",
            "weights treated as known: the interval is conservative",
            *(
                [f"{len(frame) - int(known.sum())} row(s) of other arms or incomplete left out"]
                if len(frame) > known.sum()
                else []
            ),
        ),
    )


def balance_table(frame: pd.DataFrame, comparison: Comparison) -> pd.DataFrame:
    """Standardised mean differences of each covariate before and after ATE weighting.

    Columns: covariate, mean_treated, mean_control, smd_unweighted, mean_treated_weighted,
    mean_control_weighted, smd_weighted. SMD = (mean_t − mean_c) / sqrt((var_t + var_c) / 2),
    with weighted means and variances after weighting (Austin & Stuart 2015); |SMD| < 0.1 is
    the usual mark of balance. Categorical covariates appear as their indicator columns.
    """
    weights = ipw_weights(frame, comparison)
    rows = frame.loc[weights.index]
    covariates = _covariate_matrix(rows, comparison.covariates).astype(float)
    is_treated = (rows[comparison.arm_column] == comparison.treated).to_numpy()
    records = []
    for name in covariates.columns:
        values = covariates[name].to_numpy()
        t, c = values[is_treated], values[~is_treated]
        wt, wc = weights.to_numpy()[is_treated], weights.to_numpy()[~is_treated]
        records.append(
            {
                "covariate": name,
                "mean_treated": t.mean(),
                "mean_control": c.mean(),
                "smd_unweighted": _smd(t, c, np.ones_like(t), np.ones_like(c)),
                "mean_treated_weighted": np.average(t, weights=wt),
                "mean_control_weighted": np.average(c, weights=wc),
                "smd_weighted": _smd(t, c, wt, wc),
            }
        )
    return pd.DataFrame(records)


# --- missing covariates: complete cases against multiple imputation --------------------------


def missing_covariate_sensitivity(
    frame: pd.DataFrame,
    comparison: Comparison,
    *,
    n_imputations: int = 20,
    burn_in: int = 10,
    seed: int = 20250930,
    confidence: float = 0.95,
) -> list[AnalysisResult]:
    """The standardised risk difference on complete cases and under multiple imputation.

    Both use the delta-method variance of the g-formula (conditional on the covariates). The
    imputation model (statsmodels MICEData: chained equations, predictive mean matching) uses
    the outcome, the arm and every covariate; rows with an unknown outcome are left out first.
    Imputed estimates are combined by Rubin's rules with the Barnard-Rubin degrees of freedom.
    """
    level = check_confidence(confidence)
    if n_imputations < 2:
        raise InputError("multiple imputation needs at least 2 imputations")
    complete = _prepare(frame, comparison)
    estimate, variance = _standardised_difference(complete)
    z = float(stats.norm.isf((1 - level) / 2))
    half = z * math.sqrt(variance)
    complete_case = AnalysisResult(
        quantity=f"adjusted risk difference {comparison.label} ({comparison.outcome})",
        method="standardisation, complete cases, delta-method interval",
        estimate=estimate,
        low=estimate - half,
        high=estimate + half,
        confidence=level,
        n=int(complete.outcome.size),
        notes=tuple(_excluded_note(complete)),
    )
    imputed = _imputed_estimates(frame, comparison, n_imputations, burn_in, seed)
    pooled, total_variance, df = rubin_combine(*imputed)
    quantile = float(stats.t.isf((1 - level) / 2, df))
    half = quantile * math.sqrt(total_variance)
    multiple = AnalysisResult(
        quantity=f"adjusted risk difference {comparison.label} ({comparison.outcome})",
        method="standardisation, multiple imputation (MICE, PMM), Rubin's rules",
        estimate=pooled,
        low=pooled - half,
        high=pooled + half,
        confidence=level,
        n=int(imputed[2]),
        notes=(
            f"{n_imputations} imputations after {burn_in} cycles, seed {seed}",
            f"Barnard-Rubin degrees of freedom {df:.1f}",
        ),
    )
    return [complete_case, multiple]


def rubin_combine(
    estimates: Sequence[float], variances: Sequence[float], n: int
) -> tuple[float, float, float]:
    """Rubin's rules: pooled estimate, total variance and Barnard-Rubin (1999) df.

    T = W + (1 + 1/m) B, with W the mean within-imputation variance and B the between-
    imputation variance; λ = (1 + 1/m) B / T; ν_old = (m − 1) / λ²; ν_obs = (ν_com + 1) /
    (ν_com + 3) · ν_com · (1 − λ) with complete-data df ν_com = n − 2 (two arms);
    ν = 1 / (1/ν_old + 1/ν_obs) (van Buuren, Flexible Imputation of Missing Data, §2.3).
    """
    m = len(estimates)
    values = np.asarray(estimates, dtype=float)
    within = float(np.mean(variances))
    between = float(values.var(ddof=1))
    total = within + (1 + 1 / m) * between
    if between == 0:
        return float(values.mean()), total, float(max(n - 2, 1))
    fraction = (1 + 1 / m) * between / total
    df_old = (m - 1) / fraction**2
    df_complete = max(n - 2, 1)
    df_observed = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - fraction)
    return float(values.mean()), total, float(1 / (1 / df_old + 1 / df_observed))


def _imputed_estimates(
    frame: pd.DataFrame, comparison: Comparison, imputations: int, burn_in: int, seed: int
) -> tuple[list[float], list[float], int]:
    rows = _arm_rows(frame, comparison)
    outcome = pd.to_numeric(rows[comparison.outcome], errors="coerce")
    rows = rows[outcome.notna()]
    covariates = _covariate_matrix(rows, comparison.covariates).astype(float)
    safe = {name: f"c{i}" for i, name in enumerate(covariates.columns)}  # formula-safe names
    data = covariates.rename(columns=safe)
    data.insert(0, "treated", (rows[comparison.arm_column] == comparison.treated).astype(float))
    data.insert(0, "outcome", outcome[outcome.notna()].astype(float))
    data = data.reset_index(drop=True)
    imputer = _mice_data(data, seed)
    estimates, variances = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        imputer.update_all(burn_in)
        for _ in range(imputations):
            imputer.update_all(1)
            completed = imputer.data
            prepared = _Prepared(
                completed["outcome"].to_numpy(float),
                completed["treated"].to_numpy(float),
                completed.drop(columns=["outcome", "treated"]),
                0,
            )
            estimate, variance = _standardised_difference(prepared)
            estimates.append(estimate)
            variances.append(variance)
    return estimates, variances, len(data)


def _mice_data(data: pd.DataFrame, seed: int) -> MICEData:
    """MICEData seeded: statsmodels >= 0.15 takes `rng`; 0.14 draws from the global state."""
    if "rng" in inspect.signature(MICEData.__init__).parameters:
        return MICEData(data, rng=np.random.default_rng(seed))
    np.random.seed(seed)  # pragma: no cover - statsmodels 0.14 only
    return MICEData(data)  # pragma: no cover


# --- ANCOVA and GEE ------------------------------------------------------------------------


def ancova(
    frame: pd.DataFrame,
    comparison: Comparison,
    *,
    baseline: str,
    confidence: float = 0.95,
) -> AnalysisResult:
    """Difference in a continuous outcome adjusted for its baseline (and covariates), by OLS."""
    level = check_confidence(confidence)
    extended = Comparison(
        comparison.treated,
        comparison.control,
        comparison.outcome,
        (baseline, *[c for c in comparison.covariates if c != baseline]),
        comparison.arm_column,
    )
    data = _prepare(frame, extended, binary=False)
    fit = sm.OLS(data.outcome, _design(data.treated, data.covariates)).fit()
    low, high = fit.conf_int(alpha=1 - level)[1]
    return AnalysisResult(
        quantity=f"adjusted mean difference {comparison.label} ({comparison.outcome})",
        method="ANCOVA (OLS on arm and baseline)",
        estimate=float(fit.params[1]),
        low=float(low),
        high=float(high),
        confidence=level,
        p_value=float(fit.pvalues[1]),
        n=int(data.outcome.size),
        notes=(
            f"{comparison.outcome} ~ arm + {', '.join(extended.covariates)}",
            f"residual df {fit.df_resid:.0f}",
            *_excluded_note(data),
        ),
    )


def gee_implantation(
    embryos: pd.DataFrame,
    *,
    treated: str,
    control: str,
    confidence: float = 0.95,
    outcome: str = "implanted",
    cluster: str = "participant_id",
    arm_column: str = "arm",
) -> AnalysisResult:
    """Odds ratio of implantation per embryo, GEE logistic, exchangeable within woman.

    The interval uses the Mancl-DeRouen bias-reduced sandwich variance (statsmodels GEE
    cov_type="bias_reduced"): with some 60 women and one or two embryos each the usual robust
    variance runs small. The uncorrected robust interval is in the notes for comparison.
    """
    level = check_confidence(confidence)
    rows = embryos[embryos[arm_column].isin([treated, control])]
    values = pd.to_numeric(rows[outcome], errors="coerce")
    rows = rows[values.notna()]
    if rows.empty or rows[arm_column].nunique() < 2:
        raise InputError(f"embryos: no {outcome} values in both arms {treated} and {control}")
    response = values[values.notna()].to_numpy(float)
    design = sm.add_constant((rows[arm_column] == treated).to_numpy(float), has_constant="add")
    model = sm.GEE(
        response,
        design,
        groups=rows[cluster].astype(str).to_numpy(),
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Exchangeable(),
    )
    corrected = _fit_or_refuse(lambda: model.fit(cov_type="bias_reduced"), "the GEE model")
    robust = _fit_or_refuse(lambda: model.fit(cov_type="robust"), "the GEE model")
    z = float(stats.norm.isf((1 - level) / 2))
    log_or, se = float(corrected.params[1]), float(corrected.bse[1])
    robust_se = float(robust.bse[1])
    clusters = rows[cluster].nunique()
    return AnalysisResult(
        quantity=f"odds ratio of implantation per embryo {treated} : {control}",
        method="GEE logistic, exchangeable, Mancl-DeRouen bias-reduced robust variance",
        estimate=math.exp(log_or),
        low=math.exp(log_or - z * se),
        high=math.exp(log_or + z * se),
        confidence=level,
        p_value=float(2 * stats.norm.sf(abs(log_or / se))),
        n=len(rows),
        notes=(
            f"{len(rows)} embryos in {clusters} women",
            f"within-woman correlation {float(corrected.model.cov_struct.dep_params):.3f}",
            "uncorrected robust interval "
            f"{math.exp(log_or - z * robust_se):.3f} to {math.exp(log_or + z * robust_se):.3f}",
        ),
    )


# --- internals ------------------------------------------------------------------------------


def _arm_rows(frame: pd.DataFrame, comparison: Comparison) -> pd.DataFrame:
    missing = [
        c
        for c in (comparison.arm_column, comparison.outcome, *comparison.covariates)
        if c not in frame.columns
    ]
    if missing:
        raise InputError(f"participants frame: no column(s) {', '.join(missing)}")
    if not frame.index.is_unique:
        raise InputError("participants frame: the index repeats; use frame.reset_index()")
    arms = frame[comparison.arm_column]
    for arm in (comparison.treated, comparison.control):
        if not (arms == arm).any():
            raise InputError(f"participants frame: no participant in arm '{arm}'")
    return frame[arms.isin([comparison.treated, comparison.control])]


def _covariate_matrix(rows: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Covariates as numbers: booleans 0/1, text and categories as indicators (first dropped),
    keeping missing values missing."""
    parts: list[pd.DataFrame] = []
    for name in covariates:
        column = rows[name]
        if _is_numeric(column):
            parts.append(pd.to_numeric(column, errors="coerce").astype(float).to_frame(name))
            continue
        indicators = pd.get_dummies(column, prefix=name, drop_first=True, dtype=float)
        indicators[column.isna()] = np.nan
        parts.append(indicators)
    if not parts:
        return pd.DataFrame(index=rows.index)
    return pd.concat(parts, axis=1)


def _is_numeric(column: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def _prepare(frame: pd.DataFrame, comparison: Comparison, *, binary: bool = True) -> _Prepared:
    rows = _arm_rows(frame, comparison)
    outcome = pd.to_numeric(rows[comparison.outcome], errors="coerce")
    covariates = _covariate_matrix(rows, comparison.covariates)
    usable = outcome.notna() & covariates.notna().all(axis=1)
    if binary and not outcome[usable].isin([0, 1]).all():
        raise InputError(f"participants frame, column {comparison.outcome}: outcome must be 0/1")
    is_treated = (rows[comparison.arm_column] == comparison.treated).to_numpy()
    treated = np.asarray(is_treated[usable.to_numpy()], dtype=np.float64)
    if len(set(treated)) < 2:
        raise InputError(
            f"{comparison.outcome}: after leaving out unknown outcomes and incomplete "
            "covariates, one arm has no one left"
        )
    return _Prepared(
        outcome[usable].to_numpy(float),
        treated,
        covariates[usable].astype(float),
        int((~usable).sum()),
    )


def _design(treated: NDArray[np.float64], covariates: pd.DataFrame) -> NDArray[np.float64]:
    return np.column_stack([np.ones_like(treated), treated, covariates.to_numpy(float)])


def _bootstrap_estimate(sample: _Prepared) -> float | None:
    """The g-formula on one resample, or None when the model cannot be fitted on it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)
        try:
            value, _ = _standardised_difference(sample)
        except (
            PerfectSeparationWarning,
            ConvergenceWarning,
            RuntimeWarning,
            ValueError,
            np.linalg.LinAlgError,
        ):
            return None
    return value if math.isfinite(value) else None


def _fit_or_refuse(fit: Callable[[], Fitted], what: str) -> Fitted:
    """Fit a model, turning separation and non-convergence into a clear InputError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            return fit()
        except (PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError) as error:
            raise InputError(
                f"{what} cannot be fitted ({type(error).__name__}): too few participants or "
                "a covariate that separates the arms; use fewer covariates"
            ) from None


def _smd(
    treated: NDArray[np.float64],
    control: NDArray[np.float64],
    w_treated: NDArray[np.float64],
    w_control: NDArray[np.float64],
) -> float:
    mean_t = np.average(treated, weights=w_treated)
    mean_c = np.average(control, weights=w_control)
    var_t = np.average((treated - mean_t) ** 2, weights=w_treated)
    var_c = np.average((control - mean_c) ** 2, weights=w_control)
    spread = math.sqrt((var_t + var_c) / 2)
    return float((mean_t - mean_c) / spread) if spread > 0 else 0.0


def _effective_sample_size(weights: NDArray[np.float64]) -> float:
    return float(weights.sum() ** 2 / (weights**2).sum())


def _expit(values: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(1 / (1 + np.exp(-values)), dtype=np.float64)


def _covariate_text(comparison: Comparison) -> str:
    return ", ".join(comparison.covariates) if comparison.covariates else "(none)"


def _excluded_note(data: _Prepared) -> list[str]:
    if not data.excluded:
        return []
    return [f"{data.excluded} participant(s) with unknown outcome or covariates left out"]
