"""`endotrial dashboard`: the read side's counts for a signed-in team member, from the CLI."""

import datetime as dt

import pytest
from services_helpers import (
    COORDINATOR,
    DAY_10,
    MONITOR,
    PASSWORD,
    TREATMENT_START,
    allocated,
    set_up_trial,
)
from sqlalchemy import Engine
from two_sites import add_site_b, screen_at
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.cli.read_commands import PASSWORD_ENV
from endotrial.protocol import Protocol
from endotrial.services import AdverseEventInput, report_adverse_event

runner = CliRunner()


def test_the_dashboard_shows_the_readers_sites_and_the_visits_due(
    engine: Engine, seed_protocol: Protocol, monkeypatch: pytest.MonkeyPatch
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    event = AdverseEventInput(
        participant_id=pid, term="Hematoma", ctcae_grade=3, serious=True, onset_date=DAY_10
    )
    report_adverse_event(trial.study, trial.actor(COORDINATOR), event)
    site_b = add_site_b(trial)
    screen_at(trial, site_b.coordinator, site_b.site_id, "b1")
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    on = (TREATMENT_START + dt.timedelta(days=7)).isoformat()
    args = ["dashboard", "--user", MONITOR, "--database", url, "--on", on, "--visits", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"dashboard on {on}: enrolled 1 of 60 (control 0, hbmsc 1)" in result.output
    assert "site GZ6: screened 1 (1 eligible)" in result.output
    assert "SZ2" not in result.output  # site B's screening is not hers
    assert "GZ6-001 Hematoma" in result.output and "past due" in result.output
    assert "Uterine-artery infusion of hBMSC" in result.output  # day 10, within 2 days


def test_a_wrong_password_is_refused_clearly(
    engine: Engine, seed_protocol: Protocol, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_up_trial(engine, seed_protocol)
    monkeypatch.setenv(PASSWORD_ENV, "not the password")
    url = engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["dashboard", "--user", MONITOR, "--database", url])
    assert result.exit_code == 2
    assert "username or password is wrong" in result.output
    assert "Traceback" not in result.output
