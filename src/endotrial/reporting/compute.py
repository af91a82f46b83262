"""The statistical analysis plan, computed on the analysis dataset.

`compute_analysis(dataset, protocol, settings)` returns every result, table and figure of the
report as plain values (`Analysis`); `reporting.render` writes them as HTML, PDF and CSV.
Everything random is seeded from `settings.seed` (the bootstrap, the multiple imputation), so
the same database and settings give the same numbers.

The primary outcome follows the plan's estimand: clinical pregnancy after the first transfer
in the full analysis set, by allocated arm; a cancelled transfer counts as no pregnancy
(derived so in the dataset) and so does a withdrawal before the outcome (composite strategy).
A woman still in follow-up (outcome not yet known, not withdrawn) is left out and counted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from pandas.api import types as ptypes

from endotrial.analysis import adjusted, power, proportions, safety_monitoring, safety_tables
from endotrial.analysis.adjusted import Comparison
from endotrial.analysis.flow import Flow, participant_flow
from endotrial.analysis.measures import MeasureSummary, summarise_measures
from endotrial.analysis.results import AnalysisResult
from endotrial.errors import InputError
from endotrial.protocol.models import Protocol
from endotrial.reporting.dataset_build import AnalysisDataset
from endotrial.reporting.i18n import N_

PRIMARY = "clinical_pregnancy"
RD_NEWCOMBE = "risk difference (Newcombe)"
FISHER = "Fisher's exact test (conditional MLE odds ratio)"
G_COMPUTATION = "Adjusted, g-computation (bootstrap)"
#: Binary secondary outcomes with their denominator: every woman analysed, or her clinical
#: pregnancies (a miscarriage is a loss of a clinical pregnancy).
SECONDARY_BINARY = (
    ("biochemical_pregnancy", "woman"),
    ("ongoing_pregnancy", "woman"),
    ("live_birth", "woman"),
    ("miscarriage", "clinical pregnancy"),
)


@dataclass(frozen=True)
class Settings:
    """What makes a run reproducible; recorded in the report."""

    seed: int = 20250930
    n_bootstrap: int = 2000
    n_imputations: int = 20
    burn_in: int = 10


@dataclass
class Section:
    """One part of the report: results (estimates) and tables, with notes."""

    title: str
    results: list[tuple[str, AnalysisResult]] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Analysis:
    """Everything the report shows."""

    protocol: Protocol
    dataset: AnalysisDataset
    settings: Settings
    treated: str
    control: str
    flow: Flow
    primary: Section
    secondary: Section
    safety: Section
    monitoring: Section
    baseline: pd.DataFrame
    rates: pd.DataFrame
    design: list[str]
    forest: list[tuple[str, AnalysisResult]]
    #: Arm id → the name the report shows (the protocol's label).
    arm_labels: dict[str, str]
    #: The latest date recorded anywhere in the dataset, and the women whose follow-up to the
    #: last outcome is not complete (0: a final analysis).
    last_record_on: dt.date | None
    in_follow_up: int
    #: The protocol's outcome measures by arm (none when it declares none).
    measures: tuple[MeasureSummary, ...] = ()
    #: Why the comparison of two arms is left out (a single arm, no analysis sets); None when
    #: the report has it. The primary, secondary and monitoring sections are then empty.
    comparison_omitted: str | None = None
    #: Whether the safety tables are shown (they need the protocol's safety set).
    has_safety_set: bool = True


def comparison_omitted(protocol: Protocol) -> str | None:
    """The reason (English, one sentence) the report cannot compare two arms, or None."""
    if protocol.analysis_plan.analysis_sets is None:
        return N_(
            "The protocol declares no analysis sets: the comparison of the arms (primary "
            "outcome, adjusted and sensitivity analyses, secondary outcomes, safety "
            "monitoring) is left out."
        )
    experimental = [a for a in protocol.arms if a.type.upper() == "EXPERIMENTAL"]
    if len(protocol.arms) != 2 or len(experimental) != 1:
        return N_(
            "The protocol does not have one experimental arm and one comparator arm: the "
            "comparison of the arms (primary outcome, adjusted and sensitivity analyses, "
            "secondary outcomes, safety monitoring) is left out."
        )
    return None


def arms_compared(protocol: Protocol) -> tuple[str, str]:
    """(experimental arm, comparator arm) of a two-arm protocol."""
    experimental = [a.id for a in protocol.arms if a.type.upper() == "EXPERIMENTAL"]
    others = [a.id for a in protocol.arms if a.id not in experimental]
    if len(protocol.arms) != 2 or len(experimental) != 1:
        raise InputError(
            f"protocol {protocol.protocol_id}: the report compares one EXPERIMENTAL arm with one "
            f"other arm; it has {[(a.id, a.type) for a in protocol.arms]}"
        )
    return experimental[0], others[0]


def compute_analysis(
    dataset: AnalysisDataset, protocol: Protocol, settings: Settings | None = None
) -> Analysis:
    settings = settings or Settings()
    confidence = 1 - protocol.analysis_plan.alpha
    measures = summarise_measures(
        protocol, dataset.participants, dataset.measurements, confidence=confidence
    )
    omitted = comparison_omitted(protocol)
    if omitted is not None:
        return _descriptive(dataset, protocol, settings, measures, omitted)
    treated, control = arms_compared(protocol)
    fas = _primary_frame(dataset.participants)
    criteria = {c.id: c.text for c in protocol.criteria}
    names = {arm.id: arm.label for arm in protocol.arms}
    primary, rates, forest = _primary(
        fas, protocol, names, confidence, settings, (treated, control)
    )
    return Analysis(
        protocol=protocol,
        dataset=dataset,
        settings=settings,
        treated=treated,
        control=control,
        flow=participant_flow(
            dataset.screenings, dataset.participants, arms=[treated, control], criteria=criteria
        ),
        primary=primary,
        secondary=_secondary(dataset, fas, treated, control, confidence),
        safety=_safety(dataset, treated, control),
        monitoring=_monitoring(dataset, protocol, treated, control),
        baseline=_baseline_table(fas, protocol, treated, control),
        rates=rates,
        design=_design_notes(fas, treated, control, protocol.analysis_plan.alpha),
        forest=forest,
        arm_labels={arm.id: arm.label for arm in protocol.arms},
        last_record_on=_last_record_on(dataset),
        in_follow_up=int((fas["live_birth"].isna() & ~fas["lost_to_follow_up"].astype(bool)).sum()),
        measures=measures,
    )


def _descriptive(
    dataset: AnalysisDataset,
    protocol: Protocol,
    settings: Settings,
    measures: tuple[MeasureSummary, ...],
    omitted: str,
) -> Analysis:
    """The report of a trial without two compared arms: flow, outcome measures and (with a
    safety set) adverse events by arm; no comparison."""
    arms = [arm.id for arm in protocol.arms]
    has_safety_set = protocol.analysis_plan.analysis_sets is not None
    safety = Section("Safety (safety set, by treatment received)")
    if has_safety_set:
        safety.tables = safety_tables.safety_tables(
            dataset.participants, dataset.adverse_events, arms
        )
    return Analysis(
        protocol=protocol,
        dataset=dataset,
        settings=settings,
        treated=arms[0],
        control=arms[1] if len(arms) > 1 else arms[0],
        flow=participant_flow(
            dataset.screenings,
            dataset.participants,
            arms=arms,
            criteria={c.id: c.text for c in protocol.criteria},
        ),
        primary=Section("Primary outcome"),
        secondary=Section("Secondary outcomes"),
        safety=safety,
        monitoring=Section("Interim safety monitoring: serious adverse events"),
        baseline=pd.DataFrame(),
        rates=pd.DataFrame(),
        design=[],
        forest=[],
        arm_labels={arm.id: arm.label for arm in protocol.arms},
        last_record_on=_last_record_on(dataset),
        in_follow_up=0,
        measures=measures,
        comparison_omitted=omitted,
        has_safety_set=has_safety_set,
    )


def _last_record_on(dataset: AnalysisDataset) -> dt.date | None:
    columns = (
        (dataset.participants, ("enrolled_on", "allocated_on", "transfer_on", "withdrawn_on")),
        (dataset.measurements, ("measured_on",)),
        (dataset.adverse_events, ("onset_date", "resolution_date")),
    )
    dates = [
        pd.to_datetime(frame[c]).max() for frame, names in columns for c in names if c in frame
    ]
    known = [d for d in dates if pd.notna(d)]
    return max(known).date() if known else None


# --- primary --------------------------------------------------------------------------------


def _primary_frame(participants: pd.DataFrame) -> pd.DataFrame:
    """The full analysis set with the composite primary outcome (withdrawal = no pregnancy)."""
    fas = participants[participants["in_full_analysis_set"].astype(bool)].copy()
    outcome = fas[PRIMARY].astype("boolean")
    withdrawn_unknown = outcome.isna() & fas["lost_to_follow_up"].astype(bool)
    fas["primary_outcome"] = outcome.mask(withdrawn_unknown, False).astype("Float64")
    fas["primary_observed"] = outcome.astype("Float64")  # sensitivity: withdrawals left out
    return fas


def _counts(frame: pd.DataFrame, column: str, arm: str) -> tuple[int, int]:
    values = frame.loc[frame["arm"] == arm, column].dropna().astype(float)
    return int(values.sum()), len(values)


def _groups(frame: pd.DataFrame, column: str, treated: str, control: str) -> proportions.TwoGroups:
    events_t, total_t = _counts(frame, column, treated)
    events_c, total_c = _counts(frame, column, control)
    if min(total_t, total_c) == 0:
        raise InputError(f"{column}: no known outcome in arm {treated if not total_t else control}")
    return proportions.TwoGroups(events_t, total_t, events_c, total_c, treated, control)


def _primary(
    fas: pd.DataFrame,
    protocol: Protocol,
    names: dict[str, str],
    confidence: float,
    settings: Settings,
    arms: tuple[str, str],
) -> tuple[Section, pd.DataFrame, list[tuple[str, AnalysisResult]]]:
    treated, control = arms
    section = Section("Primary outcome: clinical pregnancy after the first transfer")
    groups = _groups(fas, "primary_outcome", treated, control)
    results = proportions.compare_proportions(groups, confidence=confidence)
    rate_t, rate_c = f"rate, {names[treated]}", f"rate, {names[control]}"
    labels = [
        rate_t, rate_t, rate_c, rate_c, RD_NEWCOMBE, "risk difference (Miettinen-Nurminen)",
        "risk ratio", "odds ratio", FISHER,
        "Boschloo's exact test",
    ]  # fmt: skip
    section.results += list(zip(labels, results, strict=True))
    unknown = int(fas["primary_outcome"].isna().sum())
    if unknown:
        section.notes.append(f"{unknown} women still in follow-up (outcome unknown) left out")
    covariates = tuple(c.name for c in protocol.analysis_plan.covariates)
    comparison = Comparison(treated, control, "primary_outcome", covariates)
    adjusted_results = _adjusted(fas, comparison, confidence, settings, section)
    sensitivity = _sensitivity(fas, treated, control, confidence)
    section.results += sensitivity
    newcombe, mn = results[4], results[5]
    forest = [
        ("Unadjusted, Newcombe hybrid score", newcombe),
        ("Unadjusted, Miettinen-Nurminen", mn),
        *adjusted_results,
        *sensitivity,
    ]
    return section, _rates_table(fas, treated, control, confidence), forest


def _adjusted(
    fas: pd.DataFrame,
    comparison: Comparison,
    confidence: float,
    settings: Settings,
    section: Section,
) -> list[tuple[str, AnalysisResult]]:
    """Adjusted analyses for the non-random allocation; one that cannot be fitted is noted,
    not fatal (with 30 per arm a covariate can separate the outcome)."""
    frame = fas.assign(**{c: _model_column(fas[c]) for c in comparison.covariates})
    frame["primary_outcome"] = frame["primary_outcome"].astype(float)
    found: list[tuple[str, AnalysisResult]] = []
    try:
        found.append(
            (
                G_COMPUTATION,
                adjusted.g_computation(
                    frame, comparison, n_bootstrap=settings.n_bootstrap, seed=settings.seed,
                    confidence=confidence,
                ),
            )
        )  # fmt: skip
    except InputError as error:
        section.notes.append(f"g-computation: not estimable ({error})")
    try:
        found.append(
            (
                "Adjusted, inverse-probability weighting",
                adjusted.ipw_risk_difference(frame, comparison, confidence=confidence),
            )
        )
    except InputError as error:
        section.notes.append(f"inverse-probability weighting: not estimable ({error})")
    try:
        complete, imputed = adjusted.missing_covariate_sensitivity(
            frame, comparison, n_imputations=settings.n_imputations, burn_in=settings.burn_in,
            seed=settings.seed, confidence=confidence,
        )  # fmt: skip
        found += [
            ("Sensitivity: complete cases (delta method)", complete),
            ("Sensitivity: missing covariates imputed (MICE)", imputed),
        ]
    except InputError as error:
        section.notes.append(f"multiple imputation: not estimable ({error})")
    section.results += found
    try:
        section.tables["Covariate balance before and after weighting (SMD)"] = (
            adjusted.balance_table(frame, comparison)
        )
    except InputError as error:
        section.notes.append(f"balance table: not computed ({error})")
    return found


def _model_column(values: pd.Series) -> pd.Series:
    """A covariate as the models take it: numbers and booleans as floats (NaN when missing),
    categories as text (the models code them as indicators)."""
    if ptypes.is_numeric_dtype(values.dtype) or ptypes.is_bool_dtype(values.dtype):
        return values.astype("Float64").astype(float)
    return values.astype(object).where(values.notna(), None)


def _sensitivity(
    fas: pd.DataFrame, treated: str, control: str, confidence: float
) -> list[tuple[str, AnalysisResult]]:
    """The plan's sensitivity analyses: withdrawals left out; the per-protocol set."""
    found = []
    observed = _groups(fas, "primary_observed", treated, control)
    found.append(
        (
            "Sensitivity: withdrawals left out",
            proportions.risk_difference_newcombe(observed, confidence=confidence).with_note(
                "women withdrawn before their outcome are excluded (plan's sensitivity analysis)"
            ),
        )
    )
    per_protocol = fas[fas["in_per_protocol_set"].astype(bool)]
    groups = _groups(per_protocol, "primary_outcome", treated, control)
    found.append(
        (
            "Sensitivity: per-protocol set",
            proportions.risk_difference_newcombe(groups, confidence=confidence),
        )
    )
    return found


def _rates_table(fas: pd.DataFrame, treated: str, control: str, confidence: float) -> pd.DataFrame:
    rows = []
    outcomes = [
        ("primary_outcome", "clinical pregnancy"),
        *[(o, f"{o.replace('_', ' ')} (per {d})") for o, d in SECONDARY_BINARY],
    ]
    for column, name in outcomes:
        frame = _denominator(fas, column)
        if (frame[column].isna() & ~frame["lost_to_follow_up"].astype(bool)).any():
            continue  # follow-up not complete: no rate yet (see the secondary notes)
        for arm in (treated, control):
            events, total = _counts(frame, column, arm)
            if total == 0:
                continue
            cp = proportions.rate(events, total, method="clopper-pearson", confidence=confidence)
            wilson = proportions.rate(events, total, method="wilson", confidence=confidence)
            rows.append(
                {
                    "outcome": name, "arm": arm, "events": events, "total": total,
                    "estimate": events / total, "wilson_low": wilson.low,
                    "wilson_high": wilson.high, "cp_low": cp.low, "cp_high": cp.high,
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def _denominator(fas: pd.DataFrame, column: str) -> pd.DataFrame:
    per_pregnancy = dict(SECONDARY_BINARY).get(column) == "clinical pregnancy"
    return fas[fas[PRIMARY].astype("boolean").fillna(False)] if per_pregnancy else fas


# --- secondary ------------------------------------------------------------------------------


def _secondary(
    dataset: AnalysisDataset, fas: pd.DataFrame, treated: str, control: str, confidence: float
) -> Section:
    section = Section("Secondary outcomes")
    frame = fas.assign(
        thickness_mm=pd.to_numeric(fas["thickness_mm"], errors="coerce"),
        baseline_thickness_mm=pd.to_numeric(fas["baseline_thickness_mm"], errors="coerce"),
    )
    try:
        section.results.append(
            (
                "Endometrial thickness in the transfer cycle (ANCOVA on baseline)",
                adjusted.ancova(
                    frame, Comparison(treated, control, "thickness_mm"),
                    baseline="baseline_thickness_mm", confidence=confidence,
                ),
            )
        )  # fmt: skip
    except InputError as error:
        section.notes.append(f"thickness ANCOVA: not estimable ({error})")
    embryos = dataset.embryos[dataset.embryos["participant_id"].isin(fas["participant_id"])]
    try:
        section.results.append(
            (
                "Implantation per embryo (GEE, exchangeable, Mancl-DeRouen)",
                adjusted.gee_implantation(
                    embryos.assign(implanted=embryos["implanted"].astype("Float64").astype(float)),
                    treated=treated, control=control, confidence=confidence,
                ),
            )
        )  # fmt: skip
    except InputError as error:
        section.notes.append(f"implantation GEE: not estimable ({error})")
    for column, denominator in SECONDARY_BINARY:
        frame = _denominator(fas, column)
        pending = int((frame[column].isna() & ~frame["lost_to_follow_up"].astype(bool)).sum())
        if pending:
            # Unknown only for the women still pregnant: estimating now would bias to 0.
            section.notes.append(
                f"{column.replace('_', ' ')}: follow-up not complete for {pending} women; "
                "estimated at the final analysis"
            )
            continue
        try:
            groups = _groups(frame, column, treated, control)
        except InputError as error:
            section.notes.append(f"{column.replace('_', ' ')}: not estimable ({error})")
            continue
        name = column.replace("_", " ")
        section.results += [
            (
                f"{name} (per {denominator}), risk difference",
                proportions.risk_difference_newcombe(groups, confidence=confidence),
            ),
            (
                f"{name}, Fisher's exact test",
                proportions.fisher_exact_test(groups, confidence=confidence),
            ),
        ]
        unknown = int(frame[column].isna().sum())
        if unknown:
            section.notes.append(f"{name}: {unknown} women withdrawn before it was known left out")
    return section


# --- safety ---------------------------------------------------------------------------------


def _safety(dataset: AnalysisDataset, treated: str, control: str) -> Section:
    section = Section("Safety (safety set, by treatment received)")
    section.tables = safety_tables.safety_tables(
        dataset.participants, dataset.adverse_events, [treated, control]
    )
    return section


def _monitoring(
    dataset: AnalysisDataset, protocol: Protocol, treated: str, control: str
) -> Section:
    names = {arm.id: arm.label for arm in protocol.arms}
    section = Section("Interim safety monitoring: serious adverse events")
    received = dataset.participants.assign(
        arm=dataset.participants.get("arm_received", dataset.participants["arm"])
    )
    counts = safety_monitoring.serious_events_by_arm(
        received, dataset.adverse_events, [treated, control]
    )
    section.tables["Cumulative serious adverse events by arm (safety set)"] = counts
    section.tables["Listing of serious adverse events"] = _serious_listing(dataset, received)
    margin = protocol.analysis_plan.serious_ae_margin
    if margin is None:
        section.notes.append("the protocol sets no serious_ae_margin: no posterior probability")
        return section
    by_arm = {str(r["arm"]): r for r in counts.to_dict("records")}
    with_sae = {arm: int(row["participants_with_serious_ae"]) for arm, row in by_arm.items()}
    sizes = {arm: int(row["participants"]) for arm, row in by_arm.items()}
    if min(sizes.values()) == 0:
        section.notes.append("an arm has no woman in the safety set: no posterior probability")
        return section
    for prior in (safety_monitoring.UNIFORM, safety_monitoring.JEFFREYS):
        results = safety_monitoring.posterior_excess(
            with_sae[treated], sizes[treated], with_sae[control], sizes[control],
            margin=margin, prior=prior, label_a=names[treated], label_b=names[control],
        )  # fmt: skip
        short = prior.name.split(" ")[0]
        section.results += [
            (f"P(excess > {margin:.0%}), {short} prior", results[0]),
            (f"posterior difference, {short} prior", results[1]),
        ]
    section.notes.append(
        f"margin {margin:.0%} set by the protocol (analysis_plan.serious_ae_margin); women "
        "with at least one serious event, independent binomial likelihoods"
    )
    return section


def _serious_listing(dataset: AnalysisDataset, received: pd.DataFrame) -> pd.DataFrame:
    """Every serious event of the safety set, for the board to read one by one."""
    safety = received[received["in_safety_set"].astype(bool)]
    events = dataset.adverse_events
    serious = events[events["serious"].astype(bool) & events["participant_id"].isin(
        safety["participant_id"]
    )]  # fmt: skip
    columns = [
        "participant_id", "arm", "term", "ctcae_grade", "onset_date", "related_procedure",
        "related_cells", "related_hrt", "expected", "outcome",
    ]  # fmt: skip
    listing = serious[columns].sort_values(["onset_date", "participant_id"]).copy()
    listing["onset_date"] = pd.to_datetime(listing["onset_date"]).dt.strftime("%Y-%m-%d")
    return listing.reset_index(drop=True)


# --- baseline and design --------------------------------------------------------------------


def _baseline_table(
    fas: pd.DataFrame, protocol: Protocol, treated: str, control: str
) -> pd.DataFrame:
    """Baseline characteristics by arm: mean (SD) [missing] or n (%)."""
    names = [c.name for c in protocol.analysis_plan.covariates]
    extra = [
        n for n in ("bmi_kg_m2", "afc", "fsh_iu_l", "consecutive_failed_transfers") if n in fas
    ]
    rows = []
    for name in dict.fromkeys([*names, *extra]):
        row: dict[str, object] = {"characteristic": name}
        for arm in (treated, control):
            row[arm] = _describe(fas.loc[fas["arm"] == arm, name])
        rows.append(row)
    return pd.DataFrame(rows)


def _describe(values: pd.Series) -> str:
    missing = int(values.isna().sum())
    present = values.dropna()
    suffix = f" [{missing} missing]" if missing else ""
    if str(values.dtype) == "boolean":
        return f"{int(present.sum())}/{len(present)} ({100 * present.mean():.0f}%){suffix}"
    numbers = pd.to_numeric(present, errors="coerce").astype(float)
    if numbers.empty:
        return f"–{suffix}"
    return f"{numbers.mean():.1f} ({numbers.std():.1f}){suffix}"


def _design_notes(fas: pd.DataFrame, treated: str, control: str, alpha: float) -> list[str]:
    """What 30 against 30 can and cannot show, from the actual group sizes."""
    _e_t, n_t = _counts(fas, "primary_outcome", treated)
    events_c, n_c = _counts(fas, "primary_outcome", control)
    n = min(n_t, n_c)
    if n < 2:
        return []
    p_control = max(events_c / n_c, 0.01)
    detectable = power.detectable_p2(n=n, p1=p_control, power=0.8, alpha=alpha)
    exact = power.exact_power(p1=p_control, p2=detectable, n1=n, alpha=alpha, test="fisher")
    return [
        f"With {n_t} and {n_c} women, and {p_control:.0%} clinical pregnancies in the control "
        f"arm, a difference has 80% power (normal approximation, two-sided α = {alpha:g}) only "
        f"if the stem-cell arm reaches {detectable:.0%}, a difference of "
        f"{100 * (detectable - p_control):.0f} percentage points; Fisher's exact test has "
        f"{exact.estimate or 0:.0%} power for it.",
        "A smaller true effect will usually give an interval that includes 0: such a result "
        "does not show that the treatments are equivalent. The estimate and its interval, "
        "not the p-value, are what this trial can report.",
        "Allocation was not random: the unadjusted comparison may be confounded; the "
        "adjusted estimates correct only for the covariates the plan names.",
    ]
