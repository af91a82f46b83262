"""Small builders shared by the store tests."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session

from endotrial.store import AuditEntry, Participant, Role, Site, User, make_engine
from endotrial.store.auth import open_auth_session
from endotrial.store.unit_of_work import unit_of_work

#: The accounts store tests act as (created together, by the set-up path, on first use).
TEST_USERS = ("admin", "coord1", "coord2", "inv1", "rad1", "writer")
_TOKENS: dict[tuple[str, str], str] = {}


def token_for(engine: Engine, username: str) -> str:
    """A live sign-in token of `username` on this database (the accounts made on first use)."""
    key = (engine.url.render_as_string(hide_password=False), username)
    if key not in _TOKENS:
        _create_accounts(engine)
    return _TOKENS[key]


def _create_accounts(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    with Session(engine) as session:
        exists = session.scalar(select(User.id).limit(1)) is not None
    if not exists:
        with unit_of_work(engine, setup_user="admin") as session:
            for name in TEST_USERS:
                role = Role.INVESTIGATOR if name in ("admin", "inv1") else Role.COORDINATOR
                session.add(
                    User(username=name, full_name=name, role=role, password_hash="-", active=True)
                )
    with Session(engine) as session, session.begin():
        for name in TEST_USERS:
            user = session.scalar(select(User).where(User.username == name))
            assert user is not None
            _TOKENS[(url, name)] = open_auth_session(session, user.id, timedelta(hours=1))


@contextmanager
def writes(engine: Engine, user: str, reason: str | None = None) -> Iterator[Session]:
    """The store's unit of work as `user` (signed in), as the services open it."""
    with unit_of_work(engine, token=token_for(engine, user), reason=reason) as session:
        yield session


def enrol_participant(engine: Engine, study_id: str = "P001", user: str = "coord1") -> int:
    """A site and one participant, entered in one unit of work; returns the participant id."""
    with writes(engine, user) as session:
        site = session.scalar(select(Site).where(Site.code == "GZ6"))
        if site is None:
            site = Site(code="GZ6", name="Sixth Affiliated Hospital")
            session.add(site)
            session.flush()
        participant = Participant(study_id=study_id, site_id=site.id, status="screened")
        session.add(participant)
        session.flush()
        return participant.id


def audit_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def audit_rows(engine: Engine, entity: str, row_id: int) -> list[AuditEntry]:
    with Session(engine) as session:
        query = (
            select(AuditEntry)
            .where(AuditEntry.entity == entity, AuditEntry.row_id == str(row_id))
            .order_by(AuditEntry.seq)
        )
        return list(session.scalars(query))


TODAY = date(2025, 10, 1)


def drop_append_only_guard(engine: Engine) -> None:
    """What an attacker with the database file (or its owner's role) does first: remove the
    triggers that refuse UPDATE and DELETE on the audit log."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        else:
            connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))


def new_role(engine: Engine) -> str:
    """PostgreSQL: a fresh role with no rights yet, which the suite's user may act as (it has
    CREATEROLE, see .ci/postgres.sh); `drop_role` afterwards."""
    role = f"app_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
        user = connection.execute(text("SELECT current_user")).scalar_one()
        connection.execute(text(f'GRANT "{role}" TO "{user}"'))
    return role


def acting_as(database_url: str, role: str) -> Engine:
    """An engine whose every connection acts as `role`."""
    app = make_engine(database_url)

    def act_as_role(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor().execute(f'SET ROLE "{role}"')
        dbapi_connection.commit()  # SET is transactional in PostgreSQL

    event.listen(app, "connect", act_as_role)
    return app


def drop_role(engine: Engine, role: str) -> None:
    with engine.begin() as connection:
        connection.execute(text(f'DROP OWNED BY "{role}"'))
        connection.execute(text(f'DROP ROLE "{role}"'))
