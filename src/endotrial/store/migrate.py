"""Create or upgrade the schema with the bundled Alembic migrations (no alembic.ini needed)."""

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine

from endotrial.store.engine import make_engine
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
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
    finally:
        if owned:
            engine.dispose()


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
