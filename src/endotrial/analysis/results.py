"""One frozen result object per analysis, shared by the API, the report and the printout.

Modelled on lifelines' `StatisticalResult`: a plain value that says what was estimated, by
which method, with its interval, level, p-value where there is one, the number of units it
rests on, and notes (corrections applied, assumptions, why a value is missing). It carries no
behaviour beyond rendering itself, so every analysis returns the same shape.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

#: Columns of `results_frame`, in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "quantity",
    "method",
    "estimate",
    "low",
    "high",
    "confidence",
    "p_value",
    "statistic",
    "n",
    "notes",
)


@dataclass(frozen=True)
class AnalysisResult:
    """An estimate (or a test) with its interval and provenance.

    `estimate`, `low` and `high` may be infinite (an odds ratio with a zero cell, a one-sided
    bound) or NaN (not estimable); `to_dict` turns both into JSON null and says so in `notes`.
    `confidence` is the nominal level of [low, high] (0.95), None when there is no interval.
    """

    quantity: str
    method: str
    estimate: float | None
    low: float | None = None
    high: float | None = None
    confidence: float | None = None
    p_value: float | None = None
    statistic: float | None = None
    n: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def with_note(self, note: str) -> AnalysisResult:
        """A copy with one more note (results are frozen)."""
        return AnalysisResult(
            quantity=self.quantity,
            method=self.method,
            estimate=self.estimate,
            low=self.low,
            high=self.high,
            confidence=self.confidence,
            p_value=self.p_value,
            statistic=self.statistic,
            n=self.n,
            notes=(*self.notes, note),
        )

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able values: non-finite numbers become None (JSON has no Infinity)."""
        return {
            "quantity": self.quantity,
            "method": self.method,
            "estimate": _finite_or_none(self.estimate),
            "low": _finite_or_none(self.low),
            "high": _finite_or_none(self.high),
            "confidence": self.confidence,
            "p_value": _finite_or_none(self.p_value),
            "statistic": _finite_or_none(self.statistic),
            "n": self.n,
            "notes": list(self.notes) + _non_finite_notes(self),
        }

    def summary(self, digits: int = 4) -> str:
        """One line for a terminal: quantity, estimate (level CI low to high), p, method."""
        text = f"{self.quantity}:"
        if self.estimate is not None:
            text += f" {_fmt(self.estimate, digits)}"
        if self.confidence is not None:
            level = f"{self.confidence * 100:g}%"
            text += f" ({level} CI {_fmt(self.low, digits)} to {_fmt(self.high, digits)})"
        if self.p_value is not None:
            separator = "," if self.estimate is not None else ""
            text += f"{separator} p = {format_p_value(self.p_value)}"
        text += f" [{self.method}]"
        return text


def results_frame(results: Iterable[AnalysisResult]) -> pd.DataFrame:
    """A table of results (one row each, columns RESULT_COLUMNS) for reports and CSV."""
    rows = []
    for result in results:
        row = {name: getattr(result, name) for name in RESULT_COLUMNS}
        row["notes"] = "; ".join(result.notes)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def results_json(results: Sequence[AnalysisResult], indent: int | None = 2) -> str:
    """Strict JSON (no NaN or Infinity tokens) for a list of results."""
    return json.dumps([r.to_dict() for r in results], indent=indent, allow_nan=False)


def format_p_value(p_value: float) -> str:
    """p-values as a statistician writes them: 3 significant digits, '< 0.0001' below."""
    if math.isnan(p_value):
        return "NA"
    if p_value < 1e-4:
        return "< 0.0001"
    return f"{p_value:.3g}"


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _non_finite_notes(result: AnalysisResult) -> list[str]:
    notes = []
    for name in ("estimate", "low", "high", "p_value", "statistic"):
        value = getattr(result, name)
        if value is not None and not math.isfinite(value):
            meaning = "not estimable" if math.isnan(value) else f"{value:+}".replace("inf", "∞")
            notes.append(f"{name} is {meaning} (null in JSON)")
    return notes


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "NA"
    if math.isnan(value):
        return "NA"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.{digits}f}"
