"""The one way trial data are written: a signed-in user's transaction, serialized, all or nothing.

`unit_of_work` is for the services only (an import contract keeps every other module of the
package away from it). It takes the database's write lock before anything is read, so every
check a service makes ("once", "at most 60", "the last investigator") sees the latest data and
holds until commit, on SQLite and PostgreSQL alike; it then proves who acts from her sign-in
token. Database failures come out as the store's own errors, never with SQL parameters.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from endotrial.store.audit import (
    APPENDED_KEY,
    KEYS_KEY,
    READ_ONLY_KEY,
    REASON_KEY,
    TOUCHED_KEY,
    USER_ID_KEY,
    USER_KEY,
    AuditChainHead,
    AuditEntry,
    grant_write,
    take_write_lock,
)
from endotrial.store.auth import signed_in_user
from endotrial.store.checkpoints import append_checkpoint
from endotrial.store.errors import AuthenticationError, ConflictError, StoreError
from endotrial.store.keys import TrialKeys, engine_keys
from endotrial.store.models import User
from endotrial.store.write_queue import write_turn

_SESSION_FACTORIES: dict[Engine, sessionmaker[Session]] = {}


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A cached sessionmaker; objects stay readable after commit (no reload per attribute)."""
    factory = _SESSION_FACTORIES.get(engine)
    if factory is None:
        factory = _SESSION_FACTORIES[engine] = sessionmaker(engine, expire_on_commit=False)
    return factory


@dataclass(frozen=True)
class PlannedChange:
    """One field a dry run would have written: an audit entry its transaction appended before
    it was rolled back (values decoded from the trail's JSON: dates as ISO text)."""

    table: str
    row_id: str
    action: str
    """insert, update or delete"""
    field: str | None
    old_value: Any
    new_value: Any
    reason: str | None


@dataclass
class DryRun:
    """Asks `unit_of_work` to check and roll back; it then holds what would have been written
    (when the block ran to its end: a refused operation writes nothing to list)."""

    changes: list[PlannedChange] = field(default_factory=list)


@contextmanager
def unit_of_work(
    engine: Engine,
    *,
    token: str | None = None,
    setup_user: str | None = None,
    reason: str | None = None,
    dry_run: DryRun | None = None,
) -> Iterator[Session]:
    """Yield a session whose writes commit together at the end of the block, or not at all.

    Who acts is proven by `token` (a live sign-in); only on a database without any account may
    `setup_user` act instead, to create the first site and account. `reason` says why (required
    to change or delete data already entered); both go into every audit row. A record changed
    by someone else meanwhile raises ConflictError. With `dry_run` every check runs and every
    change is flushed (so the trail's entries are computed), then all is rolled back: nothing
    is committed and no checkpoint signed; `dry_run.changes` lists the entries.
    """
    appended: tuple[int, str] | None = None
    keys: TrialKeys | None = None
    with write_turn(engine):  # SQLite's writers queue here, not in its busy handler's sleeps
        session = session_factory(engine)()
        first_seq: int | None = None
        try:
            with translated_database_errors(session):
                keys = engine_keys(engine)  # no write without the key file: no trail without it
                take_write_lock(session)
                if dry_run is not None:
                    first_seq = _tip_seq(session) + 1
                username, user_id = _acting_user(session, token, setup_user)
                session.info.update(
                    {USER_KEY: username, USER_ID_KEY: user_id, REASON_KEY: reason, KEYS_KEY: keys}
                )
                grant_write(session, username)
                yield session
                if dry_run is not None and first_seq is not None:
                    session.flush()
                    dry_run.changes[:] = _planned(session, first_seq)
                    session.rollback()
                else:
                    session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            appended = session.info.pop(APPENDED_KEY, None)
            session.close()
    if appended is not None and keys is not None and dry_run is None:
        _sign_tip(keys, *appended)


def _tip_seq(session: Session) -> int:
    return int(session.scalar(select(AuditChainHead.last_seq).where(AuditChainHead.id == 1)) or 0)


_ENTRIES = cast(Table, AuditEntry.__table__)


def _planned(session: Session, first_seq: int) -> list[PlannedChange]:
    """The entries this transaction appended, read inside it before its rollback."""
    rows = session.execute(
        select(_ENTRIES).where(_ENTRIES.c.seq >= first_seq).order_by(_ENTRIES.c.seq)
    )
    return [
        PlannedChange(
            table=row.entity,
            row_id=row.row_id,
            action=row.action,
            field=row.field,
            old_value=_decoded(row.old_value),
            new_value=_decoded(row.new_value),
            reason=row.reason,
        )
        for row in rows
    ]


def _decoded(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _sign_tip(keys: TrialKeys, seq: int, entry_hash: str) -> None:
    """Sign the committed tip into the checkpoint log. The write is already acknowledged: a
    log that cannot be written (a full disk) loses only this checkpoint, and `audit verify`
    says how far the latest one lags."""
    with contextlib.suppress(OSError):
        append_checkpoint(keys, seq, entry_hash)


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session that reads and never writes (a flush of any change is refused)."""
    session = session_factory(engine)()
    session.info[READ_ONLY_KEY] = True
    try:
        with translated_database_errors(session):
            yield session
    finally:
        session.rollback()
        session.close()


def _acting_user(session: Session, token: str | None, setup_user: str | None) -> tuple[str, int]:
    if setup_user is not None:
        if session.scalar(select(User.id).limit(1)) is not None:
            raise AuthenticationError(
                "this database already has accounts: sign in as an investigator to add sites "
                "and the team",
                code="setup.done",
            )
        return setup_user, 0
    user = signed_in_user(session, token)
    if user is None:
        raise AuthenticationError(
            "this operation needs a signed-in team member: sign in (your session is unknown, "
            "has expired or was signed out)",
            code="auth.not_signed_in",
        )
    return user.username, user.id


@contextmanager
def translated_database_errors(session: Session) -> Iterator[None]:
    """The database's failures as the store's errors: a concurrent change, a constraint that
    refused a second save, a database busy or damaged; never the SQL or its parameters."""
    try:
        yield
    except StaleDataError as error:
        raise ConflictError(_conflict_message(session, error), code="store.conflict") from None
    except IntegrityError as error:
        raise ConflictError(
            f"the save was refused by the database ({_constraint(error)}): someone may have "
            "saved the same record at the same moment; reload and check before trying again",
            code="store.constraint",
        ) from None
    except OperationalError as error:
        raise StoreError(_operational_message(error), code="store.unavailable") from None
    except DBAPIError as error:
        raise StoreError(
            f"the database refused the operation ({_first_line(error)}): nothing was saved",
            code="store.database_error",
        ) from None


def _first_line(error: DBAPIError) -> str:
    text = str(error.orig) if error.orig is not None else type(error).__name__
    return text.strip().splitlines()[0][:200] if text.strip() else type(error).__name__


def _constraint(error: IntegrityError) -> str:
    """The constraint's name or kind, without the values (which may be private)."""
    diag = getattr(error.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return f"constraint {name}"
    match = re.match(r"(\w+ constraint failed: [\w., ]+)", _first_line(error))
    return match.group(1) if match else "a constraint"


def _operational_message(error: OperationalError) -> str:
    reason = _first_line(error)
    if "locked" in reason or "busy" in reason:
        return (
            "the database stayed busy with another save for too long: nothing was saved; try "
            "again in a moment"
        )
    if "disk" in reason and "full" in reason:
        return "the disk holding the database is full: nothing was saved; free space and retry"
    if "malformed" in reason or "not a database" in reason:
        return (
            f"the database file is damaged ({reason}): nothing was saved; stop using it and "
            "restore the last backup"
        )
    return f"the database could not do the operation ({reason}): nothing was saved"


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
