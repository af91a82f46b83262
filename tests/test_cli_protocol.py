"""`endotrial protocol ...` as a user runs it."""

import csv
from pathlib import Path

from typer.testing import CliRunner

from endotrial.cli import app

runner = CliRunner()


def test_protocol_list_names_the_seed() -> None:
    result = runner.invoke(app, ["protocol", "list"])
    assert result.exit_code == 0
    assert "nct07176143\tNCT07176143" in result.output


def test_protocol_show_gives_registry_facts_and_assumptions() -> None:
    result = runner.invoke(app, ["protocol", "show", "nct07176143", "--assumptions"])
    assert result.exit_code == 0
    for fact in ("2024ZSLYFEC-013", "60 participants", "Seldinger", "GAP     exclusion 1"):
        assert fact in result.output
    assert "settings.transfer_thickness_min_mm: Commonly 7 mm" in result.output


def test_protocol_validate_reports_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("protocol_id: x\nformat_version: 3\n", encoding="utf-8")
    result = runner.invoke(app, ["protocol", "validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2: format_version:" in result.output


def test_protocol_show_json_round_trips() -> None:
    result = runner.invoke(app, ["protocol", "show", "--json"])
    assert result.exit_code == 0
    assert '"nct_id": "NCT07176143"' in result.output


def test_protocol_items_lists_the_columns_of_a_candidate_file() -> None:
    result = runner.invoke(app, ["protocol", "items", "nct07176143"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert "yyyy-mm-dd" in lines["screening_date"]
    assert "kg" in lines["weight_kg"] and "25 to 250" in lines["weight_kg"]
    assert "negative / positive" in lines["hiv_ab"]
    assert "yes/no" in lines["hydrosalpinx"] and "true/false" in lines["hydrosalpinx"]
    assert "computed when blank" in lines["age_years"]
    assert next(iter(lines)) == "candidate_id"


def test_protocol_items_template_is_a_header_the_screen_command_reads(tmp_path: Path) -> None:
    template = tmp_path / "candidates.csv"
    result = runner.invoke(app, ["protocol", "items", "--template", str(template)])
    assert result.exit_code == 0, result.output
    header = template.read_text(encoding="utf-8").splitlines()
    assert len(header) == 1 and header[0].split(",")[0] == "candidate_id"
    example = Path(__file__).parents[1] / "examples" / "candidates.csv"
    with example.open(encoding="utf-8", newline="") as handle:
        first = next(csv.DictReader(handle))
    assert set(header[0].split(",")) >= set(first)
    with template.open("a", encoding="utf-8", newline="") as handle:
        csv.DictWriter(handle, fieldnames=header[0].split(",")).writerow(first)
    screened = runner.invoke(app, ["screen", str(template)])
    assert screened.exit_code == 0, screened.output
    assert "1 candidate screened" in screened.output and "SC-001" in screened.output
    again = runner.invoke(app, ["protocol", "items", "--template", str(template)])
    assert again.exit_code == 2 and "already exists" in again.output
    not_csv = runner.invoke(app, ["protocol", "items", "--template", str(tmp_path / "c.xlsx")])
    assert not_csv.exit_code == 2 and ".csv" in not_csv.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("endotrial ") and result.output.strip() != "endotrial"


def test_protocol_option_help_names_the_default() -> None:
    result = runner.invoke(app, ["dose", "--help"], terminal_width=200)
    assert "nct07176143" in result.output and "default: seed" not in result.output
