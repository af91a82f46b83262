"""Request keys (store revision 0010) against a careless upgrade and a copy of the database:
each hole found has its test here, and so has each attack that held."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine
from store_helpers import acting_as, drop_role, new_role

from endotrial.store.migrate import alembic_config, upgrade_database
from endotrial.store.request_keys import KeptAnswer, claim_request, finish_request
from endotrial.store.roles import grant_app_role

MINUTE = timedelta(minutes=1)


@pytest.fixture
def role_granted_before_0010(engine: Engine) -> Iterator[str]:
    """A database at revision 0009 whose application role is granted as the docs say, then
    upgraded to the head (the operator runs `db upgrade`, not the grant again)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0009")
    role = new_role(engine)
    grant_app_role(engine, role)
    upgrade_database(engine)
    yield role
    drop_role(engine, role)


def test_the_app_role_granted_before_the_upgrade_may_keep_request_keys(
    role_granted_before_0010: str, database_url: str
) -> None:
    """Found: `grant-app-role` grants the tables there are; the upgrade to 0010 added
    request_keys without a grant, so after `db upgrade` every form and keyed API POST of the
    application's role was refused by PostgreSQL (permission denied: 503) until the grant was
    run again, which the upgrade notes never said. The upgrade grants it as the sessions."""
    app = acting_as(database_url, role_granted_before_0010)
    try:
        assert claim_request(app, "k1", "o1", "b" * 64, MINUTE) is True
        answer = KeptAnswer("b" * 64, 201, (), b"{}")
        finish_request(app, "k1", answer, MINUTE, max_per_owner=10)
        assert claim_request(app, "k1", "o1", "b" * 64, MINUTE) == answer
    finally:
        app.dispose()


def test_odd_digests_and_a_huge_answer_are_kept_as_given(engine: Engine) -> None:
    """The store takes what the web gives it (hex digests); it does not trip on bytes that
    are not text, a NUL in a header or a large body."""
    body = bytes(range(256)) * 4096  # 1 MB, every byte value, NULs included
    answer = KeptAnswer("b" * 64, 200, (("x-odd", "é\u00ff"),), body)
    assert claim_request(engine, "f" * 64, "0" * 64, "b" * 64, MINUTE) is True
    finish_request(engine, "f" * 64, answer, MINUTE, max_per_owner=1)
    assert claim_request(engine, "f" * 64, "0" * 64, "b" * 64, MINUTE) == answer


def test_an_owner_flooding_keys_does_not_forget_her_own_request_still_being_done(
    engine: Engine,
) -> None:
    """Found: an owner's share counted her claims still being done, and the oldest was
    forgotten with her old answers: a retry of that slow request was then claimed and done a
    second time alongside it. Only kept answers are forgotten."""
    assert claim_request(engine, "slow", "o1", "b" * 64, MINUTE) is True
    answer = KeptAnswer("b" * 64, 201, (), b"{}")
    for digest in ("k1", "k2", "k3"):
        assert claim_request(engine, digest, "o1", "b" * 64, MINUTE) is True
        finish_request(engine, digest, answer, MINUTE, max_per_owner=2)
    assert claim_request(engine, "slow", "o1", "b" * 64, MINUTE) is False  # still being done
    assert claim_request(engine, "k1", "o1", "b" * 64, MINUTE) is True  # the oldest answer gone
    assert claim_request(engine, "k3", "o1", "b" * 64, MINUTE) == answer
