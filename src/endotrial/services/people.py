"""Sites and study-team accounts (the roles decide who may do what: see permissions).

A new database has no account: `set_up_study` creates the first site and the first account,
which is an investigator's, and signs her in; from then on only an investigator adds sites and
accounts. An investigator attached to a site adds accounts at her site only; accounts that work
at every site (central staff) and new sites are a central investigator's to create.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

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
    reading,
    setting_up,
    sign_in,
    writing,
)
from endotrial.services.errors import InvalidInput, NotFoundError, PermissionDenied, RuleViolation
from endotrial.services.permissions import Operation
from endotrial.store import Role, Site, SiteMembership, User
from endotrial.store.auth import record_attempt, revoke_user_sessions
from endotrial.store.models import DEFAULT_TIME_ZONE


class SiteInput(ServiceInput):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
    name: Label
    time_zone: Annotated[str, Field(max_length=64)] = DEFAULT_TIME_ZONE
    """The site's IANA time zone (e.g. 'Asia/Shanghai', 'Europe/Paris'): dates recorded for
    the site are checked against its calendar day."""


class TeamMember(ServiceInput):
    """A new account: username (any case; usernames ignore case), name, role and password, and
    her sites: `site_id` (one) or `site_ids` (several, her home site first); none for central
    staff, who work on every site's data."""

    username: Annotated[str, Field(min_length=2, max_length=64)]
    full_name: Label
    role: Role
    password: Annotated[str, Field(max_length=1000)]
    site_id: RecordId | None = None
    site_ids: Annotated[list[RecordId], Field(max_length=100)] | None = None

    def sites(self) -> list[int]:
        """Her sites, home site first (none: central staff)."""
        if self.site_id is not None and self.site_ids is not None:
            raise InvalidInput(
                "input.invalid", field="site_ids", what="the team member's sites",
                problems="give site_id or site_ids, not both",
            )  # fmt: skip
        sites = [self.site_id] if self.site_id is not None else list(self.site_ids or [])
        if len(set(sites)) != len(sites):
            raise InvalidInput(
                "input.invalid", field="site_ids", what="the team member's sites",
                problems=f"{sites} names a site twice",
            )  # fmt: skip
        return sites


class MembershipInput(ServiceInput):
    """Add a site to a site's team member, or remove one (`member` false), with the reason."""

    username: Annotated[str, Field(min_length=2, max_length=64)]
    site_id: RecordId
    member: bool
    reason: Annotated[str, Field(max_length=2000)]


def set_up_study(study: Study, site: SiteInput, investigator: TeamMember) -> Actor:
    """On a new database: create the first site and the first account (an investigator's,
    attached to no site, since she then adds sites and the team), and sign her in."""
    if investigator.role is not Role.INVESTIGATOR:
        raise PermissionDenied("setup.first_account", field="role", role=investigator.role.value)
    username = _new_username(investigator.username)
    password_hash = check_new_password(username, investigator.password)
    zone = _time_zone(site.time_zone)
    with setting_up(study, username) as session:
        session.add(Site(code=site.code, name=site.name, time_zone=zone))
        session.add(_account(investigator, username, password_hash, site_id=None))
    return sign_in(study, username, investigator.password)


def add_site(study: Study, actor: Actor, site: SiteInput) -> int:
    """Create a site in its time zone (a central investigator's act); a taken code is refused."""
    zone = _time_zone(site.time_zone)
    with writing(study, actor, Operation.ADD_SITE) as tx:
        _require_central(tx, "add a site")
        if tx.session.scalar(select(Site).where(func.lower(Site.code) == site.code.lower())):
            raise RuleViolation("site.code_taken", field="code", code=site.code)
        row = Site(code=site.code, name=site.name, time_zone=zone)
        tx.session.add(row)
        tx.session.flush()
        return row.id


def add_user(study: Study, actor: Actor, member: TeamMember) -> int:
    """Create a study-team account at the investigator's sites (or, for a central
    investigator, at any sites or none); a username taken in any letter case is refused."""
    username = _new_username(member.username)
    password_hash = check_new_password(username, member.password)
    sites = member.sites()
    with writing(study, actor, Operation.ADD_USER) as tx:
        if not sites:
            _require_central(tx, "create an account that works at every site")
        for site_id in sites:
            get_row(tx.session, Site, site_id)
            check_site(tx, site_id, "the team")
        existing = account_by_name(tx.session, username)
        if existing is not None:
            raise InvalidInput(
                "input.username_taken", field="username", username=username,
                existing=existing.username,
            )  # fmt: skip
        account = _account(member, username, password_hash, site_id=sites[0] if sites else None)
        tx.session.add(account)
        tx.session.flush()
        for site_id in sites[1:]:
            tx.session.add(SiteMembership(user_id=account.id, site_id=site_id))
        return account.id


def set_site_membership(study: Study, actor: Actor, change: MembershipInput) -> None:
    """Add a site to a site's team member, or remove one (a central investigator's act, with
    the reason, audited). Removing her home site makes her next site the home site; her only
    site cannot be removed (without a site she would work at every site: deactivate instead)."""
    why = meaningful_reason(change.reason, "changing a team member's sites")
    name = _new_username(change.username)
    verb = "added" if change.member else "removed"
    reason = f"site {verb}: {why}"
    with writing(study, actor, Operation.SET_SITE_MEMBERSHIP, reason=reason) as tx:
        _require_central(tx, "change a team member's sites")
        account = account_by_name(tx.session, name)
        if account is None:
            raise NotFoundError("account.not_found", field="username", username=name)
        site = get_row(tx.session, Site, change.site_id)
        if account.site_id is None:
            raise RuleViolation("membership.central", field="username", username=name)
        memberships = {
            m.site_id: m
            for m in tx.session.scalars(
                select(SiteMembership)
                .where(SiteMembership.user_id == account.id)
                .order_by(SiteMembership.id)
            )
        }
        if change.member:
            _add_membership(tx, account, site, memberships)
        else:
            _remove_membership(tx, account, site, memberships)


def _add_membership(
    tx: Tx, account: User, site: Site, memberships: dict[int, SiteMembership]
) -> None:
    if site.id == account.site_id or site.id in memberships:
        raise RuleViolation(
            "membership.already", field="site_id", username=account.username, site=site.code
        )
    tx.session.add(SiteMembership(user_id=account.id, site_id=site.id))


def _remove_membership(
    tx: Tx, account: User, site: Site, memberships: dict[int, SiteMembership]
) -> None:
    if site.id in memberships:
        tx.session.delete(memberships[site.id])
        return
    if site.id != account.site_id:
        raise RuleViolation(
            "membership.not_member", field="site_id", username=account.username, site=site.code
        )
    if not memberships:
        raise RuleViolation(
            "membership.last_site", field="site_id", username=account.username, site=site.code
        )
    next_home = next(iter(memberships.values()))  # the site she joined first
    account.site_id = next_home.site_id
    tx.session.delete(next_home)


#: Names zoneinfo knows that are no place's time: the server's own zone (what a site's zone
#: replaces) and tzdata's placeholder.
_NOT_A_PLACE = frozenset({"localtime", "Factory"})


def _time_zone(name: str) -> str:
    """An IANA time-zone name the system knows ('Asia/Shanghai'), refused otherwise (also the
    server's 'localtime', and the posix/ and right/ copies: right/ counts leap seconds)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("site.time_zone", field="time_zone", time_zone=name[:64]) from None
    if name in _NOT_A_PLACE or name not in available_timezones():
        raise InvalidInput("site.time_zone", field="time_zone", time_zone=name[:64])
    return name


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


#: The languages the pages are offered in (the web application's catalogues).
LANGUAGES = ("en", "zh_Hans")


@dataclass(frozen=True)
class AccountView:
    """The signed-in user's own account, as she sees it (never her password's hash)."""

    username: str
    full_name: str
    role: Role
    language: str | None
    """The language of her pages she chose; None: not chosen (her browser's)."""
    today: dt.date
    """The calendar day now at her home site, in its time zone (the date a form offers)."""


def my_account(study: Study, actor: Actor) -> AccountView:
    with reading(study, actor, Operation.READ_OWN_ACCOUNT) as tx:
        user = tx.session.get_one(User, tx.ctx.user_id)
        today = dt.datetime.now(ZoneInfo(tx.ctx.time_zone)).date()
        return AccountView(user.username, user.full_name, user.role, user.language, today)


def set_my_language(study: Study, actor: Actor, language: str) -> None:
    """Keep the language of her pages on her account (so it follows her to any browser)."""
    if not isinstance(language, str) or language not in LANGUAGES:
        raise InvalidInput(
            "input.language", field="language", language=str(language)[:20], known=list(LANGUAGES)
        )
    with writing(study, actor, Operation.SET_OWN_LANGUAGE, reason="language chosen by her") as tx:
        user = tx.session.get_one(User, tx.ctx.user_id)
        if user.language != language:
            user.language = language


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
