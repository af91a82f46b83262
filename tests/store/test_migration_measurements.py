"""Store revision 0009 (outcome measurements): a database of revision 0008 with data gains the
`measurements` table, its rows intact; the table holds one typed value per participant, event
and item; downgrading removes it again."""

from datetime import date

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from endotrial.store import make_engine, schema_drift, upgrade_database
from endotrial.store.migrate import alembic_config


def test_revision_9_adds_measurements_to_a_database_of_revision_8(
    empty_database_url: str,
) -> None:
    upgrade_database(empty_database_url, revision="0008")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO sites (id, version, code, name) VALUES (1, 1, 'GZ6', 'Sixth')")
            )
            connection.execute(
                text(
                    "INSERT INTO participants (id, version, study_id, site_id, status) "
                    "VALUES (1, 1, 'GZ6-001', 1, 'allocated')"
                )
            )
        assert "measurements" not in inspect(engine).get_table_names()
        upgrade_database(engine)
        insert = text(
            "INSERT INTO measurements (version, participant_id, event_id, item, value_number, "
            "value_boolean, value_text, measured_date) VALUES (1, 1, :event, :item, :number, "
            ":flag, :code, :on)"
        )
        on = date(2026, 6, 12)
        row = {"event": "follow_up_3m", "item": "thickness_mm", "on": on}
        with engine.begin() as connection:
            connection.execute(insert, {**row, "number": 5.6, "flag": None, "code": None})
            study_id = connection.scalar(text("SELECT study_id FROM participants"))
        assert study_id == "GZ6-001"
        for values in (
            {"number": 5.7, "flag": None, "code": None},  # the same item at the same event
            {"item": "niche_present", "number": None, "flag": None, "code": None},  # no value
            {"item": "niche_present", "number": 1.0, "flag": True, "code": None},  # two values
        ):
            with pytest.raises(IntegrityError), engine.begin() as connection:
                connection.execute(insert, {**row, **values})
        assert schema_drift(engine) == []
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0008")
        assert "measurements" not in inspect(engine).get_table_names()
        upgrade_database(engine)
        assert schema_drift(engine) == []
    finally:
        engine.dispose()
