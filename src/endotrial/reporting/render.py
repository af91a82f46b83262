"""The report as files: a self-contained HTML page, the same page as PDF, and CSVs.

`write_report(analysis, folder)` writes `report.html` (figures embedded as PNG data), then
`report.pdf` from that HTML with WeasyPrint, and `csv/` with every table, every result and the
analysis dataset with its column dictionary. The report leads with the estimates and their
intervals, says what the trial's size can and cannot show, and ends with what makes it
reproducible (protocol hash, dataset row counts, seeds, software versions).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

from endotrial.analysis.dataset import column_dictionary
from endotrial.analysis.measures import ArmMeasure, MeasureSummary, summary_frame
from endotrial.analysis.results import AnalysisResult, format_p_value, results_frame
from endotrial.errors import InputError
from endotrial.reporting import figures
from endotrial.reporting.compute import FISHER, G_COMPUTATION, RD_NEWCOMBE, Analysis, Section
from endotrial.reporting.i18n import ENGLISH, N_, Translator

#: Relatedness as printed.
_RELATEDNESS_SHOWN = {"not_related": "not related"}
#: An outcome measure's derivation as printed.
DERIVATIONS = {
    "value": N_("value at the event"),
    "change_from_baseline": N_("change from baseline"),
    "meets_threshold": N_("meets the threshold"),
}
#: Libraries whose versions the report records.
VERSIONED = ("endotrial", "numpy", "scipy", "statsmodels", "pandas", "matplotlib", "weasyprint")

#: The text font of each language, with fallbacks (zh: Debian's fonts-noto-cjk).
FONTS = {
    "en": '"DejaVu Sans", Arial, sans-serif',
    "zh": '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", '
    '"DejaVu Sans", sans-serif',
}

CSS = """
@page { size: A4; margin: 18mm 16mm 20mm 16mm;
  @bottom-left { content: string(trial); font-family: FONT;
    font-size: 7.5pt; color: #555; }
  @bottom-right { content: PAGE_OF;
    font-family: FONT; font-size: 7.5pt; color: #555; } }
body { font-family: FONT; font-size: 9pt; line-height: 1.35;
  color: #111; }
h1 { font-size: 15pt; margin: 0 0 2mm 0; string-set: trial content(); }
h2 { font-size: 12pt; margin: 6mm 0 2mm 0; border-bottom: 1px solid #999;
  break-after: avoid; }
h3 { font-size: 10pt; margin: 4mm 0 1.5mm 0; break-after: avoid; }
p, li { margin: 0 0 1.5mm 0; }
table { border-collapse: collapse; margin: 1mm 0 3mm 0; width: 100%; break-inside: auto; }
th, td { border-bottom: 0.5px solid #bbb; padding: 1px 4px; text-align: left;
  vertical-align: top; font-size: 8pt; }
th { background: #eee; }
td.num { text-align: right; white-space: nowrap; }
tr { break-inside: avoid; }
.banner { background: #fff3cd; border: 1px solid #c9a400; padding: 2mm; font-weight: bold; }
.key { border: 1px solid #333; padding: 2mm 3mm; background: #f7f7f7; }
.note { color: #444; font-size: 8pt; }
figure { margin: 2mm 0 4mm 0; break-inside: avoid; }
figure img { width: 100%; }
figure.flow img { width: 88%; }
figcaption { font-size: 8pt; color: #333; }
.mono { font-family: "DejaVu Sans Mono", FONT; font-size: 7.5pt; word-break: break-all; }
"""


def _css(t: Translator) -> str:
    """The style sheet in `t`'s language: its font, and its page footer ("page 2 of 7")."""
    pieces = re.split(r"\{(page|pages)\}", t("page {page} of {pages}"))
    page_of = " ".join(
        (f"counter({piece})" if index % 2 else json.dumps(piece, ensure_ascii=False))
        for index, piece in enumerate(pieces)
        if piece
    )
    return CSS.replace("FONT", FONTS[t.language]).replace("PAGE_OF", page_of)


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path | None
    csv_folder: Path


def write_report(
    analysis: Analysis,
    folder: Path,
    *,
    banner: str | None = None,
    pdf: bool = True,
    generated_on: dt.date | None = None,
    language: str = "en",
) -> ReportFiles:
    """Write the HTML, the PDF (unless `pdf` is False) and the CSVs into `folder`; the HTML and
    PDF in `language` ("en" or "zh"), the CSVs always with English column names."""
    t = Translator(language)
    if not t.english:
        figures.check_font(language)  # before anything is written
    folder.mkdir(parents=True, exist_ok=True)
    page = render_html(analysis, banner=banner, generated_on=generated_on, language=language)
    html_path = folder / "report.html"
    html_path.write_text(page, encoding="utf-8")
    pdf_path = folder / "report.pdf" if pdf else None
    if pdf_path is not None:
        _write_pdf(page, pdf_path)
    csv_folder = write_csvs(analysis, folder / "csv")
    return ReportFiles(html_path, pdf_path, csv_folder)


def _write_pdf(page: str, path: Path) -> None:
    try:
        from weasyprint import HTML
    except OSError as error:  # Pango missing: WeasyPrint cannot load its libraries
        raise InputError(
            f"cannot write the PDF: WeasyPrint needs the Pango library ({error}); install "
            "libpango-1.0-0 and libpangoft2-1.0-0, or use --no-pdf"
        ) from None
    HTML(string=page).write_pdf(path)


# --- CSV ------------------------------------------------------------------------------------


def write_csvs(analysis: Analysis, folder: Path) -> Path:
    """Every table and result list as CSV, and the analysis dataset with its dictionary."""
    folder.mkdir(parents=True, exist_ok=True)
    dataset = analysis.dataset
    frames: dict[str, pd.DataFrame] = {
        **{f"dataset_{name}": frame for name, frame in dataset.frames().items()},
        "dataset_screenings": dataset.screenings,
        "dataset_column_dictionary": column_dictionary(),
        "flow": analysis.flow.table(),
        "baseline": analysis.baseline,
        "rates": analysis.rates,
    }
    if analysis.measures:
        frames["outcome_measures"] = summary_frame(analysis.measures)
    for section in _sections(analysis):
        slug = _slug(section.title)
        if section.results:
            frames[f"results_{slug}"] = _results_with_labels(section.results)
        for title, table in section.tables.items():
            frames[f"table_{_slug(title)}"] = table
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False, date_format="%Y-%m-%d")
    return folder


def _results_with_labels(results: Sequence[tuple[str, AnalysisResult]]) -> pd.DataFrame:
    frame = results_frame(r for _label, r in results)
    frame.insert(0, "analysis", [label for label, _r in results])
    return frame


def _slug(title: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in title.lower()).split()
    return "_".join(words)[:60]


def _sections(analysis: Analysis) -> list[Section]:
    return [analysis.primary, analysis.secondary, analysis.safety, analysis.monitoring]


# --- HTML -----------------------------------------------------------------------------------


def render_html(
    analysis: Analysis,
    *,
    banner: str | None = None,
    generated_on: dt.date | None = None,
    language: str = "en",
) -> str:
    t = Translator(language)
    protocol = analysis.protocol
    title = t("{nct_id}: statistical report", nct_id=protocol.identity.nct_id)
    parts = [
        f"<!DOCTYPE html><html lang='{t.html_lang}'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{_css(t)}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>{_e(protocol.identity.brief_title)}</p>",
    ]
    if banner:
        parts.append(f"<p class='banner'>{_e(t.text(banner))}</p>")
    if analysis.comparison_omitted is not None:
        parts += _descriptive_parts(analysis, analysis.comparison_omitted, t)
    else:
        parts.append(_status(analysis, t))
        parts += _key_results(analysis, t)
        parts += _flow_part(analysis, t)
        parts += _baseline_part(analysis, t)
        parts += _primary_part(analysis, t)
        parts += _secondary_part(analysis, t)
        parts += _measures_part(analysis, t)
        parts += _safety_part(analysis, t)
        parts += _monitoring_part(analysis, t)
    parts += _reproducibility_part(analysis, generated_on or dt.date.today(), t)
    parts.append("</body></html>")
    return "\n".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text))


def _status(analysis: Analysis, t: Translator) -> str:
    last = analysis.last_record_on.isoformat() if analysis.last_record_on else t("no data")
    if analysis.in_follow_up:
        status = t(
            "interim: follow-up to live birth is not complete for {n} women; outcomes not yet "
            "known for them are not estimated",
            n=analysis.in_follow_up,
        )
    else:
        status = t("follow-up complete")
    return "<p>{}</p>".format(
        _e(
            t(
                "Open report (arms named) for the data monitoring committee. Data recorded up "
                "to {last}; status: {status}. Non-randomised comparison of two parallel arms.",
                last=last,
                status=status,
            )
        )
    )


def _descriptive_parts(analysis: Analysis, omitted: str, t: Translator) -> list[str]:
    """A trial without two compared arms: why there is no comparison, then what it has."""
    last = analysis.last_record_on.isoformat() if analysis.last_record_on else t("no data")
    parts = [
        "<p>{}</p>".format(
            _e(t("Descriptive report by arm. Data recorded up to {last}.", last=last))
        ),
        _note(t.text(omitted)),
        *_flow_part(analysis, t),
        *_measures_part(analysis, t),
    ]
    if analysis.has_safety_set:
        parts += _safety_part(analysis, t)
    else:
        parts += [
            _tag("h2", t("Safety")),
            _note(
                t(
                    "The protocol declares no safety set: the adverse-event tables by arm are "
                    "left out; the analysis dataset (csv/) lists every adverse event."
                )
            ),
        ]
    return parts


def _measures_part(analysis: Analysis, t: Translator) -> list[str]:
    """A table per outcome measure: by arm n, mean (SD) or n/N (%) with the Wilson interval,
    or the count of each category; a change from baseline with its paired analysis."""
    if not analysis.measures:
        return []
    level = f"{1 - analysis.protocol.analysis_plan.alpha:.0%}"
    parts = [_tag("h2", t("Outcome measures"))]
    for summary in analysis.measures:
        parts += _measure_table(analysis, summary, level, t)
    parts.append(
        _note(
            t(
                "Participants with a value; missing values are left out and counted. Proportions "
                "with the Wilson interval; a change from baseline also by the paired t test and "
                "the Wilcoxon signed-rank test (Hodges-Lehmann estimate), within each arm."
            )
        )
    )
    return parts


def _measure_table(
    analysis: Analysis, summary: MeasureSummary, level: str, t: Translator
) -> list[str]:
    measure = next(m for m in analysis.protocol.outcome_measures if m.id == summary.measure_id)
    item = _item_label(analysis, measure.item)
    events = {e.id: e.label for e in analysis.protocol.schedule}
    derivation = t.text(DERIVATIONS[measure.derivation.value])
    if measure.baseline_event is not None:
        derivation += f" ({events.get(measure.baseline_event, measure.baseline_event)})"
    description = t(
        "{item}; at {event}; {derivation}",
        item=item,
        event=events.get(measure.event, measure.event),
        derivation=derivation,
    )
    heads = [t("arm"), t("n"), t("missing"), _summary_head(summary, level, t)]
    paired = any(arm.paired for arm in summary.arms)
    if paired:
        heads += [t("mean change, paired t ({level} CI); p", level=level)]
        heads += [t("Hodges-Lehmann estimate, Wilcoxon ({level} CI); p", level=level)]
    rows = []
    for arm in summary.arms:
        cells = [
            analysis.arm_labels.get(arm.arm, arm.arm),
            str(arm.n),
            str(arm.missing),
            _arm_summary(summary, arm, t),
        ]
        if paired:
            cells += [_paired_cell(arm, index, t) for index in (0, 1)]
        numbers = "".join(f"<td class='num'>{_e(c)}</td>" for c in cells[1:])
        rows.append(f"<tr><td>{_e(cells[0])}</td>{numbers}</tr>")
    head = "".join(f"<th>{_e(h)}</th>" for h in heads)
    return [
        f"<h3>{_e(summary.label)}</h3>",
        f"<p>{_e(description)}</p>",
        f"<table class='measure' id='measure-{_e(summary.measure_id)}'><thead><tr>{head}</tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>",
        *_notes(summary.notes, t),
    ]


def _summary_head(summary: MeasureSummary, level: str, t: Translator) -> str:
    unit = f" ({summary.unit})" if summary.unit else ""
    if summary.summary == "number":
        return t("mean (SD)") + unit
    if summary.summary == "proportion":
        return t("n/N (%) [{level} CI, Wilson]", level=level)
    return t("count of each value")


def _arm_summary(summary: MeasureSummary, arm: ArmMeasure, t: Translator) -> str:
    if summary.summary == "number":
        if arm.mean is None:
            return "–"
        sd = "–" if arm.sd is None else _number(arm.sd)
        return f"{_number(arm.mean)} ({sd})"
    if summary.summary == "proportion":
        if arm.proportion is None:
            return f"{arm.met or 0}/{arm.n}"
        return (
            f"{arm.met}/{arm.n} ({_percent(arm.proportion)}) "
            f"[{t('{low} to {high}', low=_percent(arm.low), high=_percent(arm.high))}]"
        )
    return t("; ").join(f"{t.text(value)}: {count}" for value, count in arm.counts)


def _paired_cell(arm: ArmMeasure, index: int, t: Translator) -> str:
    if len(arm.paired) <= index:
        return "–"
    result = arm.paired[index]
    estimate = "–" if result.estimate is None else _number(result.estimate)
    interval = t("{low} to {high}", low=_number(result.low), high=_number(result.high))
    p_value = "–" if result.p_value is None else format_p_value(result.p_value)
    return f"{estimate} ({interval}); p = {p_value}; n = {result.n}"


def _labelled(table: pd.DataFrame, labels: dict[str, str], t: Translator) -> pd.DataFrame:
    """Column heads in `t`'s language with arm names instead of arm ids, and the first column
    with arm names (or its texts translated)."""
    renamed = {}
    for column in table.columns:
        text = str(column)
        for arm, label in labels.items():
            if text == arm or text.startswith(f"{arm}: "):
                text = label + text[len(arm) :]
        renamed[column] = t.text(text.replace("_", " "))
    result = table.rename(columns=renamed)
    first = result.columns[0]
    result[first] = [
        labels.get(str(v), t.text(v) if isinstance(v, str) else v) for v in result[first]
    ]
    return result


def _key_results(analysis: Analysis, t: Translator) -> list[str]:
    primary = dict(analysis.primary.results)
    rows = analysis.rates[analysis.rates["outcome"] == "clinical pregnancy"]
    arms = {r["arm"]: r for r in rows.to_dict("records")}
    names = {a.id: a.label for a in analysis.protocol.arms}
    lines = [
        _e(
            t(
                "{arm}: {events}/{total} clinical pregnancies, {rate} (95% CI {low} to {high}, "
                "Wilson)",
                arm=names.get(arm, arm), events=r["events"], total=r["total"],
                rate=_percent(r["estimate"]), low=_percent(r["wilson_low"]),
                high=_percent(r["wilson_high"]),
            )
        )
        for arm, r in arms.items()
    ]  # fmt: skip
    difference = primary.get(RD_NEWCOMBE)
    if difference is not None:
        lines.append(
            _e(
                t(
                    "Difference (stem cell − control): {estimate} percentage points (95% CI "
                    "{low} to {high}, Newcombe)",
                    estimate="\0",
                    low=_points(difference.low),
                    high=_points(difference.high),
                )
            ).replace("\0", f"<b>{_points(difference.estimate)}</b>")
        )
    adjusted = primary.get(G_COMPUTATION)
    if adjusted is not None:
        lines.append(
            _e(
                t(
                    "Adjusted for {covariates} (g-computation): {estimate} points (95% CI {low} "
                    "to {high})",
                    covariates=", ".join(
                        c.name for c in analysis.protocol.analysis_plan.covariates
                    ),
                    estimate=_points(adjusted.estimate),
                    low=_points(adjusted.low),
                    high=_points(adjusted.high),
                )
            )
        )
    fisher = primary.get(FISHER)
    if fisher is not None and fisher.p_value is not None:
        lines.append(_e(t("Fisher's exact test p = {p}", p=format_p_value(fisher.p_value))))
    counts = next(iter(analysis.monitoring.tables.values()), None)
    if counts is not None:
        per_arm = t("; ").join(
            f"{names.get(r['arm'], r['arm'])} {r['participants_with_serious_ae']}/"
            f"{r['participants']}"
            for r in counts.to_dict("records")
        )
        lines.append(_e(t("Serious adverse events (women with ≥ 1): {counts}", counts=per_arm)))
    excess = next(
        (r for label, r in analysis.monitoring.results if label.startswith("P(excess")), None
    )
    margin = analysis.protocol.analysis_plan.serious_ae_margin
    if excess is not None and excess.estimate is not None and margin is not None:
        margin_shown, probability = f"{margin:.0%}", f"{excess.estimate:.3f}"
        lines.append(
            _e(
                t(
                    "Posterior probability that the stem-cell arm's serious-AE rate exceeds the "
                    "control arm's by more than {margin}: {probability} (uniform prior)",
                    margin=margin_shown,
                    probability=probability,
                )
            )
        )
    return [
        _tag("h2", t("Key results")) + "<div class='key'><ul>",
        *(f"<li>{line}</li>" for line in lines),
        "</ul></div>",
        _tag("h3", t("What 30 against 30 can and cannot show")) + "<ul>",
        *(f"<li>{_e(t.text(note))}</li>" for note in analysis.design),
        "</ul>",
    ]


def _figure(png: bytes, caption: str, css_class: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f"<figure class='{css_class}'><img src='data:image/png;base64,{data}' alt='{_e(caption)}'>"
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _flow_part(analysis: Analysis, t: Translator) -> list[str]:
    labels = {a.id: a.label for a in analysis.protocol.arms}
    return [
        _tag("h2", t("Participant flow (TREND)")),
        _figure(
            figures.flow_diagram(analysis.flow, labels=labels, t=t),
            _flow_caption(analysis.protocol.design.allocation.upper(), len(labels), t),
            "flow",
        ),
    ]


def _flow_caption(allocation: str, arms: int, t: Translator) -> str:
    """How she came to her arm, as the protocol's design says (one arm: no allocation)."""
    if arms < 2:
        return t("Figure 1. Flow of participants (a single arm).")
    if allocation == "RANDOMIZED":
        return t("Figure 1. Flow of participants. Allocation was random.")
    return t("Figure 1. Flow of participants. Allocation was by the investigators, not random.")


def _baseline_part(analysis: Analysis, t: Translator) -> list[str]:
    baseline = analysis.baseline.assign(
        characteristic=[_item_label(analysis, n) for n in analysis.baseline["characteristic"]]
    )
    sizes = analysis.rates[analysis.rates["outcome"] == "clinical pregnancy"]
    totals = dict(zip(sizes["arm"], sizes["total"], strict=True))
    labels = {a: f"{label} (n = {totals.get(a, '?')})" for a, label in analysis.arm_labels.items()}
    parts = [
        _tag("h2", t("Baseline characteristics (full analysis set)")),
        _table(_labelled(baseline, labels, t), numeric=(), t=t),
        _note(t("Mean (SD) [missing], or n/N (%); the plan’s covariates first.")),
    ]
    balance = analysis.primary.tables.get("Covariate balance before and after weighting (SMD)")
    if balance is not None:
        treated = analysis.arm_labels[analysis.treated]
        control = analysis.arm_labels[analysis.control]
        shown = balance.assign(
            covariate=[_item_label(analysis, n) for n in balance["covariate"]]
        ).rename(
            columns={
                "covariate": t("covariate"),
                "mean_treated": t("mean, {arm}", arm=treated),
                "mean_control": t("mean, {arm}", arm=control),
                "smd_unweighted": t("SMD before"),
                "mean_treated_weighted": t("weighted mean, {arm}", arm=treated),
                "mean_control_weighted": t("weighted mean, {arm}", arm=control),
                "smd_weighted": t("SMD after weighting"),
            }
        )  # fmt: skip
        note = t(
            "|SMD| below 0.1 is the usual mark of balance (Austin & Stuart 2015); after "
            "weighting by the inverse probability of the arm received."
        )
        parts += [
            _tag("h3", t("Covariate balance: standardised mean differences")),
            _table(shown.round(3), numeric=tuple(shown.columns[1:]), t=t),
            f"<p class='note'>{_e(note)}</p>",
        ]
    return parts


def _item_label(analysis: Analysis, name: str) -> str:
    """A covariate's label with its unit (the protocol's data item, or the value's label)."""
    from endotrial.protocol.analysis_values import readable_names

    item = readable_names(analysis.protocol).get(name)
    if item is None:
        return name
    return f"{item.label} ({item.unit})" if item.unit else item.label


def _primary_part(analysis: Analysis, t: Translator) -> list[str]:
    section = analysis.primary
    estimand = t(
        "{measure}; full analysis set by allocated arm; a cancelled transfer or a withdrawal "
        "before the outcome counts as no pregnancy (composite strategy of the estimand).",
        measure=analysis.protocol.analysis_plan.primary_estimand.summary_measure,
    )
    return [
        f"<h2>{_e(t.text(section.title))}</h2>",
        f"<p>{_e(estimand)}</p>",
        _results_table(section.results, t),
        *_notes(section.notes, t),
        _figure(
            figures.forest_plot(analysis.forest, t=t),
            t(
                "Figure 2. Risk difference in clinical pregnancy, unadjusted, adjusted and "
                "sensitivity analyses, with 95% intervals."
            ),
        ),
        _figure(
            figures.rates_plot(analysis.rates, arms=_arm_order(analysis), t=t),
            t(
                "Figure 3. Rates per arm with Wilson (solid) and Clopper-Pearson (dotted) 95% "
                "intervals."
            ),
        ),
    ]


def _secondary_part(analysis: Analysis, t: Translator) -> list[str]:
    section = analysis.secondary
    # The cycle as the protocol names it (its label up to any explanation in brackets).
    cycles = {c.id: c.label.split(" (")[0] for c in analysis.protocol.cycles}
    scans = [
        (
            e.id,
            t(
                "{cycle}, day {day}: {scan}",
                cycle=cycles.get(e.cycle, e.cycle),
                day=e.cycle_day,
                scan=_short(e.label),
            ),
        )
        for e in analysis.protocol.schedule
        if e.kind == "ultrasound" and e.cycle is not None
    ]
    return [
        f"<h2>{_e(t.text(section.title))}</h2>",
        _results_table(section.results, t),
        *_notes(section.notes, t),
        "<p class='note'>{}</p>".format(
            _e(
                t(
                    "Secondary analyses are not adjusted for multiplicity: their p-values are "
                    "descriptive. Risk differences are stem cell − control."
                )
            )
        ),
        _figure(
            figures.thickness_plot(
                analysis.dataset.measurements, scans, arms=_arm_order(analysis), t=t
            ),
            t(
                "Figure 4. Endometrial thickness at each scheduled scan, mean and 95% t interval "
                "per arm (a woman’s last scan of each visit)."
            ),
        ),
    ]


def _arm_order(analysis: Analysis) -> dict[str, str]:
    return {arm: analysis.arm_labels[arm] for arm in (analysis.treated, analysis.control)}


def _short(label: str) -> str:
    return label.replace("Transvaginal ultrasound, ", "").split(" (")[0]


def _safety_part(analysis: Analysis, t: Translator) -> list[str]:
    parts = [f"<h2>{_e(t.text(analysis.safety.title))}</h2>"]
    for title, table in analysis.safety.tables.items():
        shown = _labelled(table.replace(_RELATEDNESS_SHOWN), analysis.arm_labels, t)
        parts += [
            f"<h3>{_e(t.text(title))}</h3>",
            _table(shown, numeric=_count_columns(shown), t=t),
        ]
    note = t(
        "Participants: women with at least one such event, n (% of the arm’s safety set), each "
        "counted once per row; events: all events. 95% CI: Clopper-Pearson. Related: possibly, "
        "probably or definitely, in the investigator’s judgement."
    )
    parts.append(f"<p class='note'>{_e(note)}</p>")
    return parts


def _monitoring_part(analysis: Analysis, t: Translator) -> list[str]:
    section = analysis.monitoring
    parts = [f"<h2>{_e(t.text(section.title))}</h2>"]
    for title, table in section.tables.items():
        if "term" in table.columns:  # the listing: arm names in a column, not in the heads
            listing = table.replace(_RELATEDNESS_SHOWN).assign(
                arm=[analysis.arm_labels.get(str(a), a) for a in table["arm"]]
            )
            listing.columns = [t.text(str(c).replace("_", " ")) for c in listing.columns]
            grade = t.text("ctcae grade")
            parts += [f"<h3>{_e(t.text(title))}</h3>", _table(listing, numeric=(grade,), t=t)]
            if table.empty:
                parts.append(_note(t("No serious adverse event recorded.")))
            continue
        shown = _labelled(
            table.rename(
                columns={
                    "participants": N_("women in the safety set"),
                    "participants_with_serious_ae": N_("women with ≥ 1 serious AE"),
                    "serious_aes": N_("serious AEs"),
                }
            ),
            analysis.arm_labels,
            t,
        )
        parts += [
            f"<h3>{_e(t.text(title))}</h3>",
            _table(shown, numeric=_count_columns(shown), t=t),
        ]
    parts += [_results_table(section.results, t), *_notes(section.notes, t)]
    return parts


def _reproducibility_part(analysis: Analysis, generated_on: dt.date, t: Translator) -> list[str]:
    dataset, settings = analysis.dataset, analysis.settings
    counts = ", ".join(f"{name} {count}" for name, count in dataset.row_counts().items())
    versions = ", ".join(f"{name} {_version(name)}" for name in VERSIONED)
    level = f"{1 - analysis.protocol.analysis_plan.alpha:.0%}"
    rows = [
        (t("Protocol"), f"{dataset.protocol_id}, sha256 {dataset.protocol_sha256}"),
        (t("Analysis dataset rows"), counts),
        (
            t("Seeds"),
            t(
                "bootstrap and multiple imputation seed {seed}; {n_bootstrap} bootstrap "
                "resamples; {n_imputations} imputations after {burn_in} cycles",
                seed=settings.seed, n_bootstrap=settings.n_bootstrap,
                n_imputations=settings.n_imputations, burn_in=settings.burn_in,
            ),
        ),
        (
            t("Confidence level"),
            t("{level}, two-sided", level=level),
        ),
        (t("Software"), versions),
        (t("Generated"), generated_on.isoformat()),
        (t("Files"), t("csv/: every table, every result and the analysis dataset with its "
         "column dictionary (dataset_column_dictionary.csv); column names in English")),
    ]  # fmt: skip
    body = "".join(f"<tr><th>{_e(k)}</th><td class='mono'>{_e(v)}</td></tr>" for k, v in rows)
    intro = t(
        "The same database, protocol and settings give the same numbers. Methods and their "
        "sources: docs/analysis.md."
    )
    return [
        _tag("h2", t("Reproducibility")),
        f"<p>{_e(intro)}</p>",
        f"<table>{body}</table>",
    ]


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _notes(notes: Iterable[str], t: Translator) -> list[str]:
    return [_note(t("Note: {note}", note=t.text(note))) for note in notes]


def _tag(tag: str, text: str) -> str:
    return f"<{tag}>{_e(text)}</{tag}>"


def _note(text: str) -> str:
    return f"<p class='note'>{_e(text)}</p>"


def _count_columns(table: pd.DataFrame) -> tuple[str, ...]:
    return tuple(c for c in table.columns if c != table.columns[0])


def _table(table: pd.DataFrame, *, numeric: Sequence[str], t: Translator = ENGLISH) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    rows = []
    for record in table.itertuples(index=False):
        cells = []
        for column, value in zip(table.columns, record, strict=True):
            css = " class='num'" if column in numeric else ""
            cells.append(f"<td{css}>{_e(_cell(value, t))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cell(value: object, t: Translator = ENGLISH) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value is pd.NA:
        return "–"
    if isinstance(value, bool | np.bool_):
        return t("yes") if value else t("no")
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, str):
        return t.text(value)  # a coded value ("possible", "recovered") in her language
    return str(value)


def _results_table(results: Sequence[tuple[str, AnalysisResult]], t: Translator) -> str:
    heads = (t("Analysis"), t("Estimate"), t("95% interval"), t("p"), t("n"), t("Method; notes"))
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in heads) + "</tr>"
    rows = []
    for label, result in results:
        estimate, interval = _formatted(result, t)
        p_value = "" if result.p_value is None else format_p_value(result.p_value)
        notes = t("; ").join(t.method(part) for part in [result.method, *result.notes])
        rows.append(
            f"<tr><td>{_e(t.text(label))}</td><td class='num'>{_e(estimate)}</td>"
            f"<td class='num'>{_e(interval)}</td><td class='num'>{_e(p_value)}</td>"
            f"<td class='num'>{_e(result.n if result.n is not None else '')}</td>"
            f"<td class='note'>{_e(notes)}</td></tr>"
        )
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _formatted(result: AnalysisResult, t: Translator = ENGLISH) -> tuple[str, str]:
    """Rates and differences of rates in %, ratios with 2 decimals, probabilities with 3."""
    quantity = result.quantity
    if quantity.startswith("rate"):
        show = _percent
    elif "risk difference" in quantity or quantity.startswith("posterior difference"):
        show = functools.partial(_signed_percent, unit=t("pp"))
    elif quantity.startswith("P("):
        show = _probability
    else:
        show = _number
    estimate = "–" if result.estimate is None else show(result.estimate)
    if result.confidence is None:
        return estimate, ""
    return estimate, t("{low} to {high}", low=show(result.low), high=show(result.high))


def _percent(value: float | None) -> str:
    return "NA" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def _signed_percent(value: float | None, unit: str = "pp") -> str:
    """A difference of rates in percentage points (`unit`: their abbreviation)."""
    return "NA" if value is None or math.isnan(value) else _minus(f"{100 * value:+.1f} {unit}")


def _points(value: float | None) -> str:
    return "NA" if value is None or math.isnan(value) else _minus(f"{100 * value:+.1f}")


def _probability(value: float | None) -> str:
    return "NA" if value is None or math.isnan(value) else f"{value:.3f}"


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "NA"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return _minus(f"{value:.2f}")


def _minus(text: str) -> str:
    """A typographic minus, as a printed report has it."""
    return text.replace("-", "−")
