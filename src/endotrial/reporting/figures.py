"""The report's figures, drawn with matplotlib (object API, no global state) as PNG bytes.

- `flow_diagram`: the TREND participant flow, boxes and arrows;
- `rates_plot`: per-arm rates with Wilson and Clopper-Pearson intervals;
- `thickness_plot`: endometrial thickness at each scheduled scan, mean and 95 % t interval;
- `forest_plot`: the risk-difference estimates (unadjusted, adjusted, sensitivity).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from endotrial.analysis.flow import Flow
from endotrial.analysis.results import AnalysisResult

_DPI = 200
_BOX = {"boxstyle": "square,pad=0.5", "facecolor": "white", "edgecolor": "#333333"}
_ARM_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No metadata: the same data give the same bytes (a reproducible report).
    figure.savefig(
        buffer, format="png", dpi=_DPI, metadata={"Software": None}, bbox_inches="tight",
        facecolor="white",
    )  # fmt: skip
    return buffer.getvalue()


#: The flow diagram is laid out on heights 0.13 to 0.99; this maps them onto the whole figure
#: (matplotlib's tight crop keeps the full axes, so the layout itself must fill it).
_LOW, _HIGH = 0.13, 0.99


def _y(y: float) -> float:
    return (y - _LOW) / (_HIGH - _LOW)


def _box(figure: Figure, x: float, y: float, text: str, *, ha: str = "center") -> None:
    figure.text(x, _y(y), text, ha=ha, va="center", multialignment="left", fontsize=7.5, bbox=_BOX)


def _arrow(figure: Figure, start: tuple[float, float], end: tuple[float, float]) -> None:
    figure.axes[0].annotate(
        "",
        xy=(end[0], _y(end[1])),
        xytext=(start[0], _y(start[1])),
        xycoords="figure fraction",
        arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 0.8},
    )


def flow_diagram(
    flow: Flow, *, labels: Mapping[str, str] | None = None, max_reasons: int = 6
) -> bytes:
    """The TREND flow diagram: enrolment, allocation, follow-up and analysis per arm
    (`labels`: arm id → the name shown)."""
    names = labels or {}
    figure = Figure(figsize=(7.5, 8.0 * (_HIGH - _LOW)))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    _box(figure, 0.30, 0.95, f"Assessed for eligibility (n = {flow.assessed})")
    _box(figure, 0.47, 0.80, _excluded_text(flow, max_reasons), ha="left")
    _arrow(figure, (0.30, 0.93), (0.30, 0.68))
    _arrow(figure, (0.30, 0.80), (0.455, 0.80))
    _box(figure, 0.30, 0.66, f"Enrolled (n = {flow.enrolled})")
    centres = [0.27, 0.73] if len(flow.arms) == 2 else np.linspace(0.2, 0.8, len(flow.arms))
    for centre, arm in zip(centres, flow.arms, strict=True):
        x = float(centre)
        name = names.get(arm.arm, arm.arm)
        _arrow(figure, (0.30, 0.645), (x, 0.585))
        allocated = (
            f"Allocated to {name}\n(n = {arm.allocated})\n"
            f"Received the allocated intervention\n(n = {arm.received})\n"
            f"Did not receive it (n = {arm.not_received})"
        )
        _box(figure, x, 0.52, allocated)
        _arrow(figure, (x, 0.455), (x, 0.405))
        lost = f"Lost to follow-up (n = {arm.lost})" + "".join(
            f"\n  withdrawn: {textwrap.shorten(reason, 30, placeholder='…')} (n = {n})"
            for reason, n in arm.lost_reasons.items()
        )
        _box(figure, x, 0.36, lost)
        _arrow(figure, (x, 0.315), (x, 0.255))
        analysed = (
            f"Analysed: full analysis set (n = {arm.analysed})\n"
            f"Excluded from analysis (n = {arm.not_analysed})\n"
            f"Per-protocol set (n = {arm.per_protocol})"
        )
        _box(figure, x, 0.21, analysed)
    for y, stage in (
        (0.88, "Enrolment"),
        (0.52, "Allocation"),
        (0.36, "Follow-up"),
        (0.21, "Analysis"),
    ):
        figure.text(0.02, _y(y), stage, rotation=90, va="center", fontsize=8, weight="bold")
    return _png(figure)


def _excluded_text(flow: Flow, max_reasons: int) -> str:
    reasons = list(flow.exclusion_reasons.items())
    shown = [
        f"    {textwrap.shorten(reason, 46, placeholder='…')} (n = {n})"
        for reason, n in reasons[:max_reasons]
    ]
    if len(reasons) > max_reasons:
        shown.append(f"    {len(reasons) - max_reasons} other criteria (n = "
                     f"{sum(n for _r, n in reasons[max_reasons:])})")  # fmt: skip
    return "\n".join(
        [
            f"Excluded (n = {flow.excluded})",
            f"  Not eligible (n = {flow.not_eligible}); criteria not met*:",
            *shown,
            f"  Screening incomplete (n = {flow.incomplete})",
            f"  Eligible, not enrolled (n = {flow.eligible_not_enrolled})",
            "* a woman may fail several criteria",
        ]
    )


def rates_plot(rates: pd.DataFrame, *, arms: Mapping[str, str]) -> bytes:
    """Rates per outcome and arm (`arms`: id → name, in the order shown): columns outcome, arm,
    estimate, wilson_low, wilson_high, cp_low, cp_high (proportions)."""
    outcomes = list(dict.fromkeys(rates["outcome"]))
    order = list(arms)
    figure = Figure(figsize=(7.0, 0.8 + 0.5 * len(outcomes) * len(order)))
    axes = figure.add_subplot()
    y = 0.0
    ticks, labels = [], []
    for outcome in reversed(outcomes):
        for arm in reversed(order):
            found = rates[(rates["outcome"] == outcome) & (rates["arm"] == arm)]
            if found.empty:
                continue
            row = found.iloc[0]
            colour = _colour(order, arm)
            axes.plot([row["cp_low"] * 100, row["cp_high"] * 100], [y - 0.15] * 2,
                      color=colour, lw=1, ls=":")  # fmt: skip
            axes.plot([row["wilson_low"] * 100, row["wilson_high"] * 100], [y + 0.1] * 2,
                      color=colour, lw=2)  # fmt: skip
            axes.plot([row["estimate"] * 100], [y + 0.1], "o", color=colour, ms=5)
            ticks.append(y)
            labels.append(f"{outcome}, {arms[arm]} ({row['events']}/{row['total']})")
            y += 1
        y += 0.6
    axes.set_yticks(ticks, labels, fontsize=8)
    axes.set_xlim(0, 100)
    axes.set_xlabel("% (solid: Wilson 95% interval; dotted: Clopper-Pearson)", fontsize=8)
    axes.grid(axis="x", color="#dddddd")
    figure.tight_layout()
    return _png(figure)


def _colour(order: Sequence[str], arm: str) -> str:
    return _ARM_COLOURS[order.index(arm) % len(_ARM_COLOURS)] if arm in order else "#777777"


def thickness_plot(
    measurements: pd.DataFrame, events: Sequence[tuple[str, str]], *, arms: Mapping[str, str]
) -> bytes:
    """Mean thickness (95 % t interval) at each scheduled scan (event id, label), per arm."""
    scans = measurements[measurements["measurement"] == "thickness_mm"]
    order = list(arms)
    figure = Figure(figsize=(7.0, 3.4))
    axes = figure.add_subplot()
    positions = np.arange(len(events), dtype=float)
    for index, arm in enumerate(order):
        summaries = [_visit_summary(scans, arm, event_id) for event_id, _label in events]
        means = [m for m, _l, _h, _n in summaries]
        offset = (index - (len(order) - 1) / 2) * 0.08
        axes.errorbar(
            positions + offset, means,
            yerr=[[m - low for m, low, _h, _n in summaries], [h - m for m, _l, h, _n in summaries]],
            marker="o", capsize=3, label=arms[arm], color=_colour(order, arm),
        )  # fmt: skip
        for x, (_mean, _low, high, n) in zip(positions + offset, summaries, strict=True):
            if n:
                axes.annotate(f"n={n}", (x, high), textcoords="offset points", xytext=(0, 4),
                              ha="center", fontsize=6, color=_colour(order, arm))  # fmt: skip
    axes.set_xticks(positions, [textwrap.fill(label, 30) for _e, label in events], fontsize=8)
    axes.set_ylabel("Endometrial thickness (mm)")
    axes.legend(fontsize=8)
    axes.grid(axis="y", color="#dddddd")
    figure.tight_layout()
    return _png(figure)


def _visit_summary(scans: pd.DataFrame, arm: str, event_id: str) -> tuple[float, float, float, int]:
    """Mean, 95 % t interval and n of one visit: each woman's last scan of that visit."""
    values = (
        scans[(scans["arm"] == arm) & (scans["scheduled_event"] == event_id)]
        .sort_values("measured_on")
        .groupby("participant_id")["value"]
        .last()
        .to_numpy(dtype=float)
    )
    mean, low, high = mean_interval(values)
    return mean, low, high, len(values)


def mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and its two-sided 95 % Student t interval (NaN when empty)."""
    if len(values) == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(np.mean(values))
    if len(values) < 2:
        return (mean, mean, mean)
    half = float(stats.t.ppf(0.975, len(values) - 1) * stats.sem(values))
    return (mean, mean - half, mean + half)


def forest_plot(
    results: Sequence[tuple[str, AnalysisResult]], *, unit: str = "percentage points"
) -> bytes:
    """Risk differences (×100) with their intervals, one row per (label, result)."""
    figure = Figure(figsize=(7.0, 0.8 + 0.42 * len(results)))
    axes = figure.add_subplot()
    for row, (_label, result) in enumerate(reversed(results)):
        if result.estimate is None:
            continue
        low = (result.low if result.low is not None else np.nan) * 100
        high = (result.high if result.high is not None else np.nan) * 100
        axes.plot([low, high], [row, row], color="#333333", lw=1.5)
        axes.plot([result.estimate * 100], [row], "s", color="#333333", ms=5)
    axes.set_yticks(range(len(results)), [label for label, _r in reversed(results)], fontsize=8)
    axes.axvline(0, color="#999999", lw=0.8, ls="--")
    axes.set_xlabel(f"Risk difference, stem cell − control ({unit}), 95% interval")
    axes.grid(axis="x", color="#eeeeee")
    figure.tight_layout()
    return _png(figure)
