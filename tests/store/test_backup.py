"""`store.backup`: a consistent copy of a live database, verified; a restore that says what it
would lose. Run on real SQLite files, with writers and backups in other processes."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from store_helpers import writes

import endotrial
from endotrial.store import (
    Participant,
    Site,
    StoreError,
    Ultrasound,
    make_engine,
    upgrade_database,
)
from endotrial.store.backup import (
    backup_database,
    backup_sqlite,
    chain_tip,
    checkpoints_beside,
    restore_database,
    restore_sqlite,
)
from endotrial.store.checkpoints import latest, read_checkpoints
from endotrial.store.engine import parse_database_url, read_only_engine
from endotrial.store.keys import KEY_FILE_ENV, TrialKeys, load_keys
from endotrial.store.verify import TrailReport, verify_trail

SOURCE = str(Path(endotrial.__file__).parents[1])
WRITER = Path(__file__).with_name("durability_writer.py")
ACKNOWLEDGED_BEFORE_BACKUP = 40
PROCESS_TIMEOUT_S = 120


def _verify(engine: Engine, keys: TrialKeys | None, files: Sequence[Path]) -> TrailReport:
    return verify_trail(engine, keys=keys, checkpoint_files=files)


@pytest.fixture
def trial(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite trial database with its key file beside it."""
    path = tmp_path / "trial.db"
    shutil.copyfile(sqlite_template, path)
    shutil.copyfile(f"{sqlite_template}.key", f"{path}.key")
    return f"sqlite:///{path}"


def _write_scans(engine: Engine, count: int) -> None:
    """`count` audited transactions (a scan each), every one signed into the checkpoint log."""
    with writes(engine, "writer") as session:
        site = session.scalar(select(Site)) or Site(code="GZ6", name="Sixth Affiliated Hospital")
        session.add(site)
        session.flush()
        participant = session.scalar(select(Participant)) or Participant(
            study_id="P001", site_id=site.id, status="enrolled"
        )
        session.add(participant)
        session.flush()
        participant_id = participant.id
    for n in range(count):
        with writes(engine, "writer") as session:
            scan = Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, 1))
            scan.thickness_mm = float(n + 1)
            session.add(scan)


def _keys(url: str) -> TrialKeys:
    return load_keys(Path(f"{url.removeprefix('sqlite:///')}.key"))


def _checkpointed_tip(url: str) -> int:
    newest = latest(read_checkpoints(_keys(url).checkpoint_file).checkpoints)
    assert newest is not None
    return newest.seq


def _scan_ids(path: Path) -> set[int]:
    engine = read_only_engine(f"sqlite:///{path}")
    try:
        with Session(engine) as session:
            return set(session.scalars(select(Ultrasound.id)))
    finally:
        engine.dispose()


def _tip(path: Path) -> int:
    engine = read_only_engine(f"sqlite:///{path}")
    try:
        return chain_tip(engine)[0]
    finally:
        engine.dispose()


def _backup(url: str, dest: Path, force: bool = False) -> None:
    backup_sqlite(parse_database_url(url), dest, force=force, verify=_verify)


def test_a_backup_of_a_database_another_process_writes_holds_every_acknowledged_write(
    trial: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCE, str(WRITER.parent)])}
    dest = tmp_path / "backups" / "during-writes.db"
    dest.parent.mkdir()
    with subprocess.Popen(
        [sys.executable, str(WRITER), trial], stdout=subprocess.PIPE, text=True, env=env
    ) as writer:
        assert writer.stdout is not None
        watchdog = threading.Timer(PROCESS_TIMEOUT_S, writer.kill)
        watchdog.start()
        acknowledged = [int(next(writer.stdout)) for _ in range(ACKNOWLEDGED_BEFORE_BACKUP)]
        _backup(trial, dest)  # while the writer goes on committing
        after = [int(next(writer.stdout)) for _ in range(5)]  # it was not blocked
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        watchdog.cancel()
        # Every write it acknowledged before it died: the pipe may still hold acknowledgements
        # written while the backup ran (the copy may hold their writes).
        after += [int(line) for line in writer.stdout]
    copied = _scan_ids(dest)
    assert set(acknowledged) <= copied  # nothing acknowledged before the backup is missing
    assert copied == set(range(min(copied), max(copied) + 1))  # one snapshot: a prefix, no holes
    assert max(copied) <= max(after) + 1  # at most the write in flight when the writer was killed
    # The copy is one self-contained rollback-journal file, owner-only, that verifies alone.
    assert dest.read_bytes()[18:20] == b"\x01\x01"
    assert not Path(f"{dest}-wal").exists()
    assert dest.stat().st_mode & 0o077 == 0
    engine = read_only_engine(f"sqlite:///{dest}")
    try:
        report = _verify(engine, _keys(trial), [checkpoints_beside(dest)])
    finally:
        engine.dispose()
    assert report.ok and report.checkpoints_checked > 0, str(report)
    assert not list(dest.parent.glob(".*partial*"))
    assert not Path(f"{dest}.key").exists()  # the key never travels with the backup


def _database_of(tmp_path: Path, trial: str, scans: int) -> str:
    engine = make_engine(trial)
    _write_scans(engine, scans)
    engine.dispose()
    return trial


def test_a_backup_killed_midway_leaves_the_previous_backup_intact(
    trial: str, tmp_path: Path
) -> None:
    _database_of(tmp_path, trial, 30)
    dest = tmp_path / "nightly.db"
    _backup(trial, dest)
    previous = dest.read_bytes()
    engine = make_engine(trial)
    _write_scans(engine, 5)
    engine.dispose()
    command = [sys.executable, "-c", "from endotrial.cli import main; main()", "db", "backup",
               str(dest), "--force", "--database", trial]  # fmt: skip
    with subprocess.Popen(command, env={**os.environ, "PYTHONPATH": SOURCE}) as backup:
        partial = _wait_for_partial(dest, backup)
        backup.send_signal(signal.SIGSTOP)  # frozen mid-way: the partial is not renamed yet
        midway = partial is not None and partial.exists()
        backup.send_signal(signal.SIGKILL)
        backup.wait(timeout=30)
    if midway:
        assert dest.read_bytes() == previous  # the previous backup, untouched
        assert partial is not None and partial.exists()  # the killed one's partial file stays
    _check_backup(trial, dest)  # whichever it is, it is whole and verifies
    _backup(trial, dest, force=True)  # the next backup removes the abandoned partial file
    assert not list(tmp_path.glob(".nightly.db.*"))
    assert len(_scan_ids(dest)) == 35


def _wait_for_partial(dest: Path, process: subprocess.Popen[bytes]) -> Path | None:
    """The backup's partial file once it appears (None if the backup ended first)."""
    waited = threading.Event()
    timer = threading.Timer(PROCESS_TIMEOUT_S, waited.set)
    timer.start()
    try:
        while not waited.is_set() and process.poll() is None:
            found = next(dest.parent.glob(f".{dest.name}.*.partial"), None)
            if found is not None:
                return found
            waited.wait(0.001)
    finally:
        timer.cancel()
    return None


def _check_backup(trial: str, dest: Path) -> None:
    engine = read_only_engine(f"sqlite:///{dest}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        report = _verify(engine, _keys(trial), [checkpoints_beside(dest)])
        assert report.ok, str(report)
    finally:
        engine.dispose()


def test_a_cp_of_the_live_database_without_its_wal_is_refused(
    trial: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = Path(trial.removeprefix("sqlite:///"))
    engine = make_engine(trial)
    try:
        _write_scans(engine, 10)
        with engine.connect() as connection:  # what SQLite does by itself now and then
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        _write_scans(engine, 15)  # acknowledged, still only in trial.db-wal
        assert Path(f"{path}-wal").stat().st_size > 0
        copied = tmp_path / "copied.db"
        shutil.copyfile(path, copied)  # `cp trial.db copied.db` while the trial runs
    finally:
        engine.dispose()
    newest = _checkpointed_tip(trial)

    # Verification with the trial's key and log: the copy no longer reaches the checkpoints.
    copy = read_only_engine(f"sqlite:///{copied}")
    try:
        report = _verify(copy, _keys(trial), [_keys(trial).checkpoint_file])
    finally:
        copy.dispose()
    assert not report.ok
    assert f"entry {newest}:" in str(report) and "no longer reaches" in str(report)

    # Restoring it is refused, saying how much would be lost.
    monkeypatch.setenv(KEY_FILE_ENV, f"{path}.key")
    target = tmp_path / "restored.db"
    with pytest.raises(StoreError, match=r"acknowledged entries would be lost") as refused:
        restore_sqlite(
            copied, parse_database_url(f"sqlite:///{target}"), force=False, accept_loss=False,
            checkpoint_files=(), verify=_verify,
        )  # fmt: skip
    assert refused.value.code == "restore.loss"
    assert f"the latest checkpoint is {newest}" in str(refused.value)
    assert not target.exists()

    # Backing up the stale copy (with the trial's key) is refused too: it lacks what the
    # checkpoints signed before the backup began.
    with pytest.raises(StoreError, match=r"lacks acknowledged writes") as incomplete:
        _backup(f"sqlite:///{copied}", tmp_path / "from-copy.db")
    assert incomplete.value.code == "backup.incomplete"
    assert not (tmp_path / "from-copy.db").exists()


def test_restore_round_trip_loss_refused_then_accepted_and_the_trial_goes_on(
    trial: str, tmp_path: Path
) -> None:
    _database_of(tmp_path, trial, 8)
    dest = tmp_path / "backup.db"
    _backup(trial, dest)
    engine = make_engine(trial)
    _write_scans(engine, 4)  # acknowledged after the backup: a restore would lose them
    engine.dispose()
    url = parse_database_url(trial)
    newest = _checkpointed_tip(trial)

    def restore(**options: bool) -> object:
        return restore_sqlite(dest, url, checkpoint_files=(), verify=_verify, **options)

    with pytest.raises(StoreError, match=r"exists: give --force"):
        restore(force=False, accept_loss=False)
    with pytest.raises(StoreError) as refused:
        restore(force=True, accept_loss=False)
    tip = _tip(dest)
    assert tip < newest
    assert str(refused.value).startswith(f"the backup ends at entry {tip}; the latest checkpoint ")
    assert f"{newest - tip} acknowledged entries would be lost" in str(refused.value)

    result = restore_sqlite(
        dest, url, force=True, accept_loss=True, checkpoint_files=(), verify=_verify
    )
    assert result.lost == newest - tip and result.tip == tip
    assert result.replaced is not None and len(_scan_ids(result.replaced)) == 12
    assert result.archived_log is not None
    assert latest(read_checkpoints(result.archived_log).checkpoints).seq == newest  # type: ignore[union-attr]
    path = Path(trial.removeprefix("sqlite:///"))
    assert len(_scan_ids(path)) == 8

    engine = make_engine(trial)  # the restored trial takes new writes, and verifies
    try:
        _write_scans(engine, 2)
        report = _verify(engine, _keys(trial), [_keys(trial).checkpoint_file])
    finally:
        engine.dispose()
    assert report.ok and report.latest_checkpoint is not None, str(report)
    assert report.latest_checkpoint.seq == _tip(path) > tip


def test_restore_refuses_a_damaged_backup_and_one_of_another_database(
    trial: str, tmp_path: Path
) -> None:
    _database_of(tmp_path, trial, 3)
    dest = tmp_path / "backup.db"
    _backup(trial, dest)
    url = parse_database_url(trial)
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(dest.read_bytes()[: dest.stat().st_size // 2])
    with pytest.raises(StoreError, match=r"the backup .*damaged.db is damaged") as error:
        restore_sqlite(
            damaged, url, force=True, accept_loss=True, checkpoint_files=(), verify=_verify
        )
    assert error.value.code == "restore.damaged"
    with pytest.raises(StoreError, match=r"is the database itself"):
        restore_sqlite(
            Path(trial.removeprefix("sqlite:///")), url, force=True, accept_loss=True,
            checkpoint_files=(), verify=_verify,
        )  # fmt: skip
    other = tmp_path / "other" / "trial.db"  # another trial: its own key file beside it
    other.parent.mkdir()
    upgrade_database(f"sqlite:///{other}")
    with pytest.raises(StoreError, match=r"is not of the database whose key file is"):
        restore_sqlite(
            dest, parse_database_url(f"sqlite:///{other}"), force=True, accept_loss=True,
            checkpoint_files=(), verify=_verify,
        )  # fmt: skip
    assert sqlite3.connect(other).execute("PRAGMA quick_check").fetchone() == ("ok",)


@pytest.mark.parametrize("name", ["trial.db", "trial.db.key", "trial.db-wal", "trial.db.key"])
def test_a_backup_never_overwrites_the_database_or_its_keys(
    trial: str, tmp_path: Path, name: str
) -> None:
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(StoreError, match=r"a file of the live database or its keys"):
        _backup(trial, tmp_path / name, force=True)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before


def test_a_backup_does_not_replace_an_existing_file_unless_forced(
    trial: str, tmp_path: Path
) -> None:
    dest = tmp_path / "report.csv"
    dest.write_text("not a backup\n")
    with pytest.raises(StoreError, match=r"exists: give --force"):
        _backup(trial, dest)
    assert dest.read_text() == "not a backup\n"
    _backup(trial, dest, force=True)
    _check_backup(trial, dest)
    with pytest.raises(StoreError, match=r"the folder .*nowhere does not exist"):
        _backup(trial, tmp_path / "nowhere" / "backup.db")
    with pytest.raises(StoreError, match=r"is a folder"):
        _backup(trial, tmp_path, force=True)


@pytest.mark.postgres
@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_a_postgresql_backup_is_a_pg_dump_archive_verified_when_restored(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    schema = _search_path(database_url)
    try:
        _write_scans(engine, 3)
        dest = tmp_path / "trial.dump"
        made = backup_database(database_url, dest, verify=_verify)
        assert dest.read_bytes()[:5] == b"PGDMP" and made.reached is not None
        _write_scans(engine, 2)  # acknowledged after the archive was made
        with engine.begin() as connection:  # the trial's schema lost (a dropped database)
            connection.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_lost"'))
    finally:
        engine.dispose()
    try:
        with pytest.raises(StoreError, match=r"acknowledged entries would be lost"):
            restore_database(dest, database_url, verify=_verify)
        assert not _schema_exists(database_url, schema)  # refused before anything was restored
        restored = restore_database(dest, database_url, accept_loss=True, verify=_verify)
        assert restored.lost > 0 and restored.verdict.ok
        with pytest.raises(StoreError, match=r"already holds a trial database"):
            restore_database(dest, database_url, accept_loss=True, verify=_verify)
    finally:
        engine = make_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}_lost" CASCADE'))
        engine.dispose()


def _search_path(url: str) -> str:
    options = parse_database_url(url).query["options"]
    assert isinstance(options, str)
    return options.split("=", 1)[1]


def _schema_exists(url: str, schema: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                {"s": schema},
            ).first()
    finally:
        engine.dispose()
    return found is not None
