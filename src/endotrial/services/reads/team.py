"""The team of the reader's sites: the sites and each account's role, sites and state, for the
investigator who manages them (no password hash, no session, nothing of the participants)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from endotrial.services.context import (
    FAILED_SIGN_IN_WINDOW,
    MAX_FAILED_SIGN_INS,
    Actor,
    Study,
    reading,
)
from endotrial.services.permissions import Operation
from endotrial.store import Role, Site, SiteMembership, User
from endotrial.store.auth import recent_failures


@dataclass(frozen=True)
class SiteView:
    site_id: int
    code: str
    name: str
    time_zone: str


@dataclass(frozen=True)
class MemberView:
    username: str
    full_name: str
    role: Role
    site_codes: tuple[str, ...]
    """Her sites, home site first; empty for central staff (every site)."""
    active: bool
    blocked: bool
    """Too many recent failed sign-ins: she must wait, or an investigator unblocks her."""


@dataclass(frozen=True)
class Team:
    sites: tuple[SiteView, ...]
    members: tuple[MemberView, ...]
    central: bool
    """Whether the reader is central staff (she alone adds sites and changes memberships)."""


def team(study: Study, actor: Actor) -> Team:
    """The reader's sites and the accounts working at any of them, by username; a central
    investigator sees every site and every account, central staff included."""
    with reading(study, actor, Operation.READ_TEAM) as tx:
        mine = tx.ctx.site_ids
        sites = [s for s in tx.session.scalars(select(Site).order_by(Site.code))
                 if mine is None or s.id in mine]  # fmt: skip
        codes = {s.id: s.code for s in sites}
        further: defaultdict[int, list[int]] = defaultdict(list)
        for membership in tx.session.scalars(select(SiteMembership).order_by(SiteMembership.id)):
            further[membership.user_id].append(membership.site_id)
        members = []
        for user in tx.session.scalars(select(User).order_by(User.username)):
            her_sites = [] if user.site_id is None else [user.site_id, *further[user.id]]
            if mine is not None and not set(her_sites) & mine:
                continue  # another site's account (or central staff): not hers to manage
            failures = recent_failures(tx.session, user.username, FAILED_SIGN_IN_WINDOW)
            members.append(MemberView(
                username=user.username, full_name=user.full_name, role=user.role,
                site_codes=tuple(codes.get(s, f"#{s}") for s in her_sites), active=user.active,
                blocked=failures >= MAX_FAILED_SIGN_INS,
            ))  # fmt: skip
        site_views = tuple(SiteView(s.id, s.code, s.name, s.time_zone) for s in sites)
        return Team(site_views, tuple(members), central=tx.ctx.central)
