"""What each route needs from its request: the study, the signed-in actor (a page's session
cookie or the API's bearer token), the reader's language and the form's CSRF token."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from endotrial.errors import EndotrialError
from endotrial.services import Actor, NotSignedIn, Study
from endotrial.web import i18n

LANGUAGE_COOKIE = "endotrial_language"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: The session keys: the services' sign-in token, the username, the form token, the language.
TOKEN_KEY, USERNAME_KEY, CSRF_KEY, LANGUAGE_KEY = "token", "username", "csrf", "language"
SEES_SAFETY_KEY = "sees_safety"
SEES_TEAM_KEY = "sees_team"
SEES_SCREENING_KEY = "sees_screening"


class CsrfRefused(EndotrialError):
    default_code = "web.csrf"


def the_study(request: Request) -> Study:
    study: Study = request.app.state.study
    return study


StudyDep = Annotated[Study, Depends(the_study)]


def request_language(request: Request) -> str:
    """The session's choice, else the language cookie's, else the browser's, else English."""
    chosen = request.session.get(LANGUAGE_KEY) if "session" in request.scope else None
    return (
        i18n.language_of(chosen)
        or i18n.language_of(request.cookies.get(LANGUAGE_COOKIE))
        or i18n.language_of(request.headers.get("accept-language"))
        or i18n.DEFAULT_LANGUAGE
    )


LanguageDep = Annotated[str, Depends(request_language)]


def csrf_token(request: Request) -> str:
    """The session's form token (made on first use; a new one at each sign-in)."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse a form posted without this session's token (in the form, or htmx's header)."""
    expected = request.session.get(CSRF_KEY)
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not given or not hmac.compare_digest(expected, given):
        raise CsrfRefused(i18n.WEB_MESSAGES["web.csrf"], code="web.csrf")


CsrfChecked = Depends(check_csrf)


def page_actor(request: Request) -> Actor:
    """The session's actor; none: sign in first (the services check her token on each read)."""
    token = request.session.get(TOKEN_KEY)
    username = request.session.get(USERNAME_KEY)
    if not isinstance(token, str) or not isinstance(username, str):
        raise NotSignedIn("auth.not_signed_in")
    return Actor(username, token)


PageActor = Annotated[Actor, Depends(page_actor)]

_bearer = HTTPBearer(auto_error=False, description="The token `POST /api/v1/sign-in` returns.")


def api_actor(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The bearer token's actor (the services check the token on each read)."""
    if credentials is None or not credentials.credentials:
        raise NotSignedIn("auth.not_signed_in")
    return Actor("(bearer)", credentials.credentials)


ApiActor = Annotated[Actor, Depends(api_actor)]
