"""The one way services write: a session bound to an acting user and reason, one transaction."""

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from endotrial.errors import InputError
from endotrial.store.audit import REASON_KEY, TOUCHED_KEY, USER_KEY
from endotrial.store.errors import ConflictError

_SESSION_FACTORIES: dict[Engine, sessionmaker[Session]] = {}


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A cached sessionmaker; objects stay readable after commit (no reload per attribute)."""
    factory = _SESSION_FACTORIES.get(engine)
    if factory is None:
        factory = _SESSION_FACTORIES[engine] = sessionmaker(engine, expire_on_commit=False)
    return factory


@contextmanager
def unit_of_work(
    bind: Engine | sessionmaker[Session], *, user: str, reason: str | None = None
) -> Iterator[Session]:
    """Yield a session whose writes commit together at the end of the block, or not at all.

    `user` is who acts and `reason` why (required to change or delete data already entered);
    both go into every audit row. A record changed by someone else meanwhile raises ConflictError.
    """
    if not user or not user.strip():
        raise InputError("a unit of work needs the acting user's username (user=...)")
    factory = session_factory(bind) if isinstance(bind, Engine) else bind
    session = factory()
    session.info[USER_KEY] = user.strip()
    session.info[REASON_KEY] = reason
    try:
        yield session
        session.commit()
    except StaleDataError as error:
        message = _conflict_message(session, error)
        session.rollback()
        raise ConflictError(message) from error
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _conflict_message(session: Session, error: StaleDataError) -> str:
    """Name the record(s) the stale UPDATE/DELETE was about, so the user knows what to reload."""
    match = re.search(r"table '([^']+)'", str(error))
    table = match.group(1) if match else None
    touched: list[tuple[str, int]] = session.info.get(TOUCHED_KEY, [])
    ids = sorted({str(row_id) for name, row_id in touched if name == table})
    record = f"{table} #{', #'.join(ids)}" if table and ids else (table or "a record")
    return (
        f"record {record} was changed by someone else since you opened it; "
        "reload it and re-apply your change"
    )
