"""PostgreSQL: the application's role adds to the audit trail and cannot change it."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError
from store_helpers import enrol_participant

from endotrial.store import make_engine, verify_audit_chain
from endotrial.store.roles import grant_app_role


@pytest.fixture
def app_engine(engine: Engine, database_url: str) -> Iterator[Engine]:
    """An engine whose every connection acts as a fresh role granted as `grant_app_role`
    grants (the suite's user makes it: CREATEROLE, see .ci/postgres.sh)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    role = f"app_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
        user = connection.execute(text("SELECT current_user")).scalar_one()
        connection.execute(text(f'GRANT "{role}" TO "{user}"'))
    grant_app_role(engine, role)
    app = make_engine(database_url)

    def act_as_role(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor().execute(f'SET ROLE "{role}"')
        dbapi_connection.commit()  # SET is transactional in PostgreSQL

    event.listen(app, "connect", act_as_role)
    yield app
    app.dispose()
    with engine.begin() as connection:
        connection.execute(text(f'DROP OWNED BY "{role}"'))
        connection.execute(text(f'DROP ROLE "{role}"'))


def test_the_application_role_writes_but_cannot_change_the_trail(
    engine: Engine, app_engine: Engine
) -> None:
    enrol_participant(app_engine)  # writes trial data and appends to the trail, as itself
    for statement in (
        "UPDATE audit_log SET reason = 'rewritten'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE trail_keys SET public_key = 'x'",
    ):
        with pytest.raises(DBAPIError, match="permission denied"), app_engine.begin() as c:
            c.execute(text(statement))
    with app_engine.connect() as connection:  # and the trigger still stands for everyone
        assert connection.execute(text("SELECT count(*) FROM audit_log")).scalar_one() > 0
    assert verify_audit_chain(engine).ok
