"""Where the demo may be built: an empty database, or a SQLite file the user asked to replace.

The demo never writes into a database that already holds trial data.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url

from endotrial.errors import InputError
from endotrial.store import Participant, make_engine


def prepare_demo_database(url: str, *, replace: bool) -> None:
    """Delete the SQLite file when `replace`; refuse a database that holds trial data."""
    if replace:
        _delete_sqlite_file(url)
    if _holds_participants(url):
        raise InputError(
            f"{make_url(url).render_as_string(hide_password=True)} already holds trial data: "
            "use --replace (SQLite) or another database; nothing was changed"
        )


def _delete_sqlite_file(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise InputError("--replace only deletes a SQLite file; give an empty database instead")
    for suffix in ("", "-wal", "-shm"):
        Path(parsed.database + suffix).unlink(missing_ok=True)


def _holds_participants(url: str) -> bool:
    engine = make_engine(url)
    try:
        if not inspect(engine).has_table("participants"):
            return False
        with engine.connect() as connection:
            return connection.execute(select(Participant.id).limit(1)).first() is not None
    finally:
        engine.dispose()
