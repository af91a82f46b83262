"""Where the demo may be built: an empty database, or a SQLite file the demo made itself.

The demo never writes into a database that already holds trial data, and `--replace` deletes
only a SQLite file the demo marked as its own: SQLite's `application_id` header field (a number
in the file's first page, meant for exactly this: naming the program a file belongs to) set to
`DEMO_APPLICATION_ID`. A trial database made by `endotrial db upgrade` never carries it, nor
does any other file, so a mistyped `--database` cannot delete a real trial or a CSV.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import inspect, select

from endotrial.errors import InputError
from endotrial.store import Participant
from endotrial.store.engine import open_database, parse_database_url, shown_url

#: A demo database's files: the database, its write-ahead log and shared memory, its writers'
#: lock file (store.write_queue), and its key file and checkpoint log (made with it, useless
#: without it: see store.keys).
_SQLITE_SUFFIXES = ("", "-wal", "-shm", "-writers", ".key", ".key.checkpoints")
SQLITE_MAGIC = b"SQLite format 3\x00"
#: "EDMO" in ASCII: the demo's mark in the SQLite header (offset 68).
DEMO_APPLICATION_ID = 0x45444D4F


def prepare_demo_database(url: str | None, *, replace: bool) -> Path | None:
    """Delete the SQLite file when `replace` (only a demo's own file); refuse a database that
    holds trial data; mark a SQLite file as the demo's before the build writes into it.

    Returns the SQLite file the demo is about to create (None for a server database or a file
    that already existed), so that a failed build can remove it again.
    """
    parsed = parse_database_url(url)
    sqlite_file = demo_file(url)
    if replace:
        if sqlite_file is None:
            raise InputError("--replace only deletes a SQLite file; give an empty database instead")
        refuse_unless_demo(sqlite_file)
        remove_sqlite_file(sqlite_file)
    if sqlite_file is not None:
        _refuse_a_non_database(sqlite_file)
    created = sqlite_file if sqlite_file is not None and not sqlite_file.exists() else None
    if _holds_participants(url):
        raise InputError(
            f"{shown_url(parsed)} already holds trial data: use another database, or --replace "
            "for a demo file built earlier; nothing was changed"
        )
    if sqlite_file is not None:
        mark_as_demo(sqlite_file)
    return created


def demo_file(url: str | None) -> Path | None:
    """The SQLite file `url` names (None for a server database or an in-memory one)."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def is_demo_file(path: Path) -> bool:
    """Whether `path` is a SQLite database the demo marked as its own."""
    if not path.is_file() or not _is_sqlite(path):
        return False
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = connection.execute("PRAGMA application_id").fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        return False
    return bool(row) and int(row[0]) == DEMO_APPLICATION_ID


def refuse_unless_demo(path: Path) -> None:
    """Nothing to do for a missing file; an error, deleting nothing, for anything not a demo's."""
    if not path.exists() and not path.is_symlink():
        return
    kept = "nothing was deleted"
    if path.is_dir():
        raise InputError(f"--replace: {path} is a folder, not a demo database; {kept}")
    if not path.is_file() or not _is_sqlite(path):
        raise InputError(
            f"--replace: {path} is not a SQLite database (a CSV or another file?); {kept}: "
            "name the demo's own file, or a new one"
        )
    if not is_demo_file(path):
        raise InputError(
            f"--replace: {path} was not made by `endotrial demo` (it may be a real trial's "
            f"database); {kept}: build the demo in another file, or, if you are sure it is a "
            "demo made by an older endotrial, delete it yourself"
        )


def mark_as_demo(path: Path) -> None:
    """Set the demo's mark in the SQLite header (creating the file when it does not exist)."""
    try:
        connection = sqlite3.connect(path)
        try:
            connection.execute(f"PRAGMA application_id = {DEMO_APPLICATION_ID:d}")
            connection.commit()
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise InputError(f"{path}: cannot write the demo database here: {error}") from None


def remove_sqlite_file(path: Path) -> None:
    """Remove a demo's SQLite database with its write-ahead log, shared-memory, key and
    checkpoint files (only ever called on a file the demo made)."""
    for suffix in _SQLITE_SUFFIXES:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _refuse_a_non_database(path: Path) -> None:
    """An existing file the demo would write into must be a SQLite database (an empty file is
    one too, to SQLite): a CSV named as the database is refused, not overwritten."""
    if path.is_dir():
        raise InputError(f"{path} is a folder: name a database file for the demo")
    if path.exists() and path.stat().st_size > 0 and not _is_sqlite(path):
        raise InputError(
            f"{path} is not a SQLite database (a CSV or another file?): name a new file for "
            "the demo; nothing was changed"
        )


def _holds_participants(url: str | None) -> bool:
    engine = open_database(url)
    try:
        if not inspect(engine).has_table("participants"):
            return False
        with engine.connect() as connection:
            return connection.execute(select(Participant.id).limit(1)).first() is not None
    finally:
        engine.dispose()
