"""`endotrial schedule` and `endotrial dose` as a user runs them."""

import json
from pathlib import Path

from icalendar import Calendar
from typer.testing import CliRunner

from endotrial.cli import app

runner = CliRunner()


def test_schedule_table_has_the_infusion_on_day_10() -> None:
    result = runner.invoke(app, ["schedule", "--arm", "hbmsc", "--cycle-start", "2026-01-05"])
    assert result.exit_code == 0, result.output
    infusion = next(line for line in result.output.splitlines() if "infusion of hBMSC" in line)
    assert infusion.startswith("2026-01-14") and "treatment 10" in infusion


def test_schedule_json_moves_with_an_actual_transfer() -> None:
    args = ["schedule", "--arm", "control", "--cycle-start", "2026-01-05", "--format", "json"]
    result = runner.invoke(app, [*args, "--actual", "embryo_transfer=2026-03-02"])
    assert result.exit_code == 0, result.output
    events = {event["id"]: event for event in json.loads(result.output)}
    assert events["beta_hcg"]["date"] == "2026-03-14"
    assert "hbmsc_infusion" not in events


def test_schedule_ics_file_imports(tmp_path: Path) -> None:
    out = tmp_path / "hbmsc.ics"
    args = ["schedule", "--arm", "hbmsc", "--cycle-start", "2026-01-05", "--format", "ics"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    calendar = Calendar.from_ical(out.read_bytes())
    summaries = [str(event["SUMMARY"]) for event in calendar.walk("VEVENT")]
    assert "Uterine-artery infusion of hBMSC" in summaries


def test_schedule_bad_date_is_a_clear_error() -> None:
    result = runner.invoke(app, ["schedule", "--arm", "hbmsc", "--cycle-start", "05/01/2026"])
    assert result.exit_code == 2
    assert "--cycle-start: '05/01/2026' is not a date; write YYYY-MM-DD" in result.output


def test_schedule_unknown_arm() -> None:
    result = runner.invoke(app, ["schedule", "--arm", "placebo", "--cycle-start", "2026-01-05"])
    assert result.exit_code == 2 and "placebo" in result.output


def test_dose_json_for_60_kg() -> None:
    result = runner.invoke(app, ["dose", "--weight-kg", "60", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["dose_viable_cells"] == 6e7
    assert plan["viable_concentration_cells_per_ml"] == 4e6
    assert plan["volume_ml"] == 15


def test_dose_release_results_and_weight_limits() -> None:
    args = ["dose", "--weight-kg", "58", "--release", "sterility=positive", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["released"] is False
    too_heavy = runner.invoke(app, ["dose", "--weight-kg", "120"])
    assert too_heavy.exit_code == 2 and "35–90 kg" in too_heavy.output
