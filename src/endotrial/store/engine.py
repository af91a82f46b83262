"""Engines: SQLite by default (a file in the working folder), PostgreSQL when the URL names one."""

import os
import re
import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError

from endotrial.store.errors import StoreError
from endotrial.store.health import damaged

DEFAULT_DATABASE_URL = "sqlite:///endotrial.db"
DATABASE_URL_ENV = "ENDOTRIAL_DATABASE_URL"
URL_EXAMPLES = "sqlite:///endotrial.db (a file here) or postgresql+psycopg://user@host/db"


def database_url() -> str:
    """The configured database: `ENDOTRIAL_DATABASE_URL`, else `endotrial.db` here."""
    return os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def parse_database_url(url: str | None = None) -> URL:
    """`url` (default: `database_url()`) parsed, or a StoreError saying how to write one.

    A path such as `endotrial.db` is the usual slip: SQLAlchemy wants `sqlite:///endotrial.db`.
    An empty URL (`--database ''`, a variable that expanded to nothing) is refused, not read as
    the default file: it would silently open another database than the one meant.
    """
    if url is not None and not url.strip():
        raise StoreError(
            f"the database URL is empty: give one such as {URL_EXAMPLES}, or leave --database "
            f"out to use {DATABASE_URL_ENV} (else {DEFAULT_DATABASE_URL})"
        )
    given = url or database_url()
    try:
        parsed = make_url(given)
        _ = parsed.port  # a port that is not a number is found here, not at connect time
        return parsed
    except (ArgumentError, ValueError):
        origin = f" (from {DATABASE_URL_ENV})" if url is None else ""
        raise StoreError(
            f"database '{_masked(given)}'{origin} is not a database URL: write a SQLAlchemy URL "
            f"such as {URL_EXAMPLES}"
        ) from None


def shown_url(url: str | URL | None = None) -> str:
    """The database URL as it may be printed: the password hidden."""
    parsed = url if isinstance(url, URL) else parse_database_url(url)
    secret = {k: "***" for k in parsed.query if k.lower() in ("password", "passwd", "pwd")}
    return parsed.update_query_dict(secret).render_as_string(hide_password=True)


def _masked(text: str) -> str:
    """Hide what looks like a password (`:secret@`) in text that is not a valid URL."""
    return re.sub(r":[^:@/]*@", ":***@", text)


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
    """Create the engine for `url` (default: `database_url()`), with the store's settings.

    Nothing is connected yet: `connected` makes the first connection and explains a failure.
    """
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = _create(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return _create(parsed, **kwargs)


def _create(parsed: URL, **kwargs: Any) -> Engine:
    try:
        return create_engine(parsed, **kwargs)
    except NoSuchModuleError:
        raise StoreError(
            f"database {shown_url(parsed)}: '{parsed.drivername}' is not a database kind "
            f"endotrial knows: write a SQLAlchemy URL such as {URL_EXAMPLES}"
        ) from None
    except ImportError as error:
        raise StoreError(
            f"database {shown_url(parsed)}: its driver is not installed ({error}): use "
            "postgresql+psycopg://... for PostgreSQL (psycopg is installed with endotrial)"
        ) from None


def connected(engine: Engine) -> Engine:
    """`engine` once a first connection succeeds; else a StoreError naming the server (never
    the password) and what to check, instead of a driver's traceback."""
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        engine.dispose()
        raise StoreError(_connection_problem(engine.url, error)) from None
    return engine


def open_database(url: str | None = None) -> Engine:
    """An engine on `url` (default: `database_url()`) that has connected once."""
    return connected(make_engine(url))


def _connection_problem(url: URL, error: OperationalError) -> str:
    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    if url.password:
        reason = reason.replace(str(url.password), "***")
    if url.get_backend_name() == "sqlite":
        return (
            f"cannot open the SQLite database '{url.database}': {reason}; check that its folder "
            "exists and that you may write there"
        )
    server = f"{url.host or 'localhost'}{f':{url.port}' if url.port else ''}"
    return (
        f"cannot connect to the {url.get_backend_name()} database '{url.database or ''}' on "
        f"{server} as user '{url.username or ''}': {reason}. Check that the server is running "
        "and reachable from here (host name, port, firewall), the user name and password, and "
        f"that the database exists ({shown_url(url)})"
    )


def _sqlite_read_only_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """A read-only connection changes nothing, not even the journal mode."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


def read_only_engine(url: str | None = None) -> Engine:
    """An engine that can only read: a SQLite file is opened read-only (so a monitor's copy on
    a read-only disk verifies, and nothing is written into the file inspected); PostgreSQL
    sessions are read-only transactions."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() != "sqlite":
        given = parsed.query.get("options")  # e.g. a search_path: kept, not replaced
        given_text = given if isinstance(given, str) else " ".join(given or ())
        options = f"{given_text} -c default_transaction_read_only=on".strip()
        return _create(parsed, pool_pre_ping=True, connect_args={"options": options})
    path = os.path.abspath(str(parsed.database))
    for mode in ({"mode": "ro"}, {"immutable": "1"}):
        read_only = parsed.set(database=f"file:{path}", query={**mode, "uri": "true"})
        engine = _create(read_only, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_read_only_pragmas)
        try:
            with engine.connect():
                return engine
        except OperationalError:
            # A WAL database in a folder that cannot be written (its shared-memory file
            # cannot be made) opens only as an immutable file: a copy nobody writes.
            engine.dispose()
    raise StoreError(
        f"cannot open the SQLite database '{parsed.database}' for reading: check the path and "
        "that you may read it",
        code="store.unavailable",
    )


def open_existing(url: str | None = None, *, read_only: bool = False) -> Engine:
    """An engine on a database that already holds endotrial's tables, or a clear error.

    Read-only commands use it so that a mistyped URL is reported instead of creating an empty file.
    """
    parsed = parse_database_url(url)
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
    engine = read_only_engine(url) if read_only else make_engine(url)
    try:
        holds_trail = inspect(connected(engine)).has_table("audit_log")
    except DatabaseError as error:
        engine.dispose()
        if not _is_damage(error):
            raise
        raise damaged(engine, _damage_found(error)) from None
    if not holds_trail:
        engine.dispose()
        raise StoreError(
            f"database {shown_url(parsed)} holds no endotrial tables: "
            "point to the trial's database, create the schema with `endotrial db upgrade`, or "
            "build a synthetic trial with `endotrial demo`"
        )
    return engine


def _is_damage(error: DatabaseError) -> bool:
    """SQLite's "file is not a database" and "database disk image is malformed" (a damaged or
    foreign file), as opposed to a busy or unreachable one."""
    return isinstance(error.orig, sqlite3.DatabaseError) and not isinstance(
        error.orig, sqlite3.OperationalError
    )


def _damage_found(error: DatabaseError) -> str:
    said = str(error.orig).strip()
    if "not a database" in said:
        return "not a SQLite database, or its first page is damaged"
    return said
