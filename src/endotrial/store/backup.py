"""Backups that restore: a consistent copy of a live database, verified before it counts.

SQLite: sqlite3's backup API copies the live database in one step, that is in one read
transaction (a consistent snapshot, the committed pages still in the write-ahead log included,
while others go on writing), into a partial file beside the destination. The copy is switched
to journal_mode=DELETE (one self-contained file that opens read-only anywhere), checked whole,
and verified with the trial's key file against the signed checkpoints; only then is it renamed
into place, so a backup killed half-way leaves no destination, or the previous one intact. The
key file is never copied (it must live elsewhere); the checkpoints the copy reaches are written
beside it (`DEST.checkpoints`) for monitors.

A copy that does not reach a checkpoint signed before the backup started lacks acknowledged
writes (a `cp` of a live database without its -wal file): it is refused, and so is restoring it.

Restoring verifies the backup first (its chain and MACs with the key file, every checkpoint up to
its tip) and counts the acknowledged entries past its tip that would be lost; the replaced file
is kept. PostgreSQL backups are pg_dump archives, restored with pg_restore into an empty
database and verified there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

from sqlalchemy import Engine, inspect, select
from sqlalchemy.engine import URL

from endotrial.store.audit import AuditChainHead
from endotrial.store.checkpoints import Checkpoint, append_checkpoint, latest, read_checkpoints
from endotrial.store.engine import open_existing, parse_database_url, read_only_engine, shown_url
from endotrial.store.errors import StoreError
from endotrial.store.health import check_integrity
from endotrial.store.keys import TrialKeys, bound_keys, engine_keys, key_file_for, load_keys
from endotrial.store.migrate import refuse_unknown_revision

PARTIAL_SUFFIX = ".partial"
CHECKPOINTS_SUFFIX = ".checkpoints"
#: How long `db restore` waits for another program to let go of the database it replaces.
_IN_USE_WAIT_S = 2.0


class Verdict(Protocol):
    """What a verification of a copy found (`services.verification.AuditReport`)."""

    @property
    def ok(self) -> bool: ...


#: Verifies a copy: its engine, the trial's keys (None without the key file) and the checkpoint
#: files it must reach. The shells pass the services' full verification (the store cannot
#: import the services).
Verifier = Callable[[Engine, TrialKeys | None, Sequence[Path]], Verdict]


@dataclass(frozen=True)
class BackupResult:
    """A backup written: where, up to which entry, and what its verification said."""

    path: Path
    checkpoint_log: Path | None
    tip: int | None
    """The copy's last audit entry (None for a pg_dump archive: known once restored)."""
    reached: Checkpoint | None
    verdict: Verdict | None
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class RestoreResult:
    """A backup put in place: its tip, the latest checkpoint, what was lost and what was kept."""

    target: str
    tip: int
    latest: Checkpoint | None
    lost: int
    replaced: Path | None
    archived_log: Path | None
    verdict: Verdict
    notes: tuple[str, ...] = field(default=())


def checkpoints_beside(backup: Path) -> Path:
    """The checkpoint log written beside a backup."""
    return backup.with_name(backup.name + CHECKPOINTS_SUFFIX)


# --------------------------------------------------------------------------------- backup


def backup_database(
    url: str | None, dest: Path, *, force: bool = False, verify: Verifier
) -> BackupResult:
    """Back up the database at `url` to `dest` (see the module's docstring)."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return backup_sqlite(parsed, dest, force=force, verify=verify)
    if parsed.get_backend_name() == "postgresql":
        return backup_postgres(parsed, dest, force=force)
    raise StoreError(f"{shown_url(parsed)}: endotrial backs up SQLite and PostgreSQL databases")


def backup_sqlite(url: URL, dest: Path, *, force: bool, verify: Verifier) -> BackupResult:
    source = sqlite_file(url)
    key_path = key_file_for(url)
    live_log = key_path.with_name(key_path.name + CHECKPOINTS_SUFFIX)
    _refuse_live_files(dest, [*_sqlite_files(source), key_path, live_log])
    _refuse_existing(dest, force)
    engine = open_existing(url.render_as_string(hide_password=False), read_only=True)
    try:
        check_integrity(engine)
        _refuse_unread_wal(engine, source)
        keys = engine_keys(engine) if key_path.exists() else None
        trial = _trial_of(engine, keys)
        floor = latest(trial.checkpoints([live_log]).valid)  # signed before the copy began
        with _partial_beside(dest) as partial, _partial_beside(checkpoints_beside(dest)) as log:
            _copy_sqlite(engine, partial)
            tip, reached, verdict = _verify_copy(partial, keys, trial, live_log, floor, log, verify)
            _install(partial, dest)
            _install(log, checkpoints_beside(dest))
    finally:
        engine.dispose()
    notes = [] if keys is not None else [_NO_KEY_NOTE]
    return BackupResult(dest, checkpoints_beside(dest), tip, reached, verdict, tuple(notes))


_NO_KEY_NOTE = (
    "the key file was not found: the copy's MACs were not checked (restore the key file from "
    "its safe copy)"
)


@dataclass(frozen=True)
class _Trial:
    """Whose checkpoints count: this database's, signed by its key."""

    database_id: str | None
    public_key: str | None

    def checkpoints(self, files: Sequence[Path]) -> _Found:
        """The valid checkpoints in `files` (missing files skipped; each checkpoint once)."""
        valid: dict[str, Checkpoint] = {}
        rejected = 0
        for path in files:
            if not path.exists():
                continue
            log = read_checkpoints(path)
            rejected += len(log.unreadable_lines)
            for checkpoint in log.checkpoints:
                if self._valid(checkpoint):
                    valid[checkpoint.signature] = checkpoint
                else:
                    rejected += 1
        return _Found(tuple(sorted(valid.values(), key=lambda c: c.seq)), rejected)

    def _valid(self, checkpoint: Checkpoint) -> bool:
        if self.public_key is None or checkpoint.database_id != self.database_id:
            return False
        return checkpoint.signed_by(self.public_key)


@dataclass(frozen=True)
class _Found:
    valid: tuple[Checkpoint, ...]
    rejected: int


def _trial_of(engine: Engine, keys: TrialKeys | None) -> _Trial:
    if keys is not None:
        return _Trial(keys.database_id, keys.public_key_hex)
    bound = bound_keys(engine)
    return _Trial(bound.database_id, bound.public_key) if bound else _Trial(None, None)


def _verify_copy(
    partial: Path,
    keys: TrialKeys | None,
    trial: _Trial,
    live_log: Path,
    floor: Checkpoint | None,
    log: Path,
    verify: Verifier,
) -> tuple[int, Checkpoint | None, Verdict]:
    """Check the copy whole, reaching every checkpoint up to its tip and the last one signed
    before the backup began; write the checkpoints it reaches to `log`."""
    copy = read_only_engine(f"sqlite:///{partial}")
    try:
        check_integrity(copy)
        tip, _ = chain_tip(copy)
        if floor is not None and floor.seq > tip:
            raise StoreError(
                f"the copy ends at audit entry {tip}, but checkpoint {floor.seq} (signed at "
                f"{floor.signed_at}) was signed before the backup began: the copy lacks "
                "acknowledged writes; nothing was written. Back up the live database itself "
                "(not a copy of its file), as a user who may write its folder",
                code="backup.incomplete",
            )
        reached = [c for c in trial.checkpoints([live_log]).valid if c.seq <= tip]
        write_checkpoints(log, reached)
        verdict = verify(copy, keys, [log])
    finally:
        copy.dispose()
    if not verdict.ok:
        raise StoreError(
            f"the copy does not verify, so no backup was written:\n{verdict}",
            code="backup.unverified",
        )
    return tip, (reached[-1] if reached else None), verdict


def chain_tip(engine: Engine) -> tuple[int, str]:
    """The audit chain's recorded tip: its last entry's number and hash."""
    with engine.connect() as connection:
        head = connection.execute(select(AuditChainHead.last_seq, AuditChainHead.last_hash)).one()
    return int(head.last_seq), str(head.last_hash)


def write_checkpoints(path: Path, checkpoints: Sequence[Checkpoint]) -> None:
    with path.open("w", encoding="utf-8") as log:
        log.writelines(checkpoint.line() + "\n" for checkpoint in checkpoints)
        log.flush()
        os.fsync(log.fileno())


def _copy_sqlite(engine: Engine, target: Path) -> None:
    """Copy the database behind `engine` into `target` with the backup API, in one step (one
    snapshot), as one self-contained rollback-journal file, flushed to the disk."""
    raw = engine.raw_connection()
    try:
        source = cast(sqlite3.Connection, raw.driver_connection)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # pages=-1: all pages in one step, so one consistent snapshot
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        raw.close()
    with target.open("rb") as written:
        os.fsync(written.fileno())


def _refuse_unread_wal(engine: Engine, source: Path) -> None:
    """A database in a folder this user may not write opens only as an immutable file, whose
    write-ahead log is not read: its copy would lack the latest writes."""
    wal = Path(f"{source}-wal")
    if engine.url.query.get("immutable") and wal.exists() and wal.stat().st_size > 0:
        raise StoreError(
            f"the write-ahead log {wal} cannot be read from here (the folder may not be "
            "written): a copy would lack the latest writes. Run the backup as a user who may "
            "write the database's folder",
            code="backup.wal_unreadable",
        )


# --------------------------------------------------------------------------------- restore


def restore_database(
    backup: Path,
    url: str | None,
    *,
    force: bool = False,
    accept_loss: bool = False,
    checkpoint_files: Sequence[Path] = (),
    verify: Verifier,
) -> RestoreResult:
    """Verify `backup` and put it in place as the database at `url` (module docstring)."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return restore_sqlite(
            backup, parsed, force=force, accept_loss=accept_loss,
            checkpoint_files=checkpoint_files, verify=verify,
        )  # fmt: skip
    if parsed.get_backend_name() == "postgresql":
        return restore_postgres(
            backup, parsed, accept_loss=accept_loss, checkpoint_files=checkpoint_files,
            verify=verify,
        )  # fmt: skip
    raise StoreError(f"{shown_url(parsed)}: endotrial restores SQLite and PostgreSQL databases")


def restore_sqlite(
    backup: Path,
    url: URL,
    *,
    force: bool,
    accept_loss: bool,
    checkpoint_files: Sequence[Path],
    verify: Verifier,
) -> RestoreResult:
    target = sqlite_file(url)
    _refuse_backup_is_target(backup, target)
    if not target.parent.is_dir():
        raise StoreError(
            f"the folder {target.parent} does not exist: create it, or restore elsewhere",
            code="restore.no_folder",
        )
    if target.exists() and not force:
        raise StoreError(
            f"{target} exists: give --force to replace it (it is kept as "
            f"{target.name}.replaced-<time>), or restore to another file",
            code="restore.exists",
        )
    keys = load_keys(key_file_for(url))
    copy = open_backup(backup)
    try:
        checked = _check_backup(copy, backup, keys, checkpoint_files, accept_loss)
        with _partial_beside(keys.checkpoint_file) as reached_log:
            write_checkpoints(reached_log, checked.reached)
            verdict = verify(copy, keys, [reached_log])
            if not verdict.ok:
                raise StoreError(
                    f"the backup {backup} does not verify, so nothing was restored:\n{verdict}",
                    code="restore.unverified",
                )
            replaced = _put_in_place(copy, target)
            archived = _restart_log(keys, reached_log) if checked.lost else None
    finally:
        copy.dispose()
    append_checkpoint(keys, checked.tip, checked.tip_hash)  # the restored tip, signed
    return RestoreResult(
        str(target), checked.tip, checked.latest, checked.lost, replaced, archived, verdict,
        checked.notes,
    )  # fmt: skip


@dataclass(frozen=True)
class _CheckedBackup:
    tip: int
    tip_hash: str
    latest: Checkpoint | None
    lost: int
    reached: tuple[Checkpoint, ...]
    notes: tuple[str, ...]


def _check_backup(
    copy: Engine,
    backup: Path,
    keys: TrialKeys,
    checkpoint_files: Sequence[Path],
    accept_loss: bool,
) -> _CheckedBackup:
    """The backup's tip against the latest checkpoint: what restoring it would lose."""
    refuse_unknown_revision(copy)
    bound = bound_keys(copy)
    if bound is None or bound.database_id != keys.database_id:
        raise StoreError(
            f"the backup {backup} is not of the database whose key file is {keys.path}: "
            "restore it where its own key file is (or point ENDOTRIAL_KEY_FILE to it)",
            code="restore.keys_mismatch",
        )
    tip, tip_hash = chain_tip(copy)
    found, newest, lost = _loss(backup, keys, checkpoint_files, tip)
    if not accept_loss:
        _refuse_loss(backup, tip, newest, lost)
    notes = []
    if found.rejected:
        notes.append(
            f"{found.rejected} line(s) of the checkpoint logs are not checkpoints signed by "
            "this trial's key: ignored (`endotrial audit verify` reports them)"
        )
    reached = tuple(c for c in found.valid if c.seq <= tip)
    return _CheckedBackup(tip, tip_hash, newest, lost, reached, tuple(notes))


def _loss(
    backup: Path, keys: TrialKeys, checkpoint_files: Sequence[Path], tip: int
) -> tuple[_Found, Checkpoint | None, int]:
    """The trial's checkpoints (the log beside the key file, the one beside the backup, and any
    given), the latest, and how many entries past `tip` it signed."""
    files = [keys.checkpoint_file, checkpoints_beside(backup), *checkpoint_files]
    found = _Trial(keys.database_id, keys.public_key_hex).checkpoints(files)
    newest = latest(found.valid)
    return found, newest, (newest.seq - tip if newest is not None and newest.seq > tip else 0)


def _refuse_loss(backup: Path, tip: int, newest: Checkpoint | None, lost: int) -> None:
    if newest is None and tip > 0:
        raise StoreError(
            f"no signed checkpoint of this database was found (the log beside the key file, "
            f"{checkpoints_beside(backup).name}, --checkpoints): nothing tells whether the "
            f"backup (ending at entry {tip}) lacks acknowledged entries. Find the checkpoint "
            "log, or give --accept-loss to restore it anyway",
            code="restore.no_checkpoints",
        )
    if newest is not None and lost:
        raise StoreError(
            f"the backup ends at entry {tip}; the latest checkpoint is {newest.seq} (signed "
            f"at {newest.signed_at}): {lost} acknowledged entries would be lost. Look for a "
            "later backup; give --accept-loss to restore this one anyway",
            code="restore.loss",
        )


def open_backup(backup: Path) -> Engine:
    """A backup opened read-only and checked whole (damage names the backup, not the trial)."""
    if not backup.is_file():
        raise StoreError(f"backup {backup} does not exist: check the path", code="restore.missing")
    try:
        engine = open_existing(f"sqlite:///{backup.resolve()}", read_only=True)
        try:
            check_integrity(engine)
        except StoreError:
            engine.dispose()
            raise
    except StoreError as error:
        if error.code != "store.damaged":
            raise
        raise StoreError(
            f"the backup {backup} is damaged or not an endotrial database ({_cause(error)}): "
            "restore an earlier backup",
            code="restore.damaged",
        ) from None
    return engine


def _cause(error: StoreError) -> str:
    text = str(error)
    return text[text.find("(") + 1 : text.find("):")] if "(" in text else text


def _put_in_place(copy: Engine, target: Path) -> Path | None:
    """Copy the verified backup beside `target` and rename it over it; the replaced file (and
    its write-ahead log) is kept as `TARGET.replaced-<time>`."""
    with _partial_beside(target) as partial:
        _copy_sqlite(copy, partial)
        replaced = target.with_name(f"{target.name}.replaced-{_stamp()}")
        kept = False
        if target.exists():
            _refuse_in_use(target)
            _keep(target, replaced)
            kept = True
        for suffix in ("-wal", "-shm", "-journal"):
            side = Path(f"{target}{suffix}")
            if side.exists():  # another file's log must never be replayed into the new one
                os.replace(side, Path(f"{replaced}{suffix}"))
        _install(partial, target)
    return replaced if kept else None


def _refuse_in_use(target: Path) -> None:
    """Fold the replaced database's write-ahead log into it; refuse while another program
    holds it busy (stop the application before restoring)."""
    try:
        connection = sqlite3.connect(f"file:{target}?mode=rw", uri=True, timeout=_IN_USE_WAIT_S)
        try:
            busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        return  # damaged or not a database: it is kept as it is
    if busy is not None and busy[0] == 1:
        raise StoreError(
            f"{target} is in use by another program: stop the application, then restore",
            code="restore.in_use",
        )


def _restart_log(keys: TrialKeys, reached_log: Path) -> Path:
    """After a restore that lost entries, the old checkpoint log (which signs them) is kept
    aside and the log starts again from the checkpoints the restored database reaches."""
    log = keys.checkpoint_file
    archived = log.with_name(f"{log.name}.before-restore-{_stamp()}")
    if log.exists():
        _keep(log, archived)
    _install(reached_log, log)
    return archived


def _keep(path: Path, kept: Path) -> None:
    """A second name for `path` (it stays in place until replaced), or a copy where the file
    system has no hard links."""
    try:
        os.link(path, kept)
    except OSError:
        shutil.copy2(path, kept)


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


# --------------------------------------------------------------------------------- files


def sqlite_file(url: URL) -> Path:
    database = str(url.database or "").removeprefix("file:").split("?")[0]
    if database in ("", ":memory:"):
        raise StoreError("an in-memory database has nothing to back up or restore")
    return Path(database)


def _sqlite_files(database: Path) -> list[Path]:
    return [database, *(Path(f"{database}{s}") for s in ("-wal", "-shm", "-journal"))]


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _refuse_live_files(dest: Path, live: Sequence[Path]) -> None:
    for written in (dest, checkpoints_beside(dest)):
        for path in live:
            if _same(written, path):
                raise StoreError(
                    f"the backup {dest} would overwrite {path}, a file of the live database "
                    "or its keys: back up to another file (best on another disk)",
                    code="backup.onto_itself",
                )


def _refuse_backup_is_target(backup: Path, target: Path) -> None:
    if _same(backup, target):
        raise StoreError(
            f"the backup {backup} is the database itself: give the backup file and, with "
            "--database, where to restore it",
            code="restore.onto_itself",
        )


def _refuse_existing(dest: Path, force: bool) -> None:
    if not dest.parent.is_dir():
        raise StoreError(
            f"the folder {dest.parent} does not exist: create it, or give another path",
            code="backup.no_folder",
        )
    if dest.is_dir():
        raise StoreError(f"{dest} is a folder: give the backup's file name", code="backup.folder")
    if dest.exists() and not force:
        raise StoreError(
            f"{dest} exists: give --force to replace it (the new backup replaces it only once "
            "it is complete and verified), or choose another file",
            code="backup.exists",
        )


@contextmanager
def _partial_beside(final: Path) -> Iterator[Path]:
    """A new owner-only file beside `final`, locked while this process works on it; removed
    unless installed. Partial files that a killed backup left (their lock is gone with it)
    are removed first."""
    _remove_abandoned(final)
    descriptor, name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=PARTIAL_SUFFIX, dir=final.parent
    )
    partial = Path(name)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield partial
    finally:
        for path in _sqlite_files(partial):
            path.unlink(missing_ok=True)
        os.close(descriptor)  # after the file is gone: its lock goes with the descriptor


def _remove_abandoned(final: Path) -> None:
    for partial in final.parent.glob(f".{final.name}.*{PARTIAL_SUFFIX}"):
        try:
            descriptor = os.open(partial, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            continue  # another backup is working on it
        try:
            for path in _sqlite_files(partial):
                path.unlink(missing_ok=True)
        finally:
            os.close(descriptor)


def _install(partial: Path, final: Path) -> None:
    """Rename `partial` over `final` and make the rename durable."""
    os.replace(partial, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# --------------------------------------------------------------------------------- PostgreSQL


def backup_postgres(url: URL, dest: Path, *, force: bool) -> BackupResult:
    """A pg_dump archive (custom format: one consistent snapshot), checked readable by
    pg_restore, with the checkpoints reached before it began beside it."""
    _refuse_existing(dest, force)
    pg_dump = _tool("pg_dump")
    engine = open_existing(url.render_as_string(hide_password=False), read_only=True)
    try:
        keys = engine_keys(engine) if key_file_for(url).exists() else None
        trial = _trial_of(engine, keys)
        tip_before, _ = chain_tip(engine)  # the archive's snapshot is taken later: it holds these
    finally:
        engine.dispose()
    live_log = key_file_for(url).with_name(key_file_for(url).name + CHECKPOINTS_SUFFIX)
    with _partial_beside(dest) as partial, _partial_beside(checkpoints_beside(dest)) as log:
        schema = _search_path(url)
        only = ["--schema", schema] if schema else []
        _run([pg_dump, "--format=custom", "--file", str(partial), *only], url)
        _run([_tool("pg_restore"), "--list", str(partial)], None)  # the archive reads whole
        reached = [c for c in trial.checkpoints([live_log]).valid if c.seq <= tip_before]
        write_checkpoints(log, reached)
        _install(partial, dest)
        _install(log, checkpoints_beside(dest))
    notes = [
        "a pg_dump archive is verified when restored: `endotrial db restore` into a new, empty "
        "database checks its trail against the checkpoints"
    ]
    last = reached[-1] if reached else None
    return BackupResult(dest, checkpoints_beside(dest), None, last, None, tuple(notes))


def restore_postgres(
    backup: Path,
    url: URL,
    *,
    accept_loss: bool,
    checkpoint_files: Sequence[Path],
    verify: Verifier,
) -> RestoreResult:
    """pg_restore the archive into an empty database, then verify it there; a restored copy
    that does not verify (or lacks acknowledged entries not accepted) is reported so, to be
    dropped."""
    if not backup.is_file():
        raise StoreError(f"backup {backup} does not exist: check the path", code="restore.missing")
    keys = load_keys(key_file_for(url))
    _refuse_non_empty(url)
    tip = _archive_tip(backup)
    if not accept_loss:  # known before anything is restored
        _, newest, lost = _loss(backup, keys, checkpoint_files, tip)
        _refuse_loss(backup, tip, newest, lost)
    restore = [_tool("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error"]
    _run([*restore, f"--dbname={url.database}", str(backup)], url)
    engine = read_only_engine(url.render_as_string(hide_password=False))
    try:
        try:
            checked = _check_backup(engine, backup, keys, checkpoint_files, accept_loss)
        except StoreError as error:
            raise StoreError(
                f"{error} The archive was restored into {shown_url(url)}: drop that database "
                "before using it for anything",
                code=error.code,
            ) from None
        with _partial_beside(keys.checkpoint_file) as reached_log:
            write_checkpoints(reached_log, checked.reached)
            verdict = verify(engine, keys, [reached_log])
            if not verdict.ok:
                raise StoreError(
                    f"the archive restored into {shown_url(url)} does not verify: drop that "
                    f"database; restore an earlier backup:\n{verdict}",
                    code="restore.unverified",
                )
            archived = _restart_log(keys, reached_log) if checked.lost else None
    finally:
        engine.dispose()
    append_checkpoint(keys, checked.tip, checked.tip_hash)
    return RestoreResult(
        shown_url(url), checked.tip, checked.latest, checked.lost, None, archived, verdict,
        checked.notes,
    )  # fmt: skip


def _archive_tip(backup: Path) -> int:
    """The audit chain's tip recorded in a pg_dump archive (read by pg_restore, not restored)."""
    command = [_tool("pg_restore"), "--data-only", "--table=audit_chain_head", "--file=-"]
    script = _run([*command, str(backup)], None).splitlines()
    for number, line in enumerate(script[:-1]):
        if line.startswith("COPY ") and ".audit_chain_head (" in line:
            columns = line[line.index("(") + 1 : line.index(")")].split(", ")
            values = dict(zip(columns, script[number + 1].split("\t"), strict=False))
            with contextlib.suppress(KeyError, ValueError):
                return int(values["last_seq"])
    raise StoreError(
        f"{backup} is not a pg_dump archive of an endotrial database (it holds no audit chain "
        "tip): check the file",
        code="restore.not_a_backup",
    )


def _refuse_non_empty(url: URL) -> None:
    engine = read_only_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as connection:
            holds = inspect(connection).has_table("audit_log")
    finally:
        engine.dispose()
    if holds:
        raise StoreError(
            f"{shown_url(url)} already holds a trial database: restore a pg_dump archive into "
            "a new, empty database (createdb), then point the application to it",
            code="restore.exists",
        )


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StoreError(
            f"{name} is not installed (or not on PATH): PostgreSQL backups are made and "
            f"restored with PostgreSQL's own {name}; install the PostgreSQL client tools "
            "(the same major version as the server)",
            code="backup.no_tool",
        )
    return found


def _search_path(url: URL) -> str | None:
    options = url.query.get("options")
    text = options if isinstance(options, str) else ""
    for part in text.split():
        if part.startswith(("-csearch_path=", "search_path=")):
            return part.split("=", 1)[1].split(",")[0]
    return None


def _run(command: list[str], url: URL | None) -> str:
    """Run a PostgreSQL tool against `url` (its password passed in the environment, never on
    the command line); its failure is reported with what it said."""
    env = dict(os.environ)
    if url is not None:
        env.update(_libpq_environment(url))
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        said = result.stderr.strip().splitlines()
        raise StoreError(
            f"{Path(command[0]).name} failed ({'; '.join(said[:3]) or result.returncode}): "
            "nothing was written",
            code="backup.tool_failed",
        )
    return result.stdout


def _libpq_environment(url: URL) -> dict[str, str]:
    settings = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password if isinstance(url.password, str) else None,
        "PGDATABASE": url.database,
    }
    return {name: value for name, value in settings.items() if value}
