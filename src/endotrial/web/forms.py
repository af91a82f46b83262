"""One way for a page's form to run a step of the services: done, the browser is sent on (303,
so a reload does not post again); refused, the form comes back with the message in the
reader's language, the field it names and every value as typed, so nothing is lost.

    return submit(
        lambda: enrol(study, actor, EnrolmentInput(...)),
        language=language, typed=typed,
        refused=lambda refusal, status: render_form(request, refusal, status),
        done=lambda participant_id: f"/participants/{participant_id}",
    )

A session that has ended is not a refusal of the form: `NotSignedIn` goes on to the
application's handler, which sends her to sign in. Typed text is handed to the services as it
came, converted only where it plainly is a number, a flag or a date (`typed_value`), so a wrong
value is refused by the services' strict input with its field named, never guessed at here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from endotrial.protocol.models import ItemType
from endotrial.services import (
    KeptAnswer,
    NotSignedIn,
    ServiceError,
    Study,
    claim_request_key,
    finish_request_key,
)
from endotrial.web import i18n
from endotrial.web.deps import CSRF_KEY
from endotrial.web.problems import status_of

R = TypeVar("R")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FormRefusal:
    """A form the services refused: the message in the reader's language, the field it names,
    and every value as typed, so nothing is lost."""

    message: str
    field: str | None
    typed: dict[str, str]


def see_other(path: str) -> RedirectResponse:
    """Done: the browser goes on with a GET (303), so a reload does not post again."""
    return RedirectResponse(path, status_code=303)


#: The longest text a form field is read as (the services' own limits are lower).
MAX_FIELD_CHARS = 4000


def submit(
    step: Callable[[], R],
    *,
    language: str,
    typed: Mapping[str, str],
    refused: Callable[[FormRefusal, int], Response],
    done: Callable[[R], str] | str,
    request: Request | None = None,
) -> Response:
    """Run `step`; done: a redirect to `done` (a path, or made from the step's result);
    refused by the services: `refused(refusal, status)`, the form again with what was typed.
    Given the `request`, the same form posted again by the same session within
    RESUBMIT of being saved (a double click, a browser resending) is answered with
    the first one's redirect and not saved twice, whichever server process takes it."""
    if request is None:
        return _run(step, language, typed, refused, done)[0]
    study: Study = request.app.state.study
    key, owner = _submission_key(request, typed), _session_digest(request)
    earlier = _claim_waiting(study, key, owner)
    if isinstance(earlier, KeptAnswer):
        return see_other(dict(earlier.headers).get("location", "/dashboard"))
    if earlier is False:
        message = i18n.web_message("web.still_saving", language)
        return refused(FormRefusal(message, None, dict(typed)), 409)
    try:
        shown, location = _run(step, language, typed, refused, done)
    except BaseException:  # a failure saved nothing: the key is freed for the retry
        _finish(study, key, None)
        raise
    saved = None if location is None else KeptAnswer("", 303, (("location", location),), b"")
    _finish(study, key, saved)  # a refusal (None) saved nothing either: its key is freed too
    return shown


def _finish(study: Study, key: str, answer: KeptAnswer | None) -> None:
    """Keep the submission's answer (or free its key). The form is saved (or refused)
    already: a database failure now is logged, not answered 503, which would have her send
    it again; the key then lapses after WORKING_FOR."""
    try:
        finish_request_key(study, key, answer, RESUBMIT, MAX_SUBMISSIONS_PER_SESSION)
    except DBAPIError as error:
        log.error("database failure keeping a form's submission: %s", type(error).__name__)


def _run(
    step: Callable[[], R],
    language: str,
    typed: Mapping[str, str],
    refused: Callable[[FormRefusal, int], Response],
    done: Callable[[R], str] | str,
) -> tuple[Response, str | None]:
    """The answer, and where it sent the browser when the step was done (None: refused)."""
    try:
        result = step()
    except ServiceError as error:
        if isinstance(error, NotSignedIn):
            raise
        return refused(refusal_of(error, language, typed), status_of(error)), None
    location = done(result) if callable(done) else done
    return see_other(location), location


#: How long an identical post of a saved form is taken for the same submission.
RESUBMIT = dt.timedelta(seconds=30)
#: How long a second identical post waits for the first to be saved (then: "still saving").
WAIT_FOR_FIRST = dt.timedelta(seconds=15)
#: A claim whose process was killed before it finished lapses after this long.
WORKING_FOR = dt.timedelta(minutes=2)
MAX_SUBMISSIONS_PER_SESSION = 100
_POLL_SECONDS = 0.05


def _claim_waiting(study: Study, key: str, owner: str) -> KeptAnswer | bool:
    """Claim the submission's key; while another process or thread holds it, wait (up to
    WAIT_FOR_FIRST) for its answer."""
    deadline = time.monotonic() + WAIT_FOR_FIRST.total_seconds()
    while True:
        claimed = claim_request_key(study, key, owner, "", WORKING_FOR)
        if claimed is not False or time.monotonic() >= deadline:
            return claimed
        time.sleep(_POLL_SECONDS)


def _session_digest(request: Request) -> str:
    session = request.session.get(CSRF_KEY, "") if "session" in request.scope else ""
    return hashlib.sha256(b"form\0" + str(session).encode()).hexdigest()


def _submission_key(request: Request, typed: Mapping[str, str]) -> str:
    """The session, the form's path and every value typed, as a digest (nothing typed is
    kept)."""
    session = request.session.get(CSRF_KEY, "") if "session" in request.scope else ""
    digest = hashlib.sha256()
    for part in (str(session), request.method, request.url.path, *sorted(typed.items())):
        digest.update(repr(part).encode() + b"\0")
    return digest.hexdigest()


def refusal_of(error: ServiceError, language: str, typed: Mapping[str, str]) -> FormRefusal:
    """The services' refusal as a form shows it: its message in `language`, its field, and
    what was typed (for a form that answers with a page rather than a redirect)."""
    return FormRefusal(i18n.error_message(error, language), error.field, dict(typed))


def typed_text(form: FormData, names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """The form's values of `names` as typed (absent: blank; a file: blank; bounded)."""
    values: dict[str, str] = {}
    for name in names:
        value = form.get(name)
        values[name] = value[:MAX_FIELD_CHARS] if isinstance(value, str) else ""
    return values


def refused_field(refusal: FormRefusal | None, prefix: str = "") -> str | None:
    """The form field a refusal names: the services' field without `prefix` ("items." for a
    candidate's items), None when it names none of the form's."""
    if refusal is None or not refusal.field:
        return None
    return refusal.field.removeprefix(prefix) if refusal.field.startswith(prefix) else None


_INTEGER = re.compile(r"[+-]?\d{1,15}")
_NUMBER = re.compile(r"[+-]?(\d{1,15}(\.\d*)?|\.\d+)")
#: A flag's answers as a form sends them (a select's values, a ticked box's "on").
_FLAGS = {"true": True, "yes": True, "on": True, "false": False, "no": False}


def typed_value(kind: ItemType, text: str) -> object:
    """`text` as a value of an item of type `kind` where it plainly is one (blank: None); any
    other text as typed, for the services to refuse naming the item (a "3,5" or "yesterday"
    is never guessed at)."""
    text = text.strip()
    if not text:
        return None
    if kind is ItemType.integer and _INTEGER.fullmatch(text):
        return int(text)
    if kind is ItemType.number and _NUMBER.fullmatch(text):
        return float(text)
    if kind is ItemType.boolean and text.lower() in _FLAGS:
        return _FLAGS[text.lower()]
    if kind is ItemType.date:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return text
    return text
