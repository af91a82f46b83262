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
import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

from endotrial.analysis.dataset import column_dictionary
from endotrial.analysis.results import AnalysisResult, format_p_value, results_frame
from endotrial.errors import InputError
from endotrial.reporting import figures
from endotrial.reporting.compute import FISHER, G_COMPUTATION, RD_NEWCOMBE, Analysis, Section

#: Relatedness as printed.
_RELATEDNESS_SHOWN = {"not_related": "not related"}
#: Libraries whose versions the report records.
VERSIONED = ("endotrial", "numpy", "scipy", "statsmodels", "pandas", "matplotlib", "weasyprint")

CSS = """
@page { size: A4; margin: 18mm 16mm 20mm 16mm;
  @bottom-left { content: string(trial); font-family: "DejaVu Sans", sans-serif;
    font-size: 7.5pt; color: #555; }
  @bottom-right { content: "page " counter(page) " of " counter(pages);
    font-family: "DejaVu Sans", sans-serif; font-size: 7.5pt; color: #555; } }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 9pt; line-height: 1.35;
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
.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 7.5pt; word-break: break-all; }
"""


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
) -> ReportFiles:
    """Write the HTML, the PDF (unless `pdf` is False) and the CSVs into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    page = render_html(analysis, banner=banner, generated_on=generated_on)
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
    analysis: Analysis, *, banner: str | None = None, generated_on: dt.date | None = None
) -> str:
    protocol = analysis.protocol
    title = f"{protocol.identity.nct_id}: statistical report"
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>{_e(protocol.identity.brief_title)}</p>",
    ]
    if banner:
        parts.append(f"<p class='banner'>{_e(banner)}</p>")
    parts.append(_status(analysis))
    parts += _key_results(analysis)
    parts += _flow_part(analysis)
    parts += _baseline_part(analysis)
    parts += _primary_part(analysis)
    parts += _secondary_part(analysis)
    parts += _safety_part(analysis)
    parts += _monitoring_part(analysis)
    parts += _reproducibility_part(analysis, generated_on or dt.date.today())
    parts.append("</body></html>")
    return "\n".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text))


def _status(analysis: Analysis) -> str:
    last = analysis.last_record_on.isoformat() if analysis.last_record_on else "no data"
    if analysis.in_follow_up:
        status = (
            f"interim: follow-up to live birth is not complete for {analysis.in_follow_up} "
            "women; outcomes not yet known for them are not estimated"
        )
    else:
        status = "follow-up complete"
    return (
        f"<p>Open report (arms named) for the data monitoring committee. Data recorded up to "
        f"{_e(last)}; status: {_e(status)}. Non-randomised comparison of two parallel arms.</p>"
    )


def _labelled(table: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """Column heads and the first column with arm names instead of arm ids."""
    renamed = {}
    for column in table.columns:
        text = str(column)
        for arm, label in labels.items():
            if text == arm or text.startswith(f"{arm}: "):
                text = label + text[len(arm) :]
        renamed[column] = text.replace("_", " ")
    result = table.rename(columns=renamed)
    first = result.columns[0]
    result[first] = [labels.get(str(v), v) for v in result[first]]
    return result


def _key_results(analysis: Analysis) -> list[str]:
    primary = dict(analysis.primary.results)
    rows = analysis.rates[analysis.rates["outcome"] == "clinical pregnancy"]
    arms = {r["arm"]: r for r in rows.to_dict("records")}
    names = {a.id: a.label for a in analysis.protocol.arms}
    lines = [
        f"{_e(names.get(arm, arm))}: {r['events']}/{r['total']} clinical pregnancies, "
        f"{_percent(r['estimate'])} (95% CI {_percent(r['wilson_low'])} to "
        f"{_percent(r['wilson_high'])}, Wilson)"
        for arm, r in arms.items()
    ]
    difference = primary.get(RD_NEWCOMBE)
    if difference is not None:
        lines.append(
            f"Difference (stem cell − control): <b>{_points(difference.estimate)}</b> percentage "
            f"points (95% CI {_points(difference.low)} to {_points(difference.high)}, Newcombe)"
        )
    adjusted = primary.get(G_COMPUTATION)
    if adjusted is not None:
        lines.append(
            f"Adjusted for {', '.join(c.name for c in analysis.protocol.analysis_plan.covariates)}"
            f" (g-computation): {_points(adjusted.estimate)} points (95% CI "
            f"{_points(adjusted.low)} to {_points(adjusted.high)})"
        )
    fisher = primary.get(FISHER)
    if fisher is not None and fisher.p_value is not None:
        lines.append(f"Fisher's exact test p = {format_p_value(fisher.p_value)}")
    counts = next(iter(analysis.monitoring.tables.values()), None)
    if counts is not None:
        lines.append(
            "Serious adverse events (women with ≥ 1): "
            + "; ".join(
                f"{_e(names.get(r['arm'], r['arm']))} {r['participants_with_serious_ae']}/"
                f"{r['participants']}"
                for r in counts.to_dict("records")
            )
        )
    excess = next(
        (r for label, r in analysis.monitoring.results if label.startswith("P(excess")), None
    )
    margin = analysis.protocol.analysis_plan.serious_ae_margin
    if excess is not None and excess.estimate is not None and margin is not None:
        lines.append(
            f"Posterior probability that the stem-cell arm's serious-AE rate exceeds the "
            f"control arm's by more than {margin:.0%}: {excess.estimate:.3f} (uniform prior)"
        )
    return [
        "<h2>Key results</h2><div class='key'><ul>",
        *(f"<li>{line}</li>" for line in lines),
        "</ul></div>",
        "<h3>What 30 against 30 can and cannot show</h3><ul>",
        *(f"<li>{_e(note)}</li>" for note in analysis.design),
        "</ul>",
    ]


def _figure(png: bytes, caption: str, css_class: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f"<figure class='{css_class}'><img src='data:image/png;base64,{data}' alt='{_e(caption)}'>"
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _flow_part(analysis: Analysis) -> list[str]:
    labels = {a.id: a.label for a in analysis.protocol.arms}
    return [
        "<h2>Participant flow (TREND)</h2>",
        _figure(
            figures.flow_diagram(analysis.flow, labels=labels),
            "Figure 1. Flow of participants. Allocation was by the investigators, not random.",
            "flow",
        ),
    ]


def _baseline_part(analysis: Analysis) -> list[str]:
    baseline = analysis.baseline.assign(
        characteristic=[_item_label(analysis, n) for n in analysis.baseline["characteristic"]]
    )
    sizes = analysis.rates[analysis.rates["outcome"] == "clinical pregnancy"]
    totals = dict(zip(sizes["arm"], sizes["total"], strict=True))
    labels = {a: f"{label} (n = {totals.get(a, '?')})" for a, label in analysis.arm_labels.items()}
    parts = [
        "<h2>Baseline characteristics (full analysis set)</h2>",
        _table(_labelled(baseline, labels), numeric=()),
        "<p class='note'>Mean (SD) [missing], or n/N (%); the plan's covariates first.</p>",
    ]
    balance = analysis.primary.tables.get("Covariate balance before and after weighting (SMD)")
    if balance is not None:
        treated = analysis.arm_labels[analysis.treated]
        control = analysis.arm_labels[analysis.control]
        shown = balance.assign(
            covariate=[_item_label(analysis, n) for n in balance["covariate"]]
        ).rename(
            columns={
                "mean_treated": f"mean, {treated}", "mean_control": f"mean, {control}",
                "smd_unweighted": "SMD before",
                "mean_treated_weighted": f"weighted mean, {treated}",
                "mean_control_weighted": f"weighted mean, {control}",
                "smd_weighted": "SMD after weighting",
            }
        )  # fmt: skip
        parts += [
            "<h3>Covariate balance: standardised mean differences</h3>",
            _table(shown.round(3), numeric=tuple(shown.columns[1:])),
            "<p class='note'>|SMD| below 0.1 is the usual mark of balance (Austin &amp; "
            "Stuart 2015); after weighting by the inverse probability of the arm received.</p>",
        ]
    return parts


def _item_label(analysis: Analysis, name: str) -> str:
    """A covariate's label with its unit (the protocol's data item, or the value's label)."""
    from endotrial.protocol.analysis_values import readable_names

    item = readable_names(analysis.protocol).get(name)
    if item is None:
        return name
    return f"{item.label} ({item.unit})" if item.unit else item.label


def _primary_part(analysis: Analysis) -> list[str]:
    section = analysis.primary
    return [
        f"<h2>{_e(section.title)}</h2>",
        f"<p>{_e(analysis.protocol.analysis_plan.primary_estimand.summary_measure)}; full "
        "analysis set by allocated arm; a cancelled transfer or a withdrawal before the outcome "
        "counts as no pregnancy (composite strategy of the estimand).</p>",
        _results_table(section.results),
        *_notes(section.notes),
        _figure(
            figures.forest_plot(analysis.forest),
            "Figure 2. Risk difference in clinical pregnancy, unadjusted, adjusted and "
            "sensitivity analyses, with 95% intervals.",
        ),
        _figure(
            figures.rates_plot(analysis.rates, arms=_arm_order(analysis)),
            "Figure 3. Rates per arm with Wilson (solid) and Clopper-Pearson (dotted) 95% "
            "intervals.",
        ),
    ]


def _secondary_part(analysis: Analysis) -> list[str]:
    section = analysis.secondary
    scans = [
        (e.id, f"{e.cycle} cycle, day {e.cycle_day}: {_short(e.label)}")
        for e in analysis.protocol.schedule
        if e.kind == "ultrasound" and e.cycle is not None
    ]
    return [
        f"<h2>{_e(section.title)}</h2>",
        _results_table(section.results),
        *_notes(section.notes),
        "<p class='note'>Secondary analyses are not adjusted for multiplicity: their p-values "
        "are descriptive. Risk differences are stem cell − control.</p>",
        _figure(
            figures.thickness_plot(analysis.dataset.measurements, scans, arms=_arm_order(analysis)),
            "Figure 4. Endometrial thickness at each scheduled scan, mean and 95% t interval "
            "per arm (a woman's last scan of each visit).",
        ),
    ]


def _arm_order(analysis: Analysis) -> dict[str, str]:
    return {arm: analysis.arm_labels[arm] for arm in (analysis.treated, analysis.control)}


def _short(label: str) -> str:
    return label.replace("Transvaginal ultrasound, ", "").split(" (")[0]


def _safety_part(analysis: Analysis) -> list[str]:
    parts = [f"<h2>{_e(analysis.safety.title)}</h2>"]
    for title, table in analysis.safety.tables.items():
        shown = _labelled(table.replace(_RELATEDNESS_SHOWN), analysis.arm_labels)
        parts += [f"<h3>{_e(title)}</h3>", _table(shown, numeric=_count_columns(shown))]
    parts.append(
        "<p class='note'>Participants: women with at least one such event, n (% of the arm's "
        "safety set), each counted once per row; events: all events. 95% CI: Clopper-Pearson. "
        "Related: possibly, probably or definitely, in the investigator's judgement.</p>"
    )
    return parts


def _monitoring_part(analysis: Analysis) -> list[str]:
    section = analysis.monitoring
    parts = [f"<h2>{_e(section.title)}</h2>"]
    for title, table in section.tables.items():
        if "term" in table.columns:  # the listing: arm names in a column, not in the heads
            listing = table.replace(_RELATEDNESS_SHOWN).assign(
                arm=[analysis.arm_labels.get(str(a), a) for a in table["arm"]]
            )
            listing.columns = [str(c).replace("_", " ") for c in listing.columns]
            parts += [f"<h3>{_e(title)}</h3>", _table(listing, numeric=("ctcae grade",))]
            if table.empty:
                parts.append("<p class='note'>No serious adverse event recorded.</p>")
            continue
        shown = _labelled(
            table.rename(
                columns={
                    "participants": "women in the safety set",
                    "participants_with_serious_ae": "women with ≥ 1 serious AE",
                    "serious_aes": "serious AEs",
                }
            ),
            analysis.arm_labels,
        )
        parts += [f"<h3>{_e(title)}</h3>", _table(shown, numeric=_count_columns(shown))]
    parts += [_results_table(section.results), *_notes(section.notes)]
    return parts


def _reproducibility_part(analysis: Analysis, generated_on: dt.date) -> list[str]:
    dataset, settings = analysis.dataset, analysis.settings
    counts = ", ".join(f"{name} {count}" for name, count in dataset.row_counts().items())
    versions = ", ".join(f"{name} {_version(name)}" for name in VERSIONED)
    rows = [
        ("Protocol", f"{dataset.protocol_id}, sha256 {dataset.protocol_sha256}"),
        ("Analysis dataset rows", counts),
        (
            "Seeds",
            f"bootstrap and multiple imputation seed {settings.seed}; {settings.n_bootstrap} "
            f"bootstrap resamples; {settings.n_imputations} imputations after "
            f"{settings.burn_in} cycles",
        ),
        ("Confidence level", f"{1 - analysis.protocol.analysis_plan.alpha:.0%}, two-sided"),
        ("Software", versions),
        ("Generated", generated_on.isoformat()),
        ("Files", "csv/: every table, every result and the analysis dataset with its "
         "column dictionary (dataset_column_dictionary.csv)"),
    ]  # fmt: skip
    body = "".join(f"<tr><th>{_e(k)}</th><td class='mono'>{_e(v)}</td></tr>" for k, v in rows)
    return [
        "<h2>Reproducibility</h2>",
        "<p>The same database, protocol and settings give the same numbers. Methods and their "
        "sources: docs/analysis.md.</p>",
        f"<table>{body}</table>",
    ]


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _notes(notes: Iterable[str]) -> list[str]:
    return [f"<p class='note'>Note: {_e(note)}</p>" for note in notes]


def _count_columns(table: pd.DataFrame) -> tuple[str, ...]:
    return tuple(c for c in table.columns if c != table.columns[0])


def _table(table: pd.DataFrame, *, numeric: Sequence[str]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    rows = []
    for record in table.itertuples(index=False):
        cells = []
        for column, value in zip(table.columns, record, strict=True):
            css = " class='num'" if column in numeric else ""
            cells.append(f"<td{css}>{_e(_cell(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value is pd.NA:
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _results_table(results: Sequence[tuple[str, AnalysisResult]]) -> str:
    head = "<tr><th>Analysis</th><th>Estimate</th><th>95% interval</th><th>p</th><th>n</th>" \
        "<th>Method; notes</th></tr>"  # fmt: skip
    rows = []
    for label, result in results:
        estimate, interval = _formatted(result)
        p_value = "" if result.p_value is None else format_p_value(result.p_value)
        notes = "; ".join([result.method, *result.notes])
        rows.append(
            f"<tr><td>{_e(label)}</td><td class='num'>{_e(estimate)}</td>"
            f"<td class='num'>{_e(interval)}</td><td class='num'>{_e(p_value)}</td>"
            f"<td class='num'>{_e(result.n if result.n is not None else '')}</td>"
            f"<td class='note'>{_e(notes)}</td></tr>"
        )
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _formatted(result: AnalysisResult) -> tuple[str, str]:
    """Rates and differences of rates in %, ratios with 2 decimals, probabilities with 3."""
    quantity = result.quantity
    if quantity.startswith("rate"):
        show = _percent
    elif "risk difference" in quantity or quantity.startswith("posterior difference"):
        show = _signed_percent
    elif quantity.startswith("P("):
        show = _probability
    else:
        show = _number
    estimate = "–" if result.estimate is None else show(result.estimate)
    if result.confidence is None:
        return estimate, ""
    return estimate, f"{show(result.low)} to {show(result.high)}"


def _percent(value: float | None) -> str:
    return "NA" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def _signed_percent(value: float | None) -> str:
    return "NA" if value is None or math.isnan(value) else _minus(f"{100 * value:+.1f} pp")


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
