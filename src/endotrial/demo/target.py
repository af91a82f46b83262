"""Where the demo may be built: an empty database, or a SQLite file the user asked to replace.

The demo never writes into a database that already holds trial data.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, select

from endotrial.errors import InputError
from endotrial.store import Participant
from endotrial.store.engine import open_database, parse_database_url, shown_url

_SQLITE_SUFFIXES = ("", "-wal", "-shm")


def prepare_demo_database(url: str | None, *, replace: bool) -> Path | None:
    """Delete the SQLite file when `replace`; refuse a database that holds trial data.

    Returns the SQLite file the demo is about to create (None for a server database or a file
    that already existed), so that a failed build can remove it again.
    """
    parsed = parse_database_url(url)
    if replace:
        _delete_sqlite_file(url)
    sqlite_file = _sqlite_file(url)
    created = sqlite_file if sqlite_file is not None and not sqlite_file.exists() else None
    if _holds_participants(url):
        raise InputError(
            f"{shown_url(parsed)} already holds trial data: "
            "use --replace (SQLite) or another database; nothing was changed"
        )
    return created


def remove_sqlite_file(path: Path) -> None:
    """Remove a SQLite database file with its write-ahead log and shared-memory files."""
    for suffix in _SQLITE_SUFFIXES:
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _sqlite_file(url: str | None) -> Path | None:
    parsed = parse_database_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def _delete_sqlite_file(url: str | None) -> None:
    path = _sqlite_file(url)
    if path is None:
        raise InputError("--replace only deletes a SQLite file; give an empty database instead")
    remove_sqlite_file(path)


def _holds_participants(url: str | None) -> bool:
    engine = open_database(url)
    try:
        if not inspect(engine).has_table("participants"):
            return False
        with engine.connect() as connection:
            return connection.execute(select(Participant.id).limit(1)).first() is not None
    finally:
        engine.dispose()
