"""Team and site administration for the investigator: the sites and accounts of her sites; add
a team member, deactivate or reactivate an account with the reason, lift a sign-in block; a
central investigator also adds sites. Each act goes through the services (audited, her role
and sites checked there); a refusal comes back on the page, with what was typed kept (never a
password)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from endotrial.services import (
    SiteInput,
    Study,
    TeamMember,
    add_site,
    add_user,
    set_account_active,
    team,
    unblock_sign_in,
)
from endotrial.services.context import Actor
from endotrial.store import Role
from endotrial.web.deps import CsrfChecked, LanguageDep, PageActor, StudyDep
from endotrial.web.forms import FormRefusal, submit
from endotrial.web.rendering import page

router = APIRouter(include_in_schema=False)

#: Roles a new account may have, in the form's order.
ROLES = tuple(role.value for role in Role)


@router.get("/team")
def team_page(request: Request, study: StudyDep, actor: PageActor) -> Response:
    return _team(request, study, actor)


def _team(
    request: Request,
    study: Study,
    actor: Actor,
    *,
    status_code: int = 200,
    refused: FormRefusal | None = None,
    form: str = "",
) -> Response:
    return page(
        request, "team.html", status_code, team=team(study, actor), roles=ROLES,
        refused=refused, refused_form=form,
    )  # fmt: skip


def _act(
    request: Request, study: Study, actor: Actor, language: str, form: str,
    typed: dict[str, str], step: Callable[[], object],
) -> Response:  # fmt: skip
    """Do `step`; done: the team page again; refused: the page with the refusal beside form
    `form` and what was typed."""

    def again(refusal: FormRefusal, status_code: int) -> Response:
        return _team(request, study, actor, status_code=status_code, refused=refusal, form=form)

    return submit(step, language=language, typed=typed, refused=again, done="/team")


@router.post("/team/members", dependencies=[CsrfChecked])
def add_member_form(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    language: LanguageDep,
    username: Annotated[str, Form(max_length=200)],
    full_name: Annotated[str, Form(max_length=400)],
    role: Annotated[str, Form(max_length=40)],
    password: Annotated[str, Form(max_length=1000)],
    site_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """A new account at one of her sites (a central investigator may leave the site out:
    central staff), with a first password she gives the new member in person."""
    typed = {"username": username, "full_name": full_name, "role": role, "site_id": site_id}

    def add() -> None:
        site = int(site_id) if site_id.isdecimal() and len(site_id) < 10 else None
        member = {"username": username, "full_name": full_name, "password": password}
        # A role not in the list is handed on as typed: the input refuses it, naming `role`.
        chosen: object = Role(role) if role in ROLES else role
        add_user(study, actor, TeamMember(**member, role=chosen, site_id=site))  # type: ignore[arg-type]

    return _act(request, study, actor, language, "member", typed, add)


@router.post("/team/members/{username}/active", dependencies=[CsrfChecked])
def set_active_form(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    language: LanguageDep,
    username: str,
    active: Annotated[str, Form(max_length=10)],
    reason: Annotated[str, Form(max_length=2000)],
) -> Response:
    """Deactivate an account (her sessions end at once) or reactivate it, with the reason."""
    typed = {"username": username, "reason": reason}

    def change() -> None:
        set_account_active(study, actor, username, active=active == "true", reason=reason)

    return _act(request, study, actor, language, f"active-{username}", typed, change)


@router.post("/team/members/{username}/unblock", dependencies=[CsrfChecked])
def unblock_form(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    language: LanguageDep,
    username: str,
    reason: Annotated[str, Form(max_length=2000)],
) -> Response:
    """Lift a sign-in block after checking who tried."""
    typed = {"username": username, "reason": reason}

    def unblock() -> None:
        unblock_sign_in(study, actor, username, reason=reason)

    return _act(request, study, actor, language, f"unblock-{username}", typed, unblock)


@router.post("/team/sites", dependencies=[CsrfChecked])
def add_site_form(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    language: LanguageDep,
    code: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(max_length=400)],
    time_zone: Annotated[str, Form(max_length=100)],
) -> Response:
    """A new site in its IANA time zone (a central investigator's act)."""
    typed = {"code": code, "name": name, "time_zone": time_zone}

    def add() -> None:
        add_site(study, actor, SiteInput(code=code, name=name, time_zone=time_zone))

    return _act(request, study, actor, language, "site", typed, add)
