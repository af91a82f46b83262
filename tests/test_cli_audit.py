"""`endotrial audit verify | history` on a real SQLite file, tampered with by raw SQL."""

from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.protocol import load_protocol
from endotrial.services import (
    SiteInput,
    TeamMember,
    add_user,
    open_study,
    set_account_active,
    set_up_study,
)
from endotrial.store import Role, make_engine, upgrade_database

runner = CliRunner()


def _database_with_history(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'trial.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    study = open_study(engine, load_protocol())
    investigator = TeamMember(
        username="pi1", full_name="PI", role=Role.INVESTIGATOR, password="a long passphrase"
    )
    pi = set_up_study(
        study, SiteInput(code="SYSU6", name="Sixth Affiliated Hospital"), investigator
    )
    coordinator = TeamMember(
        username="coord1",
        full_name="Coordinator",
        role=Role.COORDINATOR,
        password="coordinator passphrase",
        site_id=1,
    )
    add_user(study, pi, coordinator)  # users #2
    set_account_active(study, pi, "coord1", active=False, reason="left the study team")
    engine.dispose()
    return url


def test_verify_passes_then_finds_a_raw_sql_edit(tmp_path: Path) -> None:
    url = _database_with_history(tmp_path)
    intact = runner.invoke(app, ["audit", "verify", "--database", url])
    assert intact.exit_code == 0 and "audit trail intact" in intact.output

    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TRIGGER audit_log_no_update"))  # as an attacker would
        connection.execute(text("UPDATE audit_log SET new_value = '\"Forged\"' WHERE seq = 2"))
    engine.dispose()
    broken = runner.invoke(app, ["audit", "verify", "--database", url])
    assert broken.exit_code == 1
    assert "audit trail BROKEN" in broken.output
    assert "entry 2: its content does not match its hash" in broken.output


def test_history_shows_who_changed_what_and_why(tmp_path: Path) -> None:
    url = _database_with_history(tmp_path)
    result = runner.invoke(app, ["audit", "history", "users", "2", "active", "--database", url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert "pi1 insert" in lines[0]
    assert "pi1 update" in lines[1]
    assert "(account deactivated: left the study team)" in lines[1]


def test_verify_on_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    result = runner.invoke(app, ["audit", "verify", "--database", missing])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert not (tmp_path / "nope.db").exists()


def test_history_prints_values_as_a_reader_writes_them(tmp_path: Path) -> None:
    url = _database_with_history(tmp_path)
    result = runner.invoke(app, ["audit", "history", "users", "2", "active", "--database", url])
    assert result.exit_code == 0, result.output
    first, second = result.output.splitlines()
    assert "insert: (blank) → yes" in first
    assert "update: yes → no" in second
    assert "None" not in result.output and "True" not in result.output


def test_history_refuses_an_unknown_table_or_field(tmp_path: Path) -> None:
    url = _database_with_history(tmp_path)
    table = runner.invoke(app, ["audit", "history", "site", "1", "name", "--database", url])
    assert table.exit_code == 2
    assert "no audited table 'site' (did you mean 'sites'?)" in table.output
    assert "ultrasounds" in table.output
    field = runner.invoke(app, ["audit", "history", "sites", "1", "nmae", "--database", url])
    assert field.exit_code == 2
    assert "table sites has no field 'nmae' (did you mean 'name'?)" in field.output
    assert "code" in field.output
    row = runner.invoke(app, ["audit", "history", "sites", "one", "name", "--database", url])
    assert row.exit_code == 2 and "not a record id" in row.output


def test_history_says_when_there_is_nothing_to_show(tmp_path: Path) -> None:
    url = _database_with_history(tmp_path)
    missing = runner.invoke(app, ["audit", "history", "sites", "99", "name", "--database", url])
    assert missing.exit_code == 0, missing.output
    assert "no recorded changes of name for sites #99" in missing.output
    assert "holds no record sites #99" in missing.output


def test_verify_finds_data_changed_outside_the_application(tmp_path: Path) -> None:
    """The trail is intact but a site name was edited by raw SQL: verify says where, exit 1."""
    url = _database_with_history(tmp_path)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE sites SET name = 'Somewhere else'"))
    engine.dispose()
    result = runner.invoke(app, ["audit", "verify", "--database", url])
    assert result.exit_code == 1
    assert "audit trail intact" in result.output
    assert "sites #1 name: the trail says" in result.output and "'Somewhere else'" in result.output


def test_an_older_database_gets_its_chain_checked_before_the_upgrade(tmp_path: Path) -> None:
    """Back up, verify, then upgrade: the chain of a revision-0001 database is checked; the
    data are reconciled only once the schema is current."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade_database(url, revision="0001")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO sites (id, version, code, name) VALUES (1, 1, 'A', 'B')")
        )
    engine.dispose()
    result = runner.invoke(app, ["audit", "verify", "--database", url])
    assert result.exit_code == 3, result.output  # intact as far as could be checked
    assert "audit trail intact" in result.output and "data not reconciled" in result.output
    upgrade_database(url)
    after = runner.invoke(app, ["audit", "verify", "--database", url])
    assert after.exit_code == 1 and "added outside the application" in after.output
