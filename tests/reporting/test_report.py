"""The analysis report of the demo trial: numbers, reproducibility, files and the command."""

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from endotrial.analysis.proportions import TwoGroups, risk_difference_newcombe
from endotrial.analysis.results import results_frame
from endotrial.analysis.sets import apply_analysis_plan
from endotrial.cli import app
from endotrial.protocol import Protocol
from endotrial.protocol.models import Covariate
from endotrial.reporting.compute import RD_NEWCOMBE, Analysis, Settings, compute_analysis
from endotrial.reporting.dataset_build import AnalysisDataset
from endotrial.reporting.render import render_html, write_report

#: Few resamples and imputations: the tests check wiring and reproducibility, not precision.
QUICK = Settings(seed=11, n_bootstrap=200, n_imputations=3, burn_in=3)


def test_the_primary_analysis_counts_the_full_analysis_set(
    analysis: Analysis, demo_dataset: AnalysisDataset
) -> None:
    fas = demo_dataset.participants
    pregnant = fas["clinical_pregnancy"].astype("boolean").fillna(False)
    by_arm = pregnant.groupby(fas["arm"]).sum()
    rates = analysis.rates[analysis.rates["outcome"] == "clinical pregnancy"].set_index("arm")
    # Composite strategy: withdrawals before the outcome count as no pregnancy, so every
    # allocated woman is in the denominator.
    totals, events = rates["total"].to_dict(), rates["events"].to_dict()
    assert totals == {"hbmsc": 30, "control": 30}
    assert events["hbmsc"] == by_arm["hbmsc"]
    expected = risk_difference_newcombe(
        TwoGroups(int(by_arm["hbmsc"]), 30, int(by_arm["control"]), 30, "hbmsc", "control")
    )
    assert dict(analysis.primary.results)[RD_NEWCOMBE] == expected
    labels = [label for label, _r in analysis.primary.results]
    for expected_label in (
        "Adjusted, g-computation (bootstrap)",
        "Adjusted, inverse-probability weighting",
        "Sensitivity: missing covariates imputed (MICE)",
        "Sensitivity: per-protocol set",
        "Boschloo's exact test",
    ):
        assert expected_label in labels


def test_the_same_settings_give_the_same_numbers(
    analysis: Analysis, demo_dataset: AnalysisDataset, seed_protocol: Protocol
) -> None:
    again = compute_analysis(demo_dataset, seed_protocol, QUICK)
    first = results_frame(r for _l, r in analysis.primary.results)
    pd.testing.assert_frame_equal(first, results_frame(r for _l, r in again.primary.results))
    other_seed = compute_analysis(
        demo_dataset, seed_protocol, Settings(seed=12, n_bootstrap=200, n_imputations=3)
    )
    bootstrap = dict(analysis.primary.results)["Adjusted, g-computation (bootstrap)"]
    assert dict(other_seed.primary.results)["Adjusted, g-computation (bootstrap)"] != bootstrap


def test_the_report_records_what_makes_it_reproducible(analysis: Analysis) -> None:
    page = render_html(analysis, generated_on=dt.date(2026, 12, 1))
    assert analysis.dataset.protocol_sha256 in page
    assert "participants 60" in page and "screenings 150" in page
    assert "seed 11" in page and "200 bootstrap resamples" in page
    assert "What 30 against 30 can and cannot show" in page
    assert page.count("<img src='data:image/png;base64,") == 4
    # No arm id in place of its name in the tables the board reads.
    assert "hbmsc: participants" not in page
    assert page == render_html(analysis, generated_on=dt.date(2026, 12, 1))


def test_files_are_written(analysis: Analysis, tmp_path: Path) -> None:
    files = write_report(analysis, tmp_path / "out", banner="SYNTHETIC", pdf=True)
    assert files.pdf is not None and files.pdf.read_bytes().startswith(b"%PDF")
    csvs = {p.name for p in files.csv_folder.iterdir()}
    assert {"dataset_participants.csv", "dataset_column_dictionary.csv", "flow.csv"} <= csvs
    assert "results_primary_outcome_clinical_pregnancy_after_the_first_transfer.csv" in csvs
    participants = pd.read_csv(files.csv_folder / "dataset_participants.csv")
    assert len(participants) == 60 and "birth_date" not in participants.columns


def test_the_command_writes_the_report(demo_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["analyse", "--database", demo_url, "--out", str(tmp_path / "r"), "--no-pdf",
         "--bootstrap", "200", "--imputations", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "participants 60" in result.output
    assert (tmp_path / "r" / "report.html").exists()
    assert not (tmp_path / "r" / "report.pdf").exists()


def test_report_is_the_command_and_analyse_its_hidden_former_name(
    demo_url: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app,
        ["report", "--database", demo_url, "--out", str(tmp_path / "r"), "--no-pdf",
         "--bootstrap", "200", "--imputations", "2", "--lang", "zh"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "lang='zh-Hans'" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    listed = {c.name for c in app.registered_commands if not c.hidden}
    assert "report" in listed and "analyse" not in listed
    assert "analyse" in {c.name for c in app.registered_commands}


def test_the_command_refuses_bad_options_and_a_missing_database(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["analyse", "--database", f"sqlite:///{tmp_path}/none.db"])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["analyse", "--bootstrap", "10"])
    assert result.exit_code == 2 and "--bootstrap" in result.output


def test_a_text_covariate_enters_the_models_as_indicators(
    demo_dataset: AnalysisDataset, seed_protocol: Protocol
) -> None:
    older = Covariate(
        name="age_group", expression="CASE WHEN age_years >= 33 THEN 'older' ELSE 'younger' END"
    )
    plan = seed_protocol.analysis_plan.model_copy(update={"covariates": [older]})
    protocol = seed_protocol.model_copy(update={"analysis_plan": plan})
    participants = apply_analysis_plan(demo_dataset.participants, protocol)
    assert set(participants["age_group"].dropna()) == {"older", "younger"}
    dataset = dataclasses.replace(demo_dataset, participants=participants)
    result = dict(compute_analysis(dataset, protocol, QUICK).primary.results)
    g_formula = result["Adjusted, g-computation (bootstrap)"]
    assert g_formula.estimate is not None and "age_group" in g_formula.notes[0]
