"""`endotrial screen` on the bundled example file, as the README shows it."""

import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from endotrial.cli import app

runner = CliRunner()
EXAMPLE = Path(__file__).parents[1] / "examples" / "candidates.csv"


def test_screen_lists_each_candidate_with_its_reasons() -> None:
    result = runner.invoke(app, ["screen", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "5 eligible, 17 ineligible, 7 incomplete, 1 invalid" in result.output
    lines = {line.split()[2]: line for line in result.output.splitlines() if "  row " in line}
    assert "excluded by E10" in lines["SC-018"]
    assert "rules out the stem-cell arm's procedure" in lines["SC-022"]
    assert "column weight_kg: '-60'" in lines["SC-028"]


def test_screen_writes_parquet_and_json(tmp_path: Path) -> None:
    out = tmp_path / "results.parquet"
    result = runner.invoke(app, ["screen", str(EXAMPLE), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 30
    decisions = [row["decision"] for row in json.loads(result.stdout)["candidates"]]
    assert decisions == table.column("decision").to_pylist()


def test_screen_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    result = runner.invoke(app, ["screen", str(empty)])
    assert result.exit_code == 2
    assert "empty.csv" in result.output


def test_screen_table_shows_a_row_without_an_id(tmp_path: Path) -> None:
    """A trailing row of only commas (spreadsheets write them) is listed as invalid, no crash."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    header = lines[0]
    candidates = tmp_path / "candidates.csv"
    blank = "," * header.count(",")
    candidates.write_text("\n".join([header, lines[1], blank]) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["screen", str(candidates)])
    assert result.exit_code == 0, result.output
    row_lines = [line for line in result.output.splitlines() if "  row " in line]
    assert "(no id)" in row_lines[1] and "invalid" in row_lines[1]
    assert "2 candidates screened" in result.output


def test_screen_summary_reads_as_english(tmp_path: Path) -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    single = tmp_path / "one.csv"
    single.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["screen", str(single)])
    assert result.exit_code == 0, result.output
    assert "1 candidate screened" in result.output
    assert "I1 to confirm at enrolment: consent record (enrolment is refused" in result.output
    assert "((" not in result.output and "))" not in result.output


def test_screen_refuses_an_output_format_it_cannot_write(tmp_path: Path) -> None:
    out = tmp_path / "results.xlsx"
    result = runner.invoke(app, ["screen", str(EXAMPLE), "--out", str(out)])
    assert result.exit_code == 2
    assert "'.xlsx'" in result.output and ".csv" in result.output and ".parquet" in result.output
    assert not out.exists()
