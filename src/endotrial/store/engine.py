"""Engines: SQLite by default (a file in the working folder), PostgreSQL when the URL names one."""

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

from endotrial.store.errors import StoreError

DEFAULT_DATABASE_URL = "sqlite:///endotrial.db"
DATABASE_URL_ENV = "ENDOTRIAL_DATABASE_URL"


def database_url() -> str:
    """The configured database: `ENDOTRIAL_DATABASE_URL`, else `endotrial.db` here."""
    return os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers work during a write; FULL sync makes a commit survive power loss;
    foreign keys are off by default in SQLite and must be switched on per connection."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create the engine for `url` (default: `database_url()`), with the store's settings."""
    url = url or database_url()
    if make_url(url).get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def open_existing(url: str | None = None) -> Engine:
    """An engine on a database that already holds endotrial's tables, or a clear error.

    Read-only commands use it so that a mistyped URL is reported instead of creating an empty file.
    """
    url = url or database_url()
    parsed = make_url(url)
    is_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None,
        "",
        ":memory:",
    )
    if is_file and not os.path.exists(str(parsed.database)):
        raise StoreError(
            f"database file '{parsed.database}' does not exist: set {DATABASE_URL_ENV} (or "
            "--database) to the trial's database, create an empty one with `endotrial db "
            "upgrade`, or build a synthetic one with `endotrial demo`"
        )
    engine = make_engine(url)
    if not inspect(engine).has_table("audit_log"):
        raise StoreError(
            f"database {parsed.render_as_string(hide_password=True)} holds no endotrial tables: "
            "point to the trial's database, create the schema with `endotrial db upgrade`, or "
            "build a synthetic trial with `endotrial demo`"
        )
    return engine
