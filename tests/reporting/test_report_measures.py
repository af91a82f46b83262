"""The report's outcome measures, and the descriptive report of a trial without two compared
arms: a small demo of a bundled related trial (NCT05495711: two dose arms, no analysis sets;
changes from baseline and yes/no measures) is reported, not refused, and its tables show what
`summarise_measures` computes for that dataset."""

import datetime as dt
import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from endotrial.analysis.measures import ArmMeasure, MeasureSummary, summarise_measures
from endotrial.analysis.paired import wilcoxon_signed_rank
from endotrial.analysis.results import format_p_value
from endotrial.cli import app
from endotrial.demo import build_demo
from endotrial.protocol import Protocol, load_protocol
from endotrial.reporting import render
from endotrial.reporting.compute import Analysis, Settings, compute_analysis
from endotrial.reporting.dataset_build import build_dataset
from endotrial.reporting.render import render_html, write_report
from endotrial.store.engine import read_only_engine

PROTOCOL = "nct05495711"
DAY = dt.date(2026, 12, 1)
QUICK = Settings(seed=11, n_bootstrap=200, n_imputations=3, burn_in=3)
_ROW = re.compile(r"<tr>(.*?)</tr>", re.DOTALL)
_CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.DOTALL)


@pytest.fixture(scope="module")
def related_protocol() -> Protocol:
    return load_protocol(PROTOCOL)


@pytest.fixture(scope="module")
def related_url(tmp_path_factory: pytest.TempPathFactory, related_protocol: Protocol) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('related') / 'related.db'}"
    build_demo(url, protocol=related_protocol, today=DAY, participants=8)
    return url


@pytest.fixture(scope="module")
def related(related_url: str, related_protocol: Protocol) -> Analysis:
    engine = read_only_engine(related_url)
    try:
        dataset = build_dataset(engine, related_protocol)
    finally:
        engine.dispose()
    return compute_analysis(dataset, related_protocol, QUICK)


def _rows(page: str, measure_id: str) -> list[list[str]]:
    """The body rows of a measure's table, cell texts unescaped."""
    start = page.index(f"id='measure-{measure_id}'")
    table = page[start : page.index("</table>", start)]
    body = table[table.index("<tbody>") :]
    return [[html.unescape(c) for c in _CELL.findall(row)] for row in _ROW.findall(body)]


def _shown(value: float | None) -> str:
    return "NA" if value is None else f"{value:.2f}".replace("-", "−")


def _percent(value: float | None) -> str:
    return "NA" if value is None else f"{100 * value:.1f}%"


def _expected_cells(summary: MeasureSummary, arm: ArmMeasure) -> list[str]:
    """The cells the table should show, from `summarise_measures`'s numbers."""
    cells = [str(arm.n), str(arm.missing)]
    if summary.summary == "number":
        sd = "–" if arm.sd is None else _shown(arm.sd)
        cells.append("–" if arm.mean is None else f"{_shown(arm.mean)} ({sd})")
    elif arm.proportion is not None:
        cells.append(
            f"{arm.met}/{arm.n} ({_percent(arm.proportion)}) "
            f"[{_percent(arm.low)} to {_percent(arm.high)}]"
        )
    for result in arm.paired:
        p_value = format_p_value(result.p_value) if result.p_value is not None else "–"
        cells.append(
            f"{_shown(result.estimate)} ({_shown(result.low)} to {_shown(result.high)}); "
            f"p = {p_value}; n = {result.n}"
        )
    return cells


def test_the_related_trial_is_reported_with_the_reason_its_comparison_is_left_out(
    related: Analysis,
) -> None:
    page = render_html(related, generated_on=DAY)
    assert "declares no analysis sets" in page
    assert "<h2>Outcome measures</h2>" in page and "<h2>Participant flow (TREND)</h2>" in page
    assert "Key results" not in page and "Primary outcome" not in page


def test_the_measures_tables_show_what_summarise_measures_computes(
    related: Analysis, related_protocol: Protocol
) -> None:
    dataset = related.dataset
    confidence = 1 - related_protocol.analysis_plan.alpha
    summaries = summarise_measures(
        related_protocol, dataset.participants, dataset.measurements, confidence=confidence
    )
    assert [s.measure_id for s in summaries] == [m.id for m in related_protocol.outcome_measures]
    page = render_html(related, generated_on=DAY)
    kinds = set()
    paired_shown = 0
    for summary in summaries:
        rows = _rows(page, summary.measure_id)
        assert len(rows) == len(summary.arms)
        for row, arm in zip(rows, summary.arms, strict=True):
            assert row[0] == related.arm_labels[arm.arm]
            expected = _expected_cells(summary, arm)
            assert row[1 : 1 + len(expected)] == expected
            paired_shown += len(arm.paired)
        kinds.add(summary.summary)
    # The demo exercises both kinds and the paired analysis (a wiring check of the fixture).
    assert kinds == {"number", "proportion"} and paired_shown > 0


def test_the_chinese_report_renders_the_measures(related: Analysis) -> None:
    page = render_html(related, generated_on=DAY, language="zh")
    assert "<h2>结局指标</h2>" in page and "方案未定义分析集" in page
    assert "Outcome measures" not in page and "declares no analysis sets" not in page
    first = related.measures[0]
    assert _rows(page, first.measure_id)[0][1] == str(first.arms[0].n)


def test_the_report_command_writes_the_related_trials_report(
    related_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "rep"
    result = CliRunner().invoke(
        app,
        ["report", "--database", related_url, "--protocol", PROTOCOL, "--out", str(out),
         "--no-pdf", "--bootstrap", "200", "--imputations", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Outcome measures" in page
    measures_csv = (out / "csv" / "outcome_measures.csv").read_text()
    assert measures_csv.startswith("measure,label,summary,unit,arm,n,missing")


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_the_related_trials_chinese_pdf_holds_the_measures(
    related: Analysis, tmp_path: Path
) -> None:
    files = write_report(related, tmp_path / "zh", language="zh", generated_on=DAY)
    assert files.pdf is not None
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(files.pdf), "-"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "结局指标" in text and related.measures[0].label in text.replace("\n", " ")


def test_the_seed_report_has_no_measures_section(analysis: Analysis) -> None:
    assert analysis.measures == () and analysis.comparison_omitted is None
    assert "Outcome measures" not in render_html(analysis, generated_on=DAY)


def test_a_few_tied_changes_get_an_interval_not_a_crash() -> None:
    """Three tied changes cannot reach 95% by the normal approximation: as R's wilcox.test,
    the interval ends at the smallest and largest change (it raised a scipy error before,
    stopping the report of a small related trial)."""
    result = wilcoxon_signed_rank([4.0, 4.0, 4.0], [4.5, 4.5, 5.0])
    assert (result.low, result.high) == (0.5, 1.0)
    assert result.estimate == 0.625  # the median of the Walsh averages


@pytest.mark.parametrize(
    ("allocation", "arms", "said"),
    [
        ("NA", 1, "(a single arm)"),
        ("RANDOMIZED", 2, "Allocation was random."),
        ("NON_RANDOMIZED", 2, "not random"),
    ],
)
def test_the_flow_figure_says_how_she_came_to_her_arm(
    allocation: str, arms: int, said: str
) -> None:
    """A single-arm trial's figure used to say allocation was by the investigators."""
    caption = render._flow_caption(allocation, arms, lambda message, **_: message)
    assert said in caption
