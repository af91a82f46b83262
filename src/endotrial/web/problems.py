"""Errors as HTTP answers: RFC 9457 problem details for the API, the same status for the pages.

Every refusal of the services is a `ServiceError` with a stable code and field; the API
answers it as `application/problem+json` carrying both, with its message in the reader's
language. Nothing else than these documents leaves the server: never a traceback, never SQL.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from endotrial.errors import EndotrialError
from endotrial.services import (
    InvalidInput,
    LockedError,
    NotFoundError,
    NotSignedIn,
    PermissionDenied,
    RuleViolation,
    ServiceError,
)
from endotrial.web import i18n

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "/api/v1/problems/"

#: Status by error class, most specific first (NotSignedIn is a PermissionDenied, which is a
#: RuleViolation, like InvalidInput and LockedError).
_STATUS_BY_CLASS: tuple[tuple[type[EndotrialError], int], ...] = (
    (NotSignedIn, 401),
    (PermissionDenied, 403),
    (NotFoundError, 404),
    (LockedError, 409),
    (InvalidInput, 422),
    (RuleViolation, 409),
    (ServiceError, 400),
    (EndotrialError, 400),
)
#: Codes whose status is not their class's.
_STATUS_BY_CODE = {"auth.throttled": 429, "web.csrf": 403}

TITLES = {
    400: i18n.N_("The request cannot be done as asked"),
    401: i18n.N_("Sign in first"),
    403: i18n.N_("Not allowed"),
    404: i18n.N_("Not found"),
    405: i18n.N_("Method not allowed"),
    409: i18n.N_("Refused by a rule of the trial"),
    413: i18n.N_("Request too large"),
    422: i18n.N_("A value is not valid"),
    429: i18n.N_("Too many attempts"),
    500: i18n.N_("Server error"),
    503: i18n.N_("Database unavailable"),
}


class Problem(BaseModel):
    """An error, as RFC 9457 problem details with the services' code and field."""

    type: str = Field(description="A URI reference naming the kind of problem (by its code).")
    title: str = Field(description="A short summary of the kind of problem, in the language read.")
    status: int
    detail: str = Field(description="What was wrong and what to do, in the language read.")
    code: str = Field(description="The stable error code (endotrial.services.messages).")
    field: str | None = Field(None, description="The input field concerned, if one is.")


def status_of(error: EndotrialError) -> int:
    if error.code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[error.code]
    return next(status for kind, status in _STATUS_BY_CLASS if isinstance(error, kind))


def problem(
    status: int, code: str, detail: str, language: str, field: str | None = None
) -> Problem:
    title = i18n.translations(language).gettext(TITLES.get(status, TITLES[400]))
    return Problem(
        type=PROBLEM_TYPE_BASE + code, title=title, status=status, detail=detail, code=code,
        field=field,
    )  # fmt: skip


def problem_of(error: EndotrialError, language: str) -> Problem:
    detail = i18n.error_message(error, language)
    return problem(status_of(error), error.code, detail, language, error.field)


def problem_response(item: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    extra = dict(headers or {})
    if item.status == 401:
        extra["WWW-Authenticate"] = "Bearer"
    if item.status == 429:
        extra["Retry-After"] = "900"
    return JSONResponse(
        item.model_dump(), status_code=item.status, media_type=PROBLEM_MEDIA_TYPE, headers=extra
    )


#: The OpenAPI document's error answers of every API route.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": TITLES[status]}
    for status in (401, 403, 404, 409, 422, 429)
}
