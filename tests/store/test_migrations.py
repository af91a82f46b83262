"""The bundled Alembic migrations build the whole schema from empty and match the models."""

from sqlalchemy import inspect, text

from endotrial.store import Base, make_engine, schema_drift, upgrade_database, verify_audit_chain


def test_upgrade_from_empty_creates_every_table_and_seeds_the_chain(
    empty_database_url: str,
) -> None:
    upgrade_database(empty_database_url)
    upgrade_database(empty_database_url)  # running it again is a no-op
    engine = make_engine(empty_database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) | {"alembic_version"} == tables
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "0001"
        result = verify_audit_chain(engine)
        assert result.ok and result.entries_checked == 0
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    """`alembic check` as a test: a model changed without a migration fails here."""
    assert schema_drift(database_url) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/pragmas.db")
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("PRAGMA journal_mode")) == "wal"
            assert connection.scalar(text("PRAGMA foreign_keys")) == 1
            assert connection.scalar(text("PRAGMA synchronous")) == 2  # FULL
    finally:
        engine.dispose()
