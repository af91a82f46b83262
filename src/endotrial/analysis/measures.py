"""Outcome measures by arm: what `endotrial report` shows for a protocol's `outcome_measures`.

The analysis dataset's `participants` table has one column per outcome measure (named by
`measure_column`): her value at the event, her change from baseline, or whether the threshold
is met. Per measure and arm:

- a number (a value or a change): n, mean and SD;
- a yes/no (a threshold, or a boolean item's value): n meeting it of N with a value, the
  proportion and its Wilson interval;
- a category item's value: the count of each of its values;
- a change from baseline: the paired analysis of `analysis.paired` (paired t; Wilcoxon with
  Hodges-Lehmann) on her values at the baseline event and at the event, read from the
  `measurements` table, within each arm with at least 2 complete pairs.

Missing values are left out and counted (`missing`): the denominators are those with a value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from scipy import stats

from endotrial.analysis.paired import paired_change
from endotrial.analysis.results import AnalysisResult
from endotrial.errors import InputError
from endotrial.protocol.models import (
    DataItem,
    ItemType,
    MeasureDerivation,
    OutcomeMeasure,
    Protocol,
)

#: The participants table's columns a measure column may not take (`measure_<id>` then).
RESERVED_PREFIX = "measure_"


def measure_column(measure_id: str, taken: frozenset[str] | set[str] = frozenset()) -> str:
    """The participants table's column of a measure: its id, or `measure_<id>` when the
    table already has a column of that name (a fixed column or a screening item)."""
    return f"{RESERVED_PREFIX}{measure_id}" if measure_id in taken else measure_id


@dataclass(frozen=True)
class ArmMeasure:
    """One measure in one arm."""

    arm: str
    n: int
    """Participants with a value."""
    missing: int
    """Participants of the arm without one."""
    mean: float | None = None
    sd: float | None = None
    met: int | None = None
    """A yes/no measure: how many meet it (of `n`)."""
    proportion: float | None = None
    low: float | None = None
    high: float | None = None
    """The proportion's Wilson interval."""
    counts: tuple[tuple[str, int], ...] = ()
    """A category measure: the count of each value, in the item's order."""
    paired: tuple[AnalysisResult, ...] = ()
    """A change from baseline: the paired t and Wilcoxon analyses within the arm."""


@dataclass(frozen=True)
class MeasureSummary:
    """One outcome measure summarised by arm."""

    measure_id: str
    label: str
    column: str
    summary: str
    """'number', 'proportion' or 'counts'."""
    unit: str | None
    arms: tuple[ArmMeasure, ...]
    notes: tuple[str, ...] = ()


def summarise_measures(
    protocol: Protocol,
    participants: pd.DataFrame,
    measurements: pd.DataFrame | None = None,
    *,
    confidence: float = 0.95,
) -> tuple[MeasureSummary, ...]:
    """Every outcome measure of the protocol, by arm (see the module); a protocol without
    outcome measures has none. `measurements` (the dataset's table) is needed for the paired
    analysis of a change from baseline; without it that analysis is left out."""
    items = {item.name: item for item in protocol.data_items}
    taken = set(participants.columns)
    summaries = []
    for measure in protocol.outcome_measures:
        column = _column(measure.id, taken)
        item = items[measure.item]
        summaries.append(_summarise(measure, item, column, participants, measurements, confidence))
    return tuple(summaries)


def _column(measure_id: str, columns: set[str]) -> str:
    """The measure's column as the build named it (its id, else `measure_<id>`)."""
    if measure_id in columns and f"{RESERVED_PREFIX}{measure_id}" not in columns:
        return measure_id
    prefixed = f"{RESERVED_PREFIX}{measure_id}"
    if prefixed in columns:
        return prefixed
    raise InputError(
        f"the participants table has no column for outcome measure '{measure_id}': build the "
        "dataset with the protocol that declares it"
    )


def _kind(measure: OutcomeMeasure, item: DataItem) -> str:
    if measure.derivation == MeasureDerivation.meets_threshold or item.type == ItemType.boolean:
        return "proportion"
    if measure.derivation == MeasureDerivation.value and item.type == ItemType.category:
        return "counts"
    return "number"


def _summarise(
    measure: OutcomeMeasure,
    item: DataItem,
    column: str,
    participants: pd.DataFrame,
    measurements: pd.DataFrame | None,
    confidence: float,
) -> MeasureSummary:
    kind = _kind(measure, item)
    arms = []
    notes: list[str] = []
    for arm, rows in participants.groupby("arm", sort=True, dropna=True):
        values = rows[column]
        present = values.dropna()
        missing = len(values) - len(present)
        if kind == "number":
            summary = _numbers(str(arm), present, missing)
            if measure.derivation == MeasureDerivation.change_from_baseline:
                paired, note = _paired(measure, str(arm), rows, measurements, confidence)
                summary = _with_paired(summary, paired)
                notes += note
        elif kind == "proportion":
            summary = _proportion(str(arm), present, missing, confidence)
        else:
            summary = _counts(str(arm), present, missing, item.values or [])
        arms.append(summary)
    unit = None if kind == "proportion" else item.unit
    return MeasureSummary(measure.id, measure.label, column, kind, unit, tuple(arms), tuple(notes))


def _numbers(arm: str, present: pd.Series, missing: int) -> ArmMeasure:
    numbers = pd.to_numeric(present).astype(float)
    n = len(numbers)
    mean = float(numbers.mean()) if n else None
    sd = float(numbers.std(ddof=1)) if n >= 2 else None
    return ArmMeasure(arm, n, missing, mean=mean, sd=sd)


def _proportion(arm: str, present: pd.Series, missing: int, confidence: float) -> ArmMeasure:
    n = len(present)
    met = int(present.astype(bool).sum())
    if n == 0:
        return ArmMeasure(arm, 0, missing, met=0)
    low, high = _wilson(met, n, confidence)
    return ArmMeasure(arm, n, missing, met=met, proportion=met / n, low=low, high=high)


def _wilson(events: int, total: int, confidence: float) -> tuple[float, float]:
    """Wilson's score interval (Newcombe 1998, method 3)."""
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = events / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def _counts(arm: str, present: pd.Series, missing: int, values: Sequence[str]) -> ArmMeasure:
    counted = present.astype(str).value_counts()
    counts = tuple((value, int(counted.get(value, 0))) for value in values)
    return ArmMeasure(arm, len(present), missing, counts=counts)


def _paired(
    measure: OutcomeMeasure,
    arm: str,
    rows: pd.DataFrame,
    measurements: pd.DataFrame | None,
    confidence: float,
) -> tuple[tuple[AnalysisResult, ...], list[str]]:
    """Her value at the baseline event and at the event, paired within the arm."""
    if measurements is None or measurements.empty:
        return (), []
    mine = measurements[
        measurements["participant_id"].isin(rows["participant_id"])
        & (measurements["measurement"] == measure.item)
    ]
    before = _at(mine, measure.baseline_event or "")
    after = _at(mine, measure.event)
    pairs = pd.concat([before.rename("before"), after.rename("after")], axis=1).dropna()
    if len(pairs) < 2:
        return (), [f"{measure.id}, arm {arm}: fewer than 2 complete pairs, no paired analysis"]
    what = f"{measure.item} ({measure.baseline_event} → {measure.event}), arm {arm}"
    results = paired_change(pairs["before"], pairs["after"], confidence=confidence, what=what)
    return tuple(results), []


def _at(measurements: pd.DataFrame, event: str) -> pd.Series:
    """Each participant's value at `event` (the last when several)."""
    rows = measurements[measurements["scheduled_event"] == event]
    return rows.groupby("participant_id")["value"].last()


def _with_paired(summary: ArmMeasure, paired: tuple[AnalysisResult, ...]) -> ArmMeasure:
    return ArmMeasure(
        summary.arm, summary.n, summary.missing, mean=summary.mean, sd=summary.sd, paired=paired
    )


def summary_frame(summaries: Sequence[MeasureSummary]) -> pd.DataFrame:
    """The summaries as one tidy table (a row per measure and arm), for a report or a CSV:
    n and missing; mean and SD of a number; n meeting it, proportion and interval of a yes/no;
    'value: count' of a category; the paired t estimate, interval and p of a change."""
    rows = []
    for summary in summaries:
        for arm in summary.arms:
            paired = arm.paired[0] if arm.paired else None
            rows.append(
                {
                    "measure": summary.measure_id,
                    "label": summary.label,
                    "summary": summary.summary,
                    "unit": summary.unit or "",
                    "arm": arm.arm,
                    "n": arm.n,
                    "missing": arm.missing,
                    "mean": arm.mean,
                    "sd": arm.sd,
                    "met": arm.met,
                    "proportion": arm.proportion,
                    "low": arm.low,
                    "high": arm.high,
                    "counts": ", ".join(f"{value}: {n}" for value, n in arm.counts),
                    "paired_mean_change": paired.estimate if paired else None,
                    "paired_low": paired.low if paired else None,
                    "paired_high": paired.high if paired else None,
                    "paired_p": paired.p_value if paired else None,
                }
            )
    return pd.DataFrame(rows, columns=_FRAME_COLUMNS)


_FRAME_COLUMNS = [
    "measure", "label", "summary", "unit", "arm", "n", "missing", "mean", "sd", "met",
    "proportion", "low", "high", "counts", "paired_mean_change", "paired_low", "paired_high",
    "paired_p",
]  # fmt: skip
