"""`endotrial protocol ...` as a user runs it."""

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
    bad.write_text("protocol_id: x\nformat_version: 2\n", encoding="utf-8")
    result = runner.invoke(app, ["protocol", "validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2: format_version:" in result.output


def test_protocol_show_json_round_trips() -> None:
    result = runner.invoke(app, ["protocol", "show", "--json"])
    assert result.exit_code == 0
    assert '"nct_id": "NCT07176143"' in result.output
