"""`endotrial db backup | restore`, and damage reported as damage by every command that opens
the database, with the services refusing to write into a damaged file."""

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.protocol import Protocol, load_protocol
from endotrial.services import (
    SiteInput,
    Study,
    TeamMember,
    add_site,
    open_study,
    set_up_study,
    sign_in,
)
from endotrial.store import Role, StoreError, make_engine, passwords

runner = CliRunner()
PASSWORD = "a long passphrase"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2's production cost is not what these tests are about."""
    monkeypatch.setattr(
        passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol()


@pytest.fixture
def trial(tmp_path: Path, sqlite_template: Path, protocol: Protocol) -> Path:
    """A trial database set up through the services (a site, the investigator)."""
    path = tmp_path / "trial.db"
    shutil.copyfile(sqlite_template, path)
    shutil.copyfile(f"{sqlite_template}.key", f"{path}.key")
    engine = make_engine(f"sqlite:///{path}")
    study = open_study(engine, protocol)
    investigator = TeamMember(
        username="pi1", full_name="PI", role=Role.INVESTIGATOR, password=PASSWORD
    )
    pi = set_up_study(study, SiteInput(code="SYSU6", name="Sixth Affiliated"), investigator)
    for n in range(3):
        add_site(study, pi, SiteInput(code=f"S{n}", name=f"Site {n}"))
    engine.dispose()
    return path


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_backup_then_restore_over_a_damaged_database(trial: Path, tmp_path: Path) -> None:
    dest = tmp_path / "backups" / "trial-backup.db"
    dest.parent.mkdir()
    made = runner.invoke(app, ["db", "backup", str(dest), "--database", _url(trial)])
    assert made.exit_code == 0, made.output
    assert f"backup written: {dest} (audit entries 1–" in made.output
    assert "audit trail intact" in made.output and "MACs checked" in made.output
    assert "data match the audit trail" in made.output
    assert "the key file is not in the backup" in made.output
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name, f"{dest.name}.checkpoints"]
    again = runner.invoke(app, ["db", "backup", str(dest), "--database", _url(trial)])
    assert again.exit_code == 2 and "exists: give --force" in again.output

    # A monitor verifies the backup on its own: read-only, with the checkpoints beside it.
    dest.chmod(0o400)
    monitor = runner.invoke(
        app, ["audit", "verify", "--database", _url(dest), "--checkpoints", f"{dest}.checkpoints"]
    )
    assert monitor.exit_code == 3, monitor.output  # intact; MACs need the key file
    assert "audit trail intact" in monitor.output

    _overwrite_middle(trial)
    broken = runner.invoke(app, ["audit", "verify", "--database", _url(trial)])
    assert broken.exit_code == 2 and "restore the last backup" in broken.output
    restored = runner.invoke(
        app, ["db", "restore", str(dest), "--database", _url(trial), "--force"]
    )
    assert restored.exit_code == 0, restored.output
    assert f"restored {dest} to {trial}" in restored.output
    assert "the replaced database is kept as" in restored.output
    assert len(list(tmp_path.glob("trial.db.replaced-*"))) == 1
    intact = runner.invoke(app, ["audit", "verify", "--database", _url(trial)])
    assert intact.exit_code == 0, intact.output


def test_restore_says_what_would_be_lost_and_refuses(
    trial: Path, tmp_path: Path, protocol: Protocol
) -> None:
    dest = tmp_path / "monday.db"
    assert runner.invoke(app, ["db", "backup", str(dest), "--database", _url(trial)]).exit_code == 0
    engine = make_engine(_url(trial))
    study = open_study(engine, protocol)
    add_site(study, sign_in(study, "pi1", PASSWORD), SiteInput(code="LATE", name="Added later"))
    engine.dispose()
    refused = runner.invoke(app, ["db", "restore", str(dest), "--database", _url(trial), "--force"])
    assert refused.exit_code == 2
    assert "the backup ends at entry " in refused.output
    assert "acknowledged entries would be lost" in refused.output
    assert "--accept-loss" in refused.output and "Traceback" not in refused.output
    accepted = runner.invoke(
        app, ["db", "restore", str(dest), "--database", _url(trial), "--force", "--accept-loss"]
    )
    assert accepted.exit_code == 0, accepted.output
    assert "LOST: " in accepted.output and "accepted" in accepted.output
    assert "the checkpoint log that signed the lost entries is kept as" in accepted.output
    intact = runner.invoke(app, ["audit", "verify", "--database", _url(trial)])
    assert intact.exit_code == 0, intact.output


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _overwrite_middle(path: Path) -> None:
    """Garbage over a few pages in the middle of the file (a disk fault)."""
    with path.open("r+b") as file:
        file.seek(path.stat().st_size // 2 // 4096 * 4096)
        file.write(bytes(range(256)) * 16 * 3)


def _not_sqlite(path: Path) -> None:
    path.write_text("participant,arm\nP001,hbmsc\n" * 200)


DAMAGE = {"truncated": _truncate, "overwritten page": _overwrite_middle, "not SQLite": _not_sqlite}


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize(
    "command", [["audit", "verify"], ["db", "status"], ["db", "backup", "BACKUP"]]
)
def test_damage_is_reported_as_damage(
    trial: Path, tmp_path: Path, damage: str, command: list[str]
) -> None:
    DAMAGE[damage](trial)
    args = [str(tmp_path / "backup.db") if part == "BACKUP" else part for part in command]
    result = runner.invoke(app, [*args, "--database", _url(trial)])
    assert result.exit_code == 2, result.output
    assert "is damaged" in result.output and "restore the last backup" in result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert not (tmp_path / "backup.db").exists()


@pytest.mark.parametrize("damage", DAMAGE)
def test_the_services_write_nothing_into_a_damaged_database(
    trial: Path, protocol: Protocol, damage: str
) -> None:
    engine = make_engine(_url(trial))
    study = open_study(engine, protocol)
    pi = sign_in(study, "pi1", PASSWORD)
    engine.dispose()
    DAMAGE[damage](trial)
    before = hashlib.sha256(trial.read_bytes()).hexdigest()
    engine = make_engine(_url(trial))
    try:
        with pytest.raises(StoreError, match=r"is damaged .* restore the last backup") as refused:
            open_study(engine, protocol)
        assert refused.value.code == "store.damaged"
        with pytest.raises(StoreError, match=r"is damaged"):  # a Study made without open_study
            add_site(Study(engine, protocol), pi, SiteInput(code="NEW", name="New site"))
    finally:
        engine.dispose()
    assert hashlib.sha256(trial.read_bytes()).hexdigest() == before
    assert not Path(f"{trial}-wal").exists() or Path(f"{trial}-wal").stat().st_size == 0
