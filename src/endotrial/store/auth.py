"""Sign-in sessions: the proof that a write comes from a team member who gave her password.

A session is a random token handed to the signed-in user; the database keeps only its SHA-256,
so a copy of the database lets no one act as anyone. Sessions and sign-in attempts are security
records, not trial data: they are not in the audit trail (the trail names the user of every
write, and `audit verify` checks that she had an account and a role allowed to act).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, ForeignKey, Integer, String, bindparam, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from endotrial.store.base import Base
from endotrial.store.models import User
from endotrial.store.types import utc_now

_ID = BigInteger().with_variant(Integer(), "sqlite")


class AuthSession(Base):
    """One sign-in: valid until it expires or is signed out (revoked)."""

    __tablename__ = "auth_sessions"
    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(_ID, ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class SignInAttempt(Base):
    """A sign-in attempt, kept to throttle password guessing."""

    __tablename__ = "sign_in_attempts"
    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    attempted_at: Mapped[datetime]
    succeeded: Mapped[bool]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode(errors="surrogatepass")).hexdigest()


def open_auth_session(session: Session, user_id: int, lifetime: timedelta) -> str:
    """A new session for the user; returns its token (shown once, never stored)."""
    token = secrets.token_urlsafe(32)
    now = utc_now()
    session.add(
        AuthSession(
            token_sha256=token_digest(token),
            user_id=user_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


#: Built once: every write runs it, and building a statement costs more than running it.
_SIGNED_IN = (
    select(User)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(
        AuthSession.token_sha256 == bindparam("digest"),
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > bindparam("now"),
        User.active.is_(True),
    )
)


def signed_in_user(session: Session, token: str | None) -> User | None:
    """The active account a live session token belongs to, or None."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    return session.scalar(_SIGNED_IN, {"digest": token_digest(token), "now": utc_now()})


def revoke_auth_session(session: Session, token: str) -> bool:
    """Sign out: the token stops working at once. False when it was not live."""
    row = session.scalar(
        select(AuthSession).where(
            AuthSession.token_sha256 == token_digest(token), AuthSession.revoked_at.is_(None)
        )
    )
    if row is None:
        return False
    row.revoked_at = utc_now()
    return True


def revoke_user_sessions(session: Session, user_id: int) -> None:
    """Sign a user out everywhere (her account was deactivated)."""
    for row in session.scalars(
        select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    ):
        row.revoked_at = utc_now()


def recent_failures(session: Session, username: str, window: timedelta) -> int:
    """Failed attempts for `username` (lower case) within `window`, since its last success."""
    since = utc_now() - window
    last_success = session.scalar(
        select(func.max(SignInAttempt.attempted_at)).where(
            SignInAttempt.username == username, SignInAttempt.succeeded.is_(True)
        )
    )
    if last_success is not None and last_success > since:
        since = last_success
    count = session.scalar(
        select(func.count()).where(
            SignInAttempt.username == username,
            SignInAttempt.succeeded.is_(False),
            SignInAttempt.attempted_at > since,
        )
    )
    return int(count or 0)


def record_attempt(session: Session, username: str, *, succeeded: bool) -> None:
    session.add(SignInAttempt(username=username, attempted_at=utc_now(), succeeded=succeeded))
