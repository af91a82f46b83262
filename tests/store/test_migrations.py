"""The bundled Alembic migrations build the whole schema from empty and match the models."""

from datetime import date

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from endotrial.store import Base, make_engine, schema_drift, upgrade_database, verify_audit_chain
from endotrial.store.migrate import MIGRATIONS_DIR, alembic_config

HEAD = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


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
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == HEAD
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


def _columns(engine: object, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}  # type: ignore[arg-type]


def _outcomes_of_revision_1(connection: Connection) -> None:
    """Three transfers of revision 0001: a live birth, a stillbirth, and one still pregnant."""
    for transfer_id, live_birth, birth_date in (
        (1, True, date(2026, 9, 1)),
        (2, False, date(2026, 9, 2)),
        (3, None, None),
    ):
        connection.execute(
            text(
                "INSERT INTO embryo_transfers (id, version, participant_id, transfer_date, "
                "cancelled) VALUES (:id, 1, 1, :day, :no)"
            ),
            {"id": transfer_id, "day": date(2025, 12, 1), "no": False},
        )
        connection.execute(
            text(
                "INSERT INTO pregnancy_outcomes (id, version, participant_id, transfer_id, "
                "live_birth, birth_date) VALUES (:id, 1, 1, :id, :live, :born)"
            ),
            {"id": transfer_id, "live": live_birth, "born": birth_date},
        )


def test_upgrade_keeps_existing_rows_and_downgrade_reverses_it(empty_database_url: str) -> None:
    """A database made by the first release gains the new columns with its rows intact
    (NULL where a value cannot be known); downgrading removes them again."""
    upgrade_database(empty_database_url, revision="0001")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO sites (id, version, code, name) VALUES (1, 1, 'GZ6', 'Sixth')")
            )
            connection.execute(
                text(
                    "INSERT INTO participants (id, version, study_id, site_id, status) "
                    "VALUES (1, 1, 'GZ6-001', 1, 'enrolled')"
                )
            )
            _outcomes_of_revision_1(connection)
        upgrade_database(engine)
        assert "enrolled_on" in _columns(engine, "participants")
        assert "eligible_arms" in _columns(engine, "screenings")
        assert "live_born_count" in _columns(engine, "pregnancy_outcomes")
        with engine.connect() as connection:
            row = connection.execute(text("SELECT study_id, enrolled_on FROM participants")).one()
        assert tuple(row) == ("GZ6-001", None)
        with engine.connect() as connection:
            counts = connection.execute(
                text("SELECT transfer_id, live_born_count FROM pregnancy_outcomes ORDER BY 1")
            ).all()
        # A live birth had at least one baby born alive; a delivery without one had none;
        # an outcome without a delivery stays unknown.
        assert [tuple(c) for c in counts] == [(1, 1), (2, 0), (3, None)]
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0001")
        assert "enrolled_on" not in _columns(engine, "participants")
        assert "live_born_count" not in _columns(engine, "pregnancy_outcomes")
        upgrade_database(engine)
        assert schema_drift(engine) == []
    finally:
        engine.dispose()
