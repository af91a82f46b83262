"""Create or upgrade the schema with the bundled Alembic migrations (no alembic.ini needed)."""

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect

from endotrial.store.engine import make_engine, open_existing, shown_url
from endotrial.store.errors import StoreError
from endotrial.store.keys import ensure_keys
from endotrial.store.metadata import target_metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection) -> Config:
    """An Alembic config pointing at the bundled migrations, bound to `connection`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _engine(target: str | Engine | None) -> tuple[Engine, bool]:
    if isinstance(target, Engine):
        return target, False
    return make_engine(target), True


def upgrade_database(target: str | Engine | None = None, revision: str = "head") -> None:
    """Bring the database at `target` (URL or engine; default the configured one) to `revision`."""
    engine, owned = _engine(target)
    try:
        if refuse_unknown_revision(engine) is None:
            refuse_foreign_tables(engine)
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
        if inspect(engine).has_table("trail_keys"):
            ensure_keys(engine)  # a new database, or one upgraded from before the keys
    finally:
        if owned:
            engine.dispose()


def is_known_revision(revision: str | None) -> bool:
    """Whether this endotrial ships `revision` (None, an empty database, counts as known)."""
    if revision is None:
        return True
    try:
        return ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(revision) is not None
    except CommandError:
        return False


def refuse_foreign_tables(engine: Engine) -> None:
    """A database with no endotrial revision must be empty: the trial's tables are never added
    beside another application's (a mistyped URL would mix a trial into it)."""
    tables = sorted(inspect(engine).get_table_names())
    if tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(
            f"the database {shown_url(engine.url)} holds tables that "
            f"are not endotrial's ({shown}) and no endotrial revision: nothing was changed. "
            "Point --database to the trial's database, or to a new, empty one"
        )


def refuse_unknown_revision(engine: Engine) -> str | None:
    """The database's revision, refused when this endotrial does not ship it (a newer one)."""
    revision = current_revision(engine)
    if not is_known_revision(revision):
        raise StoreError(
            f"the database is at schema revision {revision}, which this endotrial (newest "
            f"{head_revision()}) does not know: it was made by a newer release; use that one"
        )
    return revision


def schema_drift(target: str | Engine | None = None) -> list[Any]:
    """Differences between the models and the migrated database (empty list: none).

    This is `alembic check` as a function: a model changed without a migration shows up here.
    """
    engine, owned = _engine(target)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, target_metadata))
    finally:
        if owned:
            engine.dispose()


def head_revision() -> str:
    """The newest schema revision this version of endotrial ships."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None  # the bundled migrations are never empty
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def open_trial_database(url: str | None = None) -> Engine:
    """An engine on an existing trial database whose schema is current, or a clear error.

    A database made by an older release is not read or written until it is upgraded, so no
    operation fails half-way on a missing column.
    """
    engine = open_existing(url)
    try:
        revision = refuse_unknown_revision(engine)
    except StoreError:
        engine.dispose()
        raise
    head = head_revision()
    if revision != head:
        engine.dispose()
        raise StoreError(
            f"the database is at schema revision {revision or 'none'} but this endotrial needs "
            f"{head}: back it up, then run `endotrial db upgrade`"
        )
    return engine
