"""`endotrial db upgrade | status`, and refusing to work on a database of an older schema."""

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.errors import EndotrialError
from endotrial.store import (
    head_revision,
    make_engine,
    open_trial_database,
    upgrade_database,
)

runner = CliRunner()


def test_upgrade_creates_an_empty_trial_database_then_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    created = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert created.exit_code == 0, created.output
    assert f"revision none (empty) → {head_revision()}" in created.output
    again = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert f"already at revision {head_revision()}" in again.output
    status = runner.invoke(app, ["db", "status", "--database", url])
    assert status.exit_code == 0 and "up to date" in status.output
    open_trial_database(url).dispose()


def test_an_older_database_is_refused_until_upgraded_with_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade_database(url, revision="0001")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO sites (id, version, code, name) VALUES (1, 1, 'A', 'B')")
        )
    engine.dispose()
    status = runner.invoke(app, ["db", "status", "--database", url])
    assert status.exit_code == 1 and "revision 0001 (needs `endotrial db upgrade`" in status.output
    with pytest.raises(EndotrialError, match=r"revision 0001 .*back it up, then run"):
        open_trial_database(url)
    upgraded = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert f"revision 0001 → {head_revision()}" in upgraded.output
    engine = open_trial_database(url)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT name FROM sites")) == "B"
    engine.dispose()


def test_status_of_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "status", "--database", f"sqlite:///{tmp_path}/no.db"])
    assert result.exit_code == 2 and "endotrial db upgrade" in result.output


def test_a_database_of_a_newer_release_is_refused_clearly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(EndotrialError, match=r"revision 0099, which this endotrial .* does not"):
        open_trial_database(url)
    result = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert result.exit_code == 2 and "made by a newer release" in result.output
    status = runner.invoke(app, ["db", "status", "--database", url])
    assert status.exit_code == 1 and "made by a newer endotrial" in status.output


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "status"], ["audit", "verify"]])
@pytest.mark.parametrize("given", ["endotrial.db", "nonsense"])
def test_a_path_instead_of_a_url_is_a_clear_error(
    command: list[str], given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*command, "--database", given])
    assert result.exit_code == 2, result.output
    assert f"database '{given}' is not a database URL" in result.output
    assert "sqlite:///endotrial.db" in result.output and "postgresql+psycopg://" in result.output
    assert not list(tmp_path.iterdir()), "nothing is created"


def test_a_path_in_the_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENDOTRIAL_DATABASE_URL", "endotrial.db")
    for command in (["db", "status"], ["demo"], ["audit", "history", "sites", "1", "name"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "'endotrial.db' (from ENDOTRIAL_DATABASE_URL) is not a database URL" in (
            result.output
        )


def test_an_unreachable_server_names_the_host_never_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Port 1 on this machine refuses at once: no server, no wait."""
    monkeypatch.chdir(tmp_path)
    url = "postgresql+psycopg://trialuser:s3cret-pw@127.0.0.1:1/trial"
    for command in (["db", "upgrade"], ["db", "status"], ["audit", "verify"], ["demo"]):
        result = runner.invoke(app, [*command, "--database", url])
        assert result.exit_code == 2, (command, result.output)
        assert "cannot connect to the postgresql database 'trial' on 127.0.0.1:1" in (
            result.output
        ), command
        assert "user 'trialuser'" in result.output and "server is running" in result.output
        assert "s3cret" not in result.output
        assert "Traceback" not in result.output


def test_a_sqlite_file_in_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no-such-folder' / 'trial.db'}"
    result = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert result.exit_code == 2, result.output
    assert "cannot open the SQLite database" in result.output
    assert "check that its folder exists" in result.output


def test_status_names_the_protocol_the_database_runs(tmp_path: Path) -> None:
    from endotrial.protocol import load_protocol
    from endotrial.services import SiteInput, TeamMember, open_study, set_up_study
    from endotrial.store import Role

    url = f"sqlite:///{tmp_path / 'trial.db'}"
    upgrade_database(url)
    before = runner.invoke(app, ["db", "status", "--database", url])
    assert "runs no recorded protocol yet" in before.output
    engine = make_engine(url)
    first = TeamMember(
        username="pi1", full_name="PI", role=Role.INVESTIGATOR, password="a long passphrase"
    )
    set_up_study(
        open_study(engine, load_protocol("nct07176143")), SiteInput(code="GZ6", name="Sixth"), first
    )
    engine.dispose()
    after = runner.invoke(app, ["db", "status", "--database", url])
    assert after.exit_code == 0, after.output
    assert "runs protocol nct07176143 (format 2, content sha256 " in after.output
