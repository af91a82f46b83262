"""Sites and study-team accounts (the roles decide who may do what: see permissions).

A new installation has no account: while none exists, anyone may add the site and the first
account, which must be an investigator's; from then on only an investigator adds sites and users.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.services.errors import NotFoundError, RuleViolation
from endotrial.services.permissions import Operation, authorize, authorize_setup
from endotrial.store import Role, Site, User, hash_password, unit_of_work


@dataclass(frozen=True)
class TeamMember:
    username: str
    full_name: str
    role: Role
    password: str


def add_site(engine: Engine, *, code: str, name: str, user: str) -> int:
    """Create a site (or return the id of the one with this code)."""
    with unit_of_work(engine, user=user) as session:
        authorize_setup(session, user, Operation.ADD_SITE)
        site = session.scalar(select(Site).where(Site.code == code))
        if site is None:
            site = Site(code=code, name=name)
            session.add(site)
            session.flush()
        return site.id


def add_user(engine: Engine, member: TeamMember, *, site_id: int | None, user: str) -> int:
    """Create a study-team account; a taken username is refused. The first account of an
    installation may be created by anyone and must be an investigator's."""
    with unit_of_work(engine, user=user) as session:
        authorize_setup(session, user, Operation.ADD_USER, new_role=member.role)
        if session.scalar(select(User).where(User.username == member.username)) is not None:
            raise RuleViolation(f"username '{member.username}' is taken: choose another")
        account = User(
            username=member.username,
            full_name=member.full_name,
            role=member.role,
            site_id=site_id,
            password_hash=hash_password(member.password),
            active=True,
        )
        session.add(account)
        session.flush()
        return account.id


def set_account_active(
    engine: Engine, username: str, *, active: bool, reason: str, user: str
) -> None:
    """Deactivate an account (someone leaves the team; her entries stay hers in the audit
    trail) or reactivate it, with the reason. The last active investigator stays active, or no
    one could manage the team any more."""
    if not reason.strip():
        raise RuleViolation("give the reason (e.g. 'left the study team on 2026-03-01')")
    verb = "reactivated" if active else "deactivated"
    with unit_of_work(engine, user=user, reason=f"account {verb}: {reason.strip()}") as session:
        authorize(session, user, Operation.SET_ACCOUNT_ACTIVE)
        account = session.scalar(select(User).where(User.username == username))
        if account is None:
            raise NotFoundError(f"no account '{username}': check the username")
        if account.active == active:
            raise RuleViolation(f"the account '{username}' is already {verb}")
        if not active and account.role is Role.INVESTIGATOR and _active_investigators(session) == 1:
            raise RuleViolation(
                f"'{username}' is the last active investigator: add or reactivate another "
                "investigator first"
            )
        account.active = active


def _active_investigators(session: Session) -> int:
    """Counted under row locks (PostgreSQL), so two investigators deactivating each other at
    once cannot both pass the last-investigator rule; SQLite serializes writers anyway."""
    query = (
        select(User.id)
        .where(User.role == Role.INVESTIGATOR, User.active.is_(True))
        .with_for_update()
    )
    return len(session.scalars(query).all())
