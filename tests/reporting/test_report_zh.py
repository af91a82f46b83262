"""The report in Simplified Chinese (`--lang zh`): every text of its own translated, numbers
and the protocol's own texts as they are, Chinese glyphs in the PDF and the figures."""

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.errors import InputError
from endotrial.protocol.analysis_values import readable_names
from endotrial.reporting import catalogue, figures
from endotrial.reporting.compute import Analysis
from endotrial.reporting.i18n import Translator
from endotrial.reporting.render import render_html, write_report

DAY = dt.date(2026, 12, 1)
ZH = Translator("zh")
_HEADING = re.compile(r"<(h1|h2|h3|th|figcaption)>(.*?)</\1>", re.DOTALL)
_HAN = re.compile(r"[\u4e00-\u9fff]")


def _headings(page: str) -> list[str]:
    return [text for _tag, text in _HEADING.findall(page)]


def _protocol_texts(analysis: Analysis) -> list[str]:
    """Texts the protocol gives (shown as it gives them in both languages)."""
    items = readable_names(analysis.protocol).values()
    return [*analysis.arm_labels.values(), *(item.label for item in items)]


def test_the_chinese_report_leaves_no_english_heading(analysis: Analysis) -> None:
    english = render_html(analysis, generated_on=DAY)
    chinese = render_html(analysis, generated_on=DAY, language="zh")
    assert "<html lang='zh-Hans'>" in chinese and "Noto Sans CJK SC" in chinese
    for heading in ("主要结果", "受试者流程（TREND）", "基线特征（全分析集）", "可重复性",
                    "主要结局：首次移植后的临床妊娠", "严重不良事件列表"):  # fmt: skip
        assert f">{heading}<" in chinese
    protocol_texts = _protocol_texts(analysis)
    english_headings = {
        h for h in _headings(english) if re.search("[A-Za-z]{2,}", h)
        and not any(text in h for text in protocol_texts)
    }  # fmt: skip
    assert len(english_headings) > 40  # the list is real: titles, column heads, captions
    left = english_headings & set(_headings(chinese))
    assert not left, f"English headings left in the Chinese report: {sorted(left)}"


def test_numbers_and_the_protocols_texts_are_unchanged(analysis: Analysis) -> None:
    chinese = render_html(analysis, generated_on=DAY, language="zh")
    english = render_html(analysis, generated_on=DAY)
    for number in ("+16.7", "7/30", "23.3%", "0.145", analysis.dataset.protocol_sha256):
        assert number in english and number in chinese
    for label in analysis.arm_labels.values():
        assert label in chinese
    assert analysis.protocol.identity.brief_title in chinese


def test_every_label_note_and_title_of_the_analysis_is_translated(analysis: Analysis) -> None:
    sections = (analysis.primary, analysis.secondary, analysis.safety, analysis.monitoring)
    texts = [
        *(s.title for s in sections),
        *(label for s in sections for label, _r in s.results),
        *(title for s in sections for title in s.tables),
        *(note for s in sections for note in s.notes),
        *analysis.design,
        *(label for label, _r in analysis.forest),
    ]
    untranslated = [text for text in texts if not _HAN.search(ZH.text(text))]
    assert not untranslated


def test_texts_built_elsewhere_are_read_back_through_their_templates() -> None:
    assert ZH.text("rate, Stem cell therapy group") == "率，Stem cell therapy group"
    assert ZH.text("live birth (per woman), risk difference") == "活产（以受试者计），率差"
    assert ZH.text("5 women still in follow-up (outcome unknown) left out").startswith("5 名")
    assert ZH.method("Wilson score; 7/30") == "Wilson 得分法；7/30"
    assert ZH.text("no message is like this one") == "no message is like this one"


def test_every_message_of_the_report_has_a_chinese_translation() -> None:
    messages = [m for m in catalogue.extracted() if m.id]
    assert len(messages) > 150
    assert catalogue.missing("zh") == []
    po = catalogue.po_path("zh").read_text(encoding="utf-8")
    assert "#, fuzzy" not in po and "#, python-brace-format, fuzzy" not in po


def test_every_translation_keeps_the_placeholders_of_its_message() -> None:
    placeholder = re.compile(r"\{(\w*)\}")
    for message in catalogue.read_catalogue("zh"):
        if message.id:
            expected = sorted(placeholder.findall(str(message.id)))
            assert sorted(placeholder.findall(str(message.string))) == expected, message.id


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_the_chinese_pdf_holds_chinese_text(analysis: Analysis, tmp_path: Path) -> None:
    files = write_report(analysis, tmp_path / "zh", language="zh", generated_on=DAY)
    assert files.pdf is not None
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(files.pdf), "-"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "统计分析报告" in text and "主要结果" in text and "第 1 页，共" in text
    # The CSVs stay machine-readable: English column names in every language.
    assert "column" in (files.csv_folder / "dataset_column_dictionary.csv").read_text()[:200]


def test_an_unknown_language_is_refused_naming_those_offered(demo_url: str) -> None:
    result = CliRunner().invoke(app, ["report", "--database", demo_url, "--lang", "fr"])
    assert result.exit_code == 2
    assert "--lang fr" in result.output and "en (English)" in result.output
    assert "zh (简体中文)" in result.output
    with pytest.raises(InputError, match=r"en \(English\), zh"):
        Translator("de")


def test_a_missing_chinese_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    figures.check_font.cache_clear()
    monkeypatch.setitem(figures.FONTS, "zh", ("No Such CJK Font", "DejaVu Sans"))
    try:
        with pytest.raises(InputError, match="install Debian's fonts-noto-cjk"):
            figures.check_font("zh")
    finally:
        figures.check_font.cache_clear()


def test_the_chinese_figures_are_drawn_in_a_chinese_font(analysis: Analysis) -> None:
    assert figures.check_font("zh") == "Noto Sans CJK SC"
    labels = analysis.arm_labels
    chinese = figures.flow_diagram(analysis.flow, labels=labels, t=ZH)
    assert chinese.startswith(b"\x89PNG") and chinese != figures.flow_diagram(
        analysis.flow, labels=labels
    )
