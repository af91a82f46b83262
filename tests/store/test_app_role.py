"""PostgreSQL: the application's role adds to the audit trail and cannot change it."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from store_helpers import acting_as, drop_role, enrol_participant, new_role

from endotrial.store import verify_audit_chain
from endotrial.store.roles import grant_app_role


@pytest.fixture
def app_engine(engine: Engine, database_url: str) -> Iterator[Engine]:
    """An engine whose every connection acts as a fresh role granted as `grant_app_role`
    grants (the suite's user makes it: CREATEROLE, see .ci/postgres.sh)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    role = new_role(engine)
    grant_app_role(engine, role)
    app = acting_as(database_url, role)
    yield app
    app.dispose()
    drop_role(engine, role)


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
