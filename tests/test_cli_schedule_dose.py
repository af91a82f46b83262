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


def test_schedule_ics_for_one_participant(tmp_path: Path) -> None:
    args = ["schedule", "--arm", "control", "--cycle-start", "2026-01-05", "--format", "ics"]
    result = runner.invoke(app, [*args, "--participant", "P-017"])
    assert result.exit_code == 0, result.output
    events = list(Calendar.from_ical(result.stdout.encode()).walk("VEVENT"))
    assert all(str(e["UID"]).startswith("nct07176143-control-P-017-20260105-") for e in events)
    assert all(str(e["SUMMARY"]).startswith("P-017: ") for e in events)
    table = runner.invoke(app, [*args[:5], "--participant", "P-017"])
    assert table.exit_code == 0 and "participant P-017" in table.output.splitlines()[0]
    named = runner.invoke(app, [*args, "--participant", "Li Na"])
    assert named.exit_code == 2 and "never her name" in named.output


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


def test_dose_refuses_an_unknown_release_word_and_a_fractional_viability() -> None:
    neg = runner.invoke(app, ["dose", "--weight-kg", "58", "--release", "sterility=neg"])
    assert neg.exit_code == 2, neg.output
    assert "did you mean 'negative'?" in neg.output
    fraction = runner.invoke(app, ["dose", "--weight-kg", "58", "--viability-pct", "0.92"])
    assert fraction.exit_code == 2, fraction.output
    assert "did you mean 92?" in fraction.output


def test_dose_text_lists_the_release_ids_to_give() -> None:
    result = runner.invoke(app, ["dose", "--weight-kg", "58", "--viability-pct", "92"])
    assert result.exit_code == 0, result.output
    for criterion_id in ("viability_pct", "sterility", "endotoxin_eu_ml", "cd105_pct"):
        assert f"  {criterion_id}  " in result.output
    assert "--release ID=VALUE" in result.output
    assert "--release sterility=negative" in result.output


def test_dose_refuses_a_result_given_twice_and_an_impossible_one() -> None:
    """Issue 6, finding 3: sterility=positive then sterility=negative showed a pass."""
    twice = ["--release", "sterility=positive", "--release", "sterility=negative"]
    result = runner.invoke(app, ["dose", "--weight-kg", "58", *twice])
    assert result.exit_code == 2, result.output
    assert "sterility is given twice" in result.output
    for impossible in ("endotoxin_eu_ml=-1", "cd105_pct=150"):
        result = runner.invoke(app, ["dose", "--weight-kg", "58", "--release", impossible])
        assert result.exit_code == 2, result.output
        assert "impossible" in result.output
