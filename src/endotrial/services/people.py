"""Sites and study-team accounts (the roles decide who may do what: see permissions).

A new database has no account: `set_up_study` creates the first site and the first account,
which is an investigator's, and signs her in; from then on only an investigator adds sites and
accounts. An investigator attached to a site adds accounts at her site only; accounts that work
at every site (central staff) and new sites are a central investigator's to create.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from endotrial.services._common import check_site, get_row, meaningful_reason, site_codes
from endotrial.services._input import Label, RecordId, ServiceInput, as_text
from endotrial.services.context import (
    USERNAME_FORM,
    Actor,
    Study,
    Tx,
    account_by_name,
    check_new_password,
    setting_up,
    sign_in,
    writing,
)
from endotrial.services.errors import InvalidInput, NotFoundError, PermissionDenied, RuleViolation
from endotrial.services.permissions import Operation
from endotrial.store import Role, Site, User
from endotrial.store.auth import record_attempt, revoke_user_sessions


class SiteInput(ServiceInput):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
    name: Label


class TeamMember(ServiceInput):
    """A new account: username (any case; usernames ignore case), name, role and password."""

    username: Annotated[str, Field(min_length=2, max_length=64)]
    full_name: Label
    role: Role
    password: Annotated[str, Field(max_length=1000)]
    site_id: RecordId | None = None
    """Her site; None for central staff, who work on every site's data."""


def set_up_study(study: Study, site: SiteInput, investigator: TeamMember) -> Actor:
    """On a new database: create the first site and the first account (an investigator's,
    attached to no site, since she then adds sites and the team), and sign her in."""
    if investigator.role is not Role.INVESTIGATOR:
        raise PermissionDenied("setup.first_account", field="role", role=investigator.role.value)
    username = _new_username(investigator.username)
    password_hash = check_new_password(username, investigator.password)
    with setting_up(study, username) as session:
        session.add(Site(code=site.code, name=site.name))
        session.add(_account(investigator, username, password_hash, site_id=None))
    return sign_in(study, username, investigator.password)


def add_site(study: Study, actor: Actor, site: SiteInput) -> int:
    """Create a site (a central investigator's act); a taken code is refused."""
    with writing(study, actor, Operation.ADD_SITE) as tx:
        _require_central(tx, "add a site")
        if tx.session.scalar(select(Site).where(func.lower(Site.code) == site.code.lower())):
            raise RuleViolation("site.code_taken", field="code", code=site.code)
        row = Site(code=site.code, name=site.name)
        tx.session.add(row)
        tx.session.flush()
        return row.id


def add_user(study: Study, actor: Actor, member: TeamMember) -> int:
    """Create a study-team account at the investigator's site (or, for a central investigator,
    at any site or none); a username taken in any letter case is refused."""
    username = _new_username(member.username)
    password_hash = check_new_password(username, member.password)
    with writing(study, actor, Operation.ADD_USER) as tx:
        if member.site_id is None:
            _require_central(tx, "create an account that works at every site")
        else:
            get_row(tx.session, Site, member.site_id)
            check_site(tx, member.site_id, "the team")
        existing = account_by_name(tx.session, username)
        if existing is not None:
            raise InvalidInput(
                "input.username_taken", field="username", username=username,
                existing=existing.username,
            )  # fmt: skip
        account = _account(member, username, password_hash, site_id=member.site_id)
        tx.session.add(account)
        tx.session.flush()
        return account.id


def set_account_active(
    study: Study, actor: Actor, username: str, *, active: bool, reason: str
) -> None:
    """Deactivate an account (someone leaves the team; her entries stay hers in the audit
    trail, and her sessions end at once) or reactivate it, with the reason. The last active
    investigator stays active, or no one could manage the team any more."""
    why = meaningful_reason(reason, "deactivating or reactivating an account")
    name = as_text(username, "username", max_length=64)
    if not isinstance(active, bool):
        raise InvalidInput("input.invalid", field="active", what="active", problems="give a flag")
    verb = "reactivated" if active else "deactivated"
    with writing(study, actor, Operation.SET_ACCOUNT_ACTIVE, reason=f"account {verb}: {why}") as tx:
        account = account_by_name(tx.session, name)
        if account is None or not tx.ctx.may_access(account.site_id):
            raise NotFoundError("account.not_found", field="username", username=name)
        if account.active == active:
            raise RuleViolation("account.already", field="active", username=name, state=verb)
        if not active and account.role is Role.INVESTIGATOR:
            _keep_an_investigator(tx.session, name)
        account.active = active
        if not active:
            revoke_user_sessions(tx.session, account.id)


def unblock_sign_in(study: Study, actor: Actor, username: str, *, reason: str) -> None:
    """Lift the throttle on an account after failed sign-ins (someone else may have guessed
    at it to lock her out): her next sign-in is checked at once. Recorded as a successful
    attempt by the investigator, with her reason, in the sign-in log."""
    meaningful_reason(reason, "unblocking a sign-in")
    name = as_text(username, "username", max_length=64).lower()
    with writing(study, actor, Operation.UNBLOCK_SIGN_IN) as tx:
        account = account_by_name(tx.session, name)
        if account is None or not tx.ctx.may_access(account.site_id):
            raise NotFoundError("account.not_found", field="username", username=name)
        record_attempt(tx.session, account.username, succeeded=True)


def _keep_an_investigator(session: Session, username: str) -> None:
    """Counted under the write lock every operation takes first, so two investigators
    deactivating each other at once cannot both pass."""
    query = select(func.count()).where(User.role == Role.INVESTIGATOR, User.active.is_(True))
    if int(session.scalar(query) or 0) <= 1:
        raise RuleViolation("account.last_investigator", field="username", username=username)


def _require_central(tx: Tx, doing: str) -> None:
    if tx.ctx.site_id is not None:
        raise PermissionDenied(
            "auth.central_only",
            doing=doing,
            username=tx.ctx.username,
            their_sites=site_codes(tx.session, tx.ctx),
        )


def _new_username(username: str) -> str:
    """Usernames ignore case: stored in lower case, so 'Coord.Li' and 'coord.li' are one."""
    name = username.strip().lower()
    if not USERNAME_FORM.match(name):
        raise InvalidInput("input.username_form", field="username", username=username[:64])
    return name


def _account(member: TeamMember, username: str, password_hash: str, site_id: int | None) -> User:
    return User(
        username=username,
        full_name=member.full_name,
        role=member.role,
        site_id=site_id,
        password_hash=password_hash,
        active=True,
    )
