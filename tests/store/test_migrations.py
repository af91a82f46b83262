"""The bundled Alembic migrations build the whole schema from empty and match the models."""

from datetime import date
from pathlib import Path

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


def _rows_of_revision_4(connection: Connection) -> None:
    """A site, an account, a participant with a cycle, a week of medication and a scan, as
    revision 0004 kept them."""
    for statement in (
        "INSERT INTO sites (id, version, code, name) VALUES (1, 1, 'GZ6', 'Sixth')",
        "INSERT INTO users (id, version, username, full_name, role, site_id, password_hash, "
        "active) VALUES (1, 1, 'coord1', 'Li', 'coordinator', 1, 'x', :yes)",
        "INSERT INTO participants (id, version, study_id, site_id, status) "
        "VALUES (1, 1, 'GZ6-001', 1, 'allocated')",
        "INSERT INTO cycles (id, version, participant_id, kind, start_date) "
        "VALUES (1, 1, 1, 'treatment', :start)",
        "INSERT INTO medication_records (id, version, participant_id, cycle_id, regimen_id, "
        "taken_on, doses_taken, doses_planned) VALUES (1, 1, 1, 1, 'tx_estradiol_valerate', "
        ":week_end, 14, 14)",
        "INSERT INTO ultrasounds (id, version, participant_id, cycle_id, scan_date, "
        "thickness_mm) VALUES (1, 1, 1, 1, :scan, 6.5)",
    ):
        connection.execute(
            text(statement),
            {
                "yes": True,
                "start": date(2025, 10, 6),
                "week_end": date(2025, 10, 12),
                "scan": date(2025, 10, 14),
            },
        )


def test_revision_5_upgrades_a_database_with_data(empty_database_url: str) -> None:
    """Existing rows keep their values: a medication record's day becomes its last day (its
    first day was never kept), records name no event, sites are in China's time zone, and the
    account keeps her site; downgrading gives `taken_on` back."""
    upgrade_database(empty_database_url, revision="0004")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            _rows_of_revision_4(connection)
        upgrade_database(engine)
        with engine.connect() as connection:
            medication = connection.execute(
                text("SELECT first_day, last_day, event_id FROM medication_records")
            ).one()
            zone = connection.scalar(text("SELECT time_zone FROM sites"))
            events = [
                connection.scalar(text(f"SELECT event_id FROM {table}"))
                for table in ("cycles", "ultrasounds")
            ]
            site_of_user = connection.scalar(text("SELECT site_id FROM users"))
            protocols = connection.scalar(text("SELECT count(*) FROM trial_protocols"))
        first_day, last_day, event_id = medication
        assert (first_day, str(last_day), event_id) == (None, "2025-10-12", None)
        assert zone == "Asia/Shanghai"
        assert events == [None, None]
        assert site_of_user == 1
        assert protocols == 0  # recorded by the first write, which knows the protocol
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0004")
        assert "taken_on" in _columns(engine, "medication_records")
        assert "time_zone" not in _columns(engine, "sites")
        with engine.connect() as connection:
            day = connection.scalar(text("SELECT taken_on FROM medication_records"))
        assert str(day) == "2025-10-12"
        upgrade_database(engine)
        assert schema_drift(engine) == []
    finally:
        engine.dispose()


def test_a_database_set_up_before_revision_5_records_its_protocol_on_its_first_write(
    empty_database_url: str,
) -> None:
    """Revision 0005 cannot know the protocol: the first write records it, audited, by the
    one who writes; from then on another protocol is refused."""
    from endotrial.protocol import load_protocol
    from endotrial.services import ServiceError, SiteInput, add_site, open_study, sign_in
    from endotrial.store import hash_password
    from endotrial.store.trial_protocol import recorded_protocol

    upgrade_database(empty_database_url, revision="0004")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            _rows_of_revision_4(connection)
            connection.execute(
                text(
                    "INSERT INTO users (id, version, username, full_name, role, password_hash, "
                    "active) VALUES (2, 1, 'pi1', 'PI', 'investigator', :hash, :yes)"
                ),
                {"hash": hash_password("a long passphrase"), "yes": True},
            )
            if engine.dialect.name == "postgresql":  # rows given ids: move the id sequences on
                for table in ("sites", "users"):
                    connection.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 10)")
                    )
        upgrade_database(engine)
        seed = load_protocol("nct07176143")
        study = open_study(engine, seed)  # nothing recorded yet: nothing to refuse
        pi = sign_in(study, "pi1", "a long passphrase")
        add_site(study, pi, SiteInput(code="SZ2", name="Second Hospital"))
        with engine.connect() as connection:
            recorded = recorded_protocol(connection)
            writers = connection.scalars(
                text("SELECT DISTINCT username FROM audit_log WHERE entity = 'trial_protocols'")
            ).all()
        assert recorded is not None and recorded.protocol_id == "nct07176143"
        assert writers == ["pi1"]
        other = load_protocol(Path(__file__).parents[1] / "fixtures/protocols/second_trial.yaml")
        try:
            open_study(engine, other)
        except ServiceError as error:
            assert error.code == "study.other_protocol"
        else:
            raise AssertionError("another protocol was accepted")
    finally:
        engine.dispose()
