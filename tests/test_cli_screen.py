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
