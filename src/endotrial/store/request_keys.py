"""Requests done once, whichever server process takes them: a form posted twice (a double
click, a browser resending) and an API POST sent again with its `Idempotency-Key`.

A request's key (a digest: nothing typed and no token is kept) is claimed before it is done
and holds the answer it got afterwards, for a while. Kept in the database, not in a process's
memory, so that `endotrial serve --workers N` and a restart keep the promise. These rows are
technical, like sign-in sessions: not trial data, not in the audit trail (the record a
request saved is).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, Integer, LargeBinary, String, Text, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from endotrial.store.base import Base
from endotrial.store.types import utc_now
from endotrial.store.unit_of_work import session_factory
from endotrial.store.write_queue import write_turn


class RequestKey(Base):
    """One request's key: being done (no answer yet) until `expires_at`, then done (its
    answer kept until `expires_at`)."""

    __tablename__ = "request_keys"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    """The digest of whose request it is (a bearer token, a page session)."""
    body_sha256: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[int | None] = mapped_column(Integer)
    """The answer's HTTP status once done; None while the request is being done."""
    headers_json: Mapped[str | None] = mapped_column(Text)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class KeptAnswer:
    """The answer a request got, given again to its repeat."""

    body_sha256: str
    """Of the request it answered: a repeat with another body is not the same request."""
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def claim_request(
    engine: Engine, digest: str, owner: str, body_sha256: str, working_for: timedelta
) -> KeptAnswer | bool:
    """Claim the key for this request (True): it is done by the caller, who then calls
    `finish_request`. The key's kept answer when it was done already; False while another
    request holds it. A claim not finished within `working_for` (its process was killed)
    lapses."""
    try:
        return _claim(engine, digest, owner, body_sha256, working_for)
    except IntegrityError:  # another process inserted the same key between our read and write
        return _claim(engine, digest, owner, body_sha256, working_for)


def _claim(
    engine: Engine, digest: str, owner: str, body_sha256: str, working_for: timedelta
) -> KeptAnswer | bool:
    with write_turn(engine), session_factory(engine).begin() as session:
        now = utc_now()
        session.execute(delete(RequestKey).where(RequestKey.expires_at <= now))
        row = session.get(RequestKey, digest)
        if row is not None:
            return _kept(row) if row.status is not None else False
        session.add(
            RequestKey(
                digest=digest, owner=owner, body_sha256=body_sha256, claimed_at=now,
                expires_at=now + working_for,
            )
        )  # fmt: skip
        session.flush()
    return True


def finish_request(
    engine: Engine,
    digest: str,
    answer: KeptAnswer | None,
    kept_for: timedelta,
    max_per_owner: int,
) -> None:
    """The claimed request is done: keep its answer for `kept_for` (its owner's oldest
    forgotten beyond `max_per_owner`), or free the key (None: nothing was saved, so its
    retry is done again)."""
    with write_turn(engine), session_factory(engine).begin() as session:
        row = session.get(RequestKey, digest)
        if row is None:
            return
        if answer is None:
            session.delete(row)
            return
        row.status, row.body = answer.status, answer.body
        row.headers_json = json.dumps(answer.headers)
        row.expires_at = utc_now() + kept_for
        session.flush()
        _forget_oldest(session, row.owner, max_per_owner)


def _forget_oldest(session: Session, owner: str, max_per_owner: int) -> None:
    """The owner's kept answers beyond her share, oldest first; never a claim still being
    done (forgotten, its retry would be done a second time alongside it)."""
    done = (RequestKey.owner == owner, RequestKey.status.is_not(None))
    owned = select(RequestKey.digest).where(*done)
    kept = owned.order_by(RequestKey.claimed_at.desc(), RequestKey.digest).limit(max_per_owner)
    session.execute(delete(RequestKey).where(*done, RequestKey.digest.not_in(kept)))


def _kept(row: RequestKey) -> KeptAnswer:
    headers = tuple((str(name), str(value)) for name, value in json.loads(row.headers_json or "[]"))
    return KeptAnswer(row.body_sha256, int(row.status or 0), headers, row.body or b"")
