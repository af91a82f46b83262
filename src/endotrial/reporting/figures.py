"""The report's figures, drawn with matplotlib (object API, no global state) as PNG bytes.

- `flow_diagram`: the TREND participant flow, boxes and arrows;
- `rates_plot`: per-arm rates with Wilson and Clopper-Pearson intervals;
- `thickness_plot`: endometrial thickness at each scheduled scan, mean and 95 % t interval;
- `forest_plot`: the risk-difference estimates (unadjusted, adjusted, sensitivity).

Each takes `t`, the report's language: its texts, and its font (Chinese needs a CJK font,
Noto Sans CJK SC from Debian's fonts-noto-cjk; without it the figures would show empty boxes,
so `check_font` refuses instead).
"""

from __future__ import annotations

import contextlib
import functools
import io
import textwrap
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import font_manager, rc_context
from matplotlib.figure import Figure
from scipy import stats

from endotrial.analysis.flow import Flow
from endotrial.analysis.results import AnalysisResult
from endotrial.errors import InputError
from endotrial.reporting.i18n import ENGLISH, Translator

_DPI = 200
_BOX = {"boxstyle": "square,pad=0.5", "facecolor": "white", "edgecolor": "#333333"}
_ARM_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52")


#: The figures' font per language, first choice first (matplotlib falls back glyph by glyph).
FONTS: dict[str, tuple[str, ...]] = {
    "en": ("DejaVu Sans",),
    "zh": ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "DejaVu Sans"),
}


@functools.cache
def check_font(language: str) -> str:
    """The font the figures of `language` are drawn with; an InputError if none is installed
    (Chinese text in a font without its glyphs would print as empty boxes)."""
    wanted = FONTS.get(language, FONTS["en"])
    if language == "en":
        return wanted[0]
    found = _installed(wanted[:-1])
    if found is None:
        # matplotlib's font list is cached on first use: a font installed later is added here.
        for path in font_manager.findSystemFonts():
            if "CJK" in path or "SourceHanSans" in path:
                font_manager.fontManager.addfont(path)
        found = _installed(wanted[:-1])
    if found is None:
        raise InputError(
            f"the {language} report's figures need a Chinese font ({', '.join(wanted[:-1])}) "
            "and none is installed: install Debian's fonts-noto-cjk (apt-get install "
            "fonts-noto-cjk), or write the report in English (--lang en)"
        )
    return found


def _installed(families: Sequence[str]) -> str | None:
    for family in families:
        try:
            font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        except ValueError:
            continue
        return family
    return None


@contextlib.contextmanager
def _fonts(t: Translator) -> Iterator[None]:
    """Draw (and save) a figure in the fonts of `t`'s language."""
    first = check_font(t.language)
    families = [first, *(f for f in FONTS[t.language] if f != first)]
    with rc_context({"font.family": "sans-serif", "font.sans-serif": families}):
        yield


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
    flow: Flow,
    *,
    labels: Mapping[str, str] | None = None,
    max_reasons: int = 6,
    t: Translator = ENGLISH,
) -> bytes:
    """The TREND flow diagram: enrolment, allocation, follow-up and analysis per arm
    (`labels`: arm id → the name shown)."""
    with _fonts(t):
        return _png(_flow_figure(flow, labels or {}, max_reasons, t))


def _flow_figure(flow: Flow, names: Mapping[str, str], max_reasons: int, t: Translator) -> Figure:
    figure = Figure(figsize=(7.5, 8.0 * (_HIGH - _LOW)))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    _box(figure, 0.30, 0.95, t("Assessed for eligibility (n = {n})", n=flow.assessed))
    _box(figure, 0.47, 0.80, _excluded_text(flow, max_reasons, t), ha="left")
    _arrow(figure, (0.30, 0.93), (0.30, 0.68))
    _arrow(figure, (0.30, 0.80), (0.455, 0.80))
    _box(figure, 0.30, 0.66, t("Enrolled (n = {n})", n=flow.enrolled))
    centres = [0.27, 0.73] if len(flow.arms) == 2 else np.linspace(0.2, 0.8, len(flow.arms))
    for centre, arm in zip(centres, flow.arms, strict=True):
        x = float(centre)
        name = names.get(arm.arm, arm.arm)
        _arrow(figure, (0.30, 0.645), (x, 0.585))
        allocated = t(
            "Allocated to {arm}\n(n = {allocated})\nReceived the allocated intervention\n"
            "(n = {received})\nDid not receive it (n = {not_received})",
            arm=name, allocated=arm.allocated, received=arm.received,
            not_received=arm.not_received,
        )  # fmt: skip
        _box(figure, x, 0.52, allocated)
        _arrow(figure, (x, 0.455), (x, 0.405))
        lost = t("Lost to follow-up (n = {n})", n=arm.lost) + "".join(
            "\n  "
            + t(
                "withdrawn: {reason} (n = {n})",
                reason=textwrap.shorten(reason, 30, placeholder="…"),
                n=n,
            )
            for reason, n in arm.lost_reasons.items()
        )
        _box(figure, x, 0.36, lost)
        _arrow(figure, (x, 0.315), (x, 0.255))
        analysed = t(
            "Analysed: full analysis set (n = {analysed})\nExcluded from analysis "
            "(n = {not_analysed})\nPer-protocol set (n = {per_protocol})",
            analysed=arm.analysed, not_analysed=arm.not_analysed, per_protocol=arm.per_protocol,
        )  # fmt: skip
        _box(figure, x, 0.21, analysed)
    for y, stage in (
        (0.88, t("Enrolment")),
        (0.52, t("Allocation")),
        (0.36, t("Follow-up")),
        (0.21, t("Analysis")),
    ):
        if t.english:
            figure.text(0.02, _y(y), stage, rotation=90, va="center", fontsize=8, weight="bold")
        else:  # Chinese reads top to bottom, one character under the other, not turned
            figure.text(0.02, _y(y), "\n".join(stage), va="center", fontsize=8, weight="bold")
    return figure


def _excluded_text(flow: Flow, max_reasons: int, t: Translator) -> str:
    reasons = list(flow.exclusion_reasons.items())
    shown = [
        f"    {textwrap.shorten(reason, 46, placeholder='…')} (n = {n})"
        for reason, n in reasons[:max_reasons]
    ]
    if len(reasons) > max_reasons:
        shown.append("    " + t(
            "{count} other criteria (n = {n})",
            count=len(reasons) - max_reasons, n=sum(n for _r, n in reasons[max_reasons:]),
        ))  # fmt: skip
    return "\n".join(
        [
            t("Excluded (n = {n})", n=flow.excluded),
            "  " + t("Not eligible (n = {n}); criteria not met*:", n=flow.not_eligible),
            *shown,
            "  " + t("Screening incomplete (n = {n})", n=flow.incomplete),
            "  " + t("Eligible, not enrolled (n = {n})", n=flow.eligible_not_enrolled),
            t("* a woman may fail several criteria"),
        ]
    )


def rates_plot(rates: pd.DataFrame, *, arms: Mapping[str, str], t: Translator = ENGLISH) -> bytes:
    """Rates per outcome and arm (`arms`: id → name, in the order shown): columns outcome, arm,
    estimate, wilson_low, wilson_high, cp_low, cp_high (proportions)."""
    with _fonts(t):
        return _png(_rates_figure(rates, arms, t))


def _rates_figure(rates: pd.DataFrame, arms: Mapping[str, str], t: Translator) -> Figure:
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
            labels.append(
                t(
                    "{outcome}, {arm} ({events}/{total})",
                    outcome=t.text(outcome),
                    arm=arms[arm],
                    events=row["events"],
                    total=row["total"],
                )
            )
            y += 1
        y += 0.6
    axes.set_yticks(ticks, labels, fontsize=8)
    axes.set_xlim(0, 100)
    axes.set_xlabel(t("% (solid: Wilson 95% interval; dotted: Clopper-Pearson)"), fontsize=8)
    axes.grid(axis="x", color="#dddddd")
    figure.tight_layout()
    return figure


def _colour(order: Sequence[str], arm: str) -> str:
    return _ARM_COLOURS[order.index(arm) % len(_ARM_COLOURS)] if arm in order else "#777777"


def thickness_plot(
    measurements: pd.DataFrame,
    events: Sequence[tuple[str, str]],
    *,
    arms: Mapping[str, str],
    t: Translator = ENGLISH,
) -> bytes:
    """Mean thickness (95 % t interval) at each scheduled scan (event id, label), per arm."""
    with _fonts(t):
        return _png(_thickness_figure(measurements, events, arms, t))


def _thickness_figure(
    measurements: pd.DataFrame,
    events: Sequence[tuple[str, str]],
    arms: Mapping[str, str],
    t: Translator,
) -> Figure:
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
    axes.set_xticks(positions, [_wrapped(label) for _e, label in events], fontsize=8)
    axes.set_ylabel(t("Endometrial thickness (mm)"))
    axes.legend(fontsize=8)
    axes.grid(axis="y", color="#dddddd")
    figure.tight_layout()
    return figure


def _wrapped(label: str) -> str:
    """A tick label on lines of about 30 Latin letters (a Chinese character is two wide)."""
    return textwrap.fill(label, 30 if label.isascii() else 24)


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


def forest_plot(results: Sequence[tuple[str, AnalysisResult]], *, t: Translator = ENGLISH) -> bytes:
    """Risk differences (×100, percentage points) with their intervals, one row per (label,
    result); the labels in `t`'s language."""
    with _fonts(t):
        return _png(_forest_figure(results, t))


def _forest_figure(results: Sequence[tuple[str, AnalysisResult]], t: Translator) -> Figure:
    figure = Figure(figsize=(7.0, 0.8 + 0.42 * len(results)))
    axes = figure.add_subplot()
    for row, (_label, result) in enumerate(reversed(results)):
        if result.estimate is None:
            continue
        low = (result.low if result.low is not None else np.nan) * 100
        high = (result.high if result.high is not None else np.nan) * 100
        axes.plot([low, high], [row, row], color="#333333", lw=1.5)
        axes.plot([result.estimate * 100], [row], "s", color="#333333", ms=5)
    labels = [t.text(label) for label, _r in reversed(results)]
    axes.set_yticks(range(len(results)), labels, fontsize=8)
    axes.axvline(0, color="#999999", lw=0.8, ls="--")
    axes.set_xlabel(t("Risk difference, stem cell − control (percentage points), 95% interval"))
    axes.grid(axis="x", color="#eeeeee")
    figure.tight_layout()
    return figure
