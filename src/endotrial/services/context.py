"""Who acts, on which trial: the signed-in actor, the study, and the context of one operation.

Every operation takes a `Study` (the database and the protocol it runs) and an `Actor` (what
`sign_in` returned). The operation resolves the actor once, inside its transaction, into a
`Context`: the account, its role, its site and that site's date, all read from the database, so
a forged or stale actor (an unknown token, a deactivated account) can do nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from endotrial.protocol.models import Protocol
from endotrial.services import _rehearsal
from endotrial.services.errors import InvalidInput, NotSignedIn, PermissionDenied, ServiceError
from endotrial.services.permissions import Operation, authorize
from endotrial.store import Role, Site, SiteMembership, TrialProtocol, User, verify_password
from endotrial.store.audit import USER_ID_KEY, take_write_lock
from endotrial.store.auth import (
    open_auth_session,
    recent_failures,
    record_attempt,
    revoke_auth_session,
    signed_in_user,
)
from endotrial.store.errors import AuthenticationError, ReasonRequiredError
from endotrial.store.health import check_integrity
from endotrial.store.models import DEFAULT_TIME_ZONE
from endotrial.store.passwords import hash_password
from endotrial.store.trial_protocol import RecordedProtocol, recorded_protocol
from endotrial.store.trial_protocol import protocol_sha256 as content_sha256
from endotrial.store.types import utc_now
from endotrial.store.unit_of_work import read_session, session_factory, unit_of_work
from endotrial.store.write_queue import write_turn

#: How long a sign-in lasts (a working day); the web shortens it with an idle timeout.
SESSION_LIFETIME = dt.timedelta(hours=12)
#: Failed sign-ins allowed for one username within the window before it is throttled.
MAX_FAILED_SIGN_INS = 5
FAILED_SIGN_IN_WINDOW = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class Study:
    """A trial database and the protocol it runs."""

    engine: Engine
    protocol: Protocol


def open_study(engine: Engine, protocol: Protocol) -> Study:
    """The study run by `protocol` in the database behind `engine`; refused when the database
    runs another protocol (another id, or the same id with other content)."""
    if not isinstance(engine, Engine) or not isinstance(protocol, Protocol):
        raise InvalidInput(
            "input.wrong_type", what="a study", expected="open_study(Engine, Protocol)",
            given=f"{type(engine).__name__}, {type(protocol).__name__}",
        )  # fmt: skip
    check_once(engine)
    check_protocol(engine, protocol)
    return Study(engine, protocol)


_HASHES: dict[int, tuple[weakref.ref[Protocol], str]] = {}


def protocol_sha256(protocol: Protocol) -> str:
    """The protocol's content hash (`store.trial_protocol.protocol_sha256`), computed once
    per protocol object."""
    cached = _HASHES.get(id(protocol))
    if cached is not None and cached[0]() is protocol:
        return cached[1]
    digest = content_sha256(protocol)
    key = id(protocol)
    _HASHES[key] = (weakref.ref(protocol, lambda _: _HASHES.pop(key, None)), digest)
    return digest


#: Per engine, the protocol objects found to be the one its database runs.
_MATCHED: weakref.WeakKeyDictionary[Engine, dict[int, weakref.ref[Protocol]]] = (
    weakref.WeakKeyDictionary()
)


def check_protocol(engine: Engine, protocol: Protocol) -> bool:
    """Refuse a protocol other than the one the database runs. True when the database has it
    recorded; False when it has none recorded yet (set up before revision 0005: its next write
    records it). Checked once per engine and protocol object, so a write costs nothing more."""
    matched = _MATCHED.setdefault(engine, {})
    known = matched.get(id(protocol))
    if known is not None and known() is protocol:
        return True
    with read_session(engine) as session:
        recorded = recorded_protocol(session)
    if recorded is None:
        return False
    _refuse_other_protocol(recorded, protocol)
    matched[id(protocol)] = weakref.ref(protocol)
    return True


def _refuse_other_protocol(recorded: RecordedProtocol, protocol: Protocol) -> None:
    given_sha256 = protocol_sha256(protocol)
    if (recorded.protocol_id, recorded.content_sha256) == (protocol.protocol_id, given_sha256):
        return
    raise ServiceError(
        "study.other_protocol",
        held=recorded.protocol_id,
        held_format=recorded.format_version,
        held_sha256=recorded.content_sha256,
        recorded_at=recorded.recorded_at,
        given=protocol.protocol_id,
        given_sha256=given_sha256,
    )


def record_protocol(session: Session, protocol: Protocol) -> None:
    """Record the protocol the database runs, in the write's transaction (audited): at set-up,
    and on the first write to a database set up before revision 0005. Read again under the
    write lock, so two first writes at once record it once (and a third protocol is refused)."""
    session.flush()
    recorded = recorded_protocol(session)
    if recorded is not None:
        _refuse_other_protocol(recorded, protocol)
        return
    session.add(
        TrialProtocol(
            sequence=1,  # an amendment will record the next sequence
            protocol_id=protocol.protocol_id,
            format_version=protocol.format_version,
            content_sha256=protocol_sha256(protocol),
            recorded_at=utc_now(),
        )
    )
    session.flush()


_CHECKED: weakref.WeakSet[Engine] = weakref.WeakSet()


def check_once(engine: Engine) -> None:
    """Refuse to work on a damaged database file (`store.health`); checked once per engine,
    not on every write."""
    if engine not in _CHECKED:
        check_integrity(engine)
        _CHECKED.add(engine)


@dataclass(frozen=True)
class Actor:
    """A signed-in team member, as `sign_in` returns her. The token is her proof; keep it
    secret (it is never printed)."""

    username: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class Context:
    """The acting account as the database knows it, for one operation."""

    user_id: int
    username: str
    role: Role
    site_id: int | None
    """Her home site; None for central staff (a central monitor, the sponsor's investigator),
    who work on every site's data."""
    other_site_ids: frozenset[int] = frozenset()
    """The further sites she works at (memberships beside her home site)."""
    time_zone: str = DEFAULT_TIME_ZONE
    """Her home site's time zone (central staff: the default, China's)."""

    @property
    def central(self) -> bool:
        return self.site_id is None

    @property
    def site_ids(self) -> frozenset[int] | None:
        """The sites whose data she works on; None for central staff (every site)."""
        return None if self.site_id is None else frozenset({self.site_id}) | self.other_site_ids

    def may_access(self, site_id: int | None) -> bool:
        """Whether she works on data of `site_id` (central staff work on every site's)."""
        sites = self.site_ids
        return sites is None or site_id in sites

    def today(self) -> dt.date:
        """Her calendar day, at her home site (for what she reads: visits due today). A
        record's dates are checked against its own site's day: `Tx.site_today`."""
        return dt.datetime.now(ZoneInfo(self.time_zone)).date()


def sign_in(study: Study, username: str, password: str) -> Actor:
    """Check the password of an active account and open a session; refused (without saying
    which of the two was wrong, and in the same time) for a bad username or password, a
    deactivated account, or after too many recent failures for the username.

    The attempt is counted as failed under the write lock before the password is checked, so
    guesses sent in parallel are throttled as surely as guesses in a row; a success then
    clears the count."""
    key = _sign_in_name(username)
    if not isinstance(password, str) or not _encodable(password) or len(password) > 1000:
        raise NotSignedIn("auth.bad_credentials")
    factory = session_factory(study.engine)
    with write_turn(study.engine), factory.begin() as session:
        take_write_lock(session)
        _count_failure_first(session, key)
    with factory() as session:
        user = account_by_name(session, key)
        known = user is not None and user.active
        stored = user.password_hash if user is not None and known else _dummy_hash()
        ok = verify_password(stored, password) and known
    if not ok or user is None:
        raise NotSignedIn("auth.bad_credentials")
    with write_turn(study.engine), factory.begin() as session:
        record_attempt(session, key, succeeded=True)
        token = open_auth_session(session, user.id, SESSION_LIFETIME)
    return Actor(user.username, token)


def _count_failure_first(session: Session, username: str) -> None:
    """Refuse once too many recent attempts failed; else count this one as failed before the
    password is checked (under the write lock), so guesses sent in parallel are throttled as
    surely as guesses in a row; a success then clears the count."""
    if recent_failures(session, username, FAILED_SIGN_IN_WINDOW) >= MAX_FAILED_SIGN_INS:
        minutes = int(FAILED_SIGN_IN_WINDOW.total_seconds() // 60)
        raise PermissionDenied("auth.throttled", username=username, minutes=minutes)
    record_attempt(session, username, succeeded=False)


def count_password_attempt(study: Study, actor: Actor) -> None:
    """Before a password is asked again (an electronic signature): throttled and counted with
    her sign-ins, so a session left open cannot be used to guess her password."""
    _check_actor(actor)
    with write_turn(study.engine), session_factory(study.engine).begin() as session:
        take_write_lock(session)
        user = signed_in_user(session, actor.token)
        if user is not None:  # else the operation refuses her, saying why
            _count_failure_first(session, user.username)


def clear_password_attempts(study: Study, username: str) -> None:
    """Her password was right: the failed attempts before it no longer count."""
    with write_turn(study.engine), session_factory(study.engine).begin() as session:
        record_attempt(session, username, succeeded=True)


def _sign_in_name(username: object) -> str:
    """The username as accounts are kept (lower case); anything that cannot be one is a
    failed sign-in, never an error from the database."""
    if not isinstance(username, str) or not _encodable(username) or "\x00" in username:
        raise NotSignedIn("auth.bad_credentials")
    return username.strip().lower()[:64]


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate, which JSON can carry
        return False
    return True


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    """A hash to check an unknown user's password against, so she takes as long as a known
    one (the time must not tell which usernames exist)."""
    if not _DUMMY:
        _DUMMY.append(hash_password("no account has this password"))
    return _DUMMY[0]


def sign_out(study: Study, actor: Actor) -> None:
    """End the actor's session; its token no longer works anywhere."""
    _check_actor(actor)
    with write_turn(study.engine), session_factory(study.engine).begin() as session:
        revoke_auth_session(session, actor.token)


def account_by_name(session: Session, username: str) -> User | None:
    """The account whose username equals `username` ignoring case."""
    return session.scalar(select(User).where(func.lower(User.username) == username.lower()))


@dataclass
class Tx:
    """One operation's transaction: its session, who acts, and the protocol."""

    session: Session
    ctx: Context
    protocol: Protocol

    def site_zone(self, site_id: int | None) -> ZoneInfo:
        """A site's time zone; for no site (a record made before sites were required, a
        trial-wide one) the acting user's."""
        site = self.session.get(Site, site_id) if site_id is not None else None
        return ZoneInfo(site.time_zone if site is not None else self.ctx.time_zone)

    def site_today(self, site_id: int | None) -> dt.date:
        """The calendar day at a site now, in its time zone."""
        return dt.datetime.now(self.site_zone(site_id)).date()


@contextmanager
def writing(
    study: Study,
    actor: Actor,
    operation: Operation,
    *,
    reason: str | None = None,
) -> Iterator[Tx]:
    """The transaction of a write: the write lock taken first, the actor proven by her token,
    her role checked for `operation`; commits at the end of the block, or writes nothing.
    Inside `services.dry_run` it checks everything and rolls back (`_rehearsal`)."""
    _check_actor(actor)
    check_once(study.engine)
    protocol_recorded = check_protocol(study.engine, study.protocol)
    dry_run = _rehearsal.transaction_dry_run()
    with (
        _as_service_errors(),
        unit_of_work(study.engine, token=actor.token, reason=reason, dry_run=dry_run) as session,
    ):
        user = session.get(User, session.info[USER_ID_KEY])
        assert user is not None  # unit_of_work found her by her token
        authorize(user, operation)
        if not protocol_recorded:  # a database set up before revision 0005
            record_protocol(session, study.protocol)
        yield Tx(session, context_of(session, user), study.protocol)


@contextmanager
def reading(study: Study, actor: Actor, operation: Operation, *also: Operation) -> Iterator[Tx]:
    """A read-only transaction for a signed-in actor whose role may do `operation` (and each
    of `also`: a read made of several, her sign-in checked once)."""
    _check_actor(actor)
    check_protocol(study.engine, study.protocol)
    with read_session(study.engine) as session:
        user = signed_in_user(session, actor.token)
        if user is None:
            raise NotSignedIn("auth.not_signed_in")
        for wanted in (operation, *also):
            authorize(user, wanted)
        yield Tx(session, context_of(session, user), study.protocol)


@contextmanager
def setting_up(study: Study, username: str) -> Iterator[Session]:
    """The transaction that creates the first site and account of a new database (refused once
    any account exists), and records the protocol the database runs from then on."""
    check_once(study.engine)
    with _as_service_errors(), unit_of_work(study.engine, setup_user=username) as session:
        yield session
        record_protocol(session, study.protocol)  # after her account: the trail shows who


@contextmanager
def _as_service_errors() -> Iterator[None]:
    """The store's refusals as the services' errors: an unproven writer, and a change to
    data already entered without a reason (a service that forgot to ask for one)."""
    try:
        yield
    except AuthenticationError as error:
        raise NotSignedIn(error.code) from None
    except ReasonRequiredError as error:
        what = str(error).split(" needs a reason")[0]  # e.g. "update of ultrasounds #3 (...)"
        raise InvalidInput("change.reason_required", field="reason", what=what) from None


def context_of(session: Session, user: User) -> Context:
    """Her account, her sites (home site and memberships) and her home site's time zone."""
    others = session.scalars(
        select(SiteMembership.site_id).where(SiteMembership.user_id == user.id)
    ).all()
    home = session.get(Site, user.site_id) if user.site_id is not None else None
    zone = home.time_zone if home is not None else DEFAULT_TIME_ZONE
    return Context(user.id, user.username, user.role, user.site_id, frozenset(others), zone)


def _check_actor(actor: object) -> None:
    if not isinstance(actor, Actor) or not isinstance(actor.token, str):
        raise NotSignedIn("auth.not_signed_in")


USERNAME_FORM = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def check_new_password(username: str, password: str, minimum: int = 10) -> str:
    """A password long enough, not containing the username; returns its argon2 hash."""
    if not isinstance(password, str) or len(password) < minimum:
        raise InvalidInput("input.password_short", field="password", minimum=minimum)
    if username.lower() in password.lower():
        raise InvalidInput("input.password_like_username", field="password")
    return hash_password(password)
