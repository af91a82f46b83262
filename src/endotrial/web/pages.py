"""The server-rendered pages: sign-in, the dashboard, the participants and a participant's page.

Each page reads through the services (which check the reader's role and sites) and renders
what they return; a form is posted with the session's CSRF token. htmx swaps a fragment (the
participants' rows, a timeline as of another day) where a whole page would be wasteful.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from endotrial.services import (
    Actor,
    NotSignedIn,
    Operation,
    PermissionDenied,
    QueryAnswer,
    QueryClosure,
    QueryInput,
    ServiceError,
    SignatureMeaning,
    SignOffInput,
    Study,
    answer_query,
    close_query,
    dashboard,
    data_queries,
    lock_participant,
    my_account,
    open_query,
    participant_timeline,
    participants,
    permitted_operations,
    safety_monitoring,
    set_my_language,
    sign_in,
    sign_out,
    unlock_participant,
    visits_due,
)
from endotrial.services import participant_page as read_participant_page
from endotrial.store import QueryStatus, Relatedness
from endotrial.web import i18n
from endotrial.web.deps import (
    LANGUAGE_COOKIE,
    LANGUAGE_KEY,
    SEES_SAFETY_KEY,
    SEES_SCREENING_KEY,
    SEES_TEAM_KEY,
    TOKEN_KEY,
    USERNAME_KEY,
    CsrfChecked,
    LanguageDep,
    PageActor,
    StudyDep,
)
from endotrial.web.forms import FormRefusal, see_other, submit
from endotrial.web.problems import status_of
from endotrial.web.rendering import page

router = APIRouter(include_in_schema=False)

#: How many days ahead the dashboard lists the visits coming.
DASHBOARD_HORIZON_DAYS = 7
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


def local_path(target: str | None, default: str = "/dashboard") -> str:
    """`target` if it is a path of this site (never another site's address), else `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@router.get("/")
def home(request: Request) -> Response:
    return see_other("/dashboard" if request.session.get(TOKEN_KEY) else "/sign-in")


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> Response:
    return page(request, "sign_in.html", next=local_path(next), error=None)


@router.post("/sign-in", dependencies=[CsrfChecked])
def sign_in_form(
    request: Request,
    study: StudyDep,
    language: LanguageDep,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    try:
        actor = sign_in(study, username, password)
    except ServiceError as error:
        message = i18n.error_message(error, language)
        return page(
            request, "sign_in.html", status_of(error), next=local_path(next), error=message,
            typed_username=username,
        )  # fmt: skip
    kept_language = request.session.get(LANGUAGE_KEY)
    request.session.clear()  # a new session at each sign-in: no fixation
    request.session.update({TOKEN_KEY: actor.token, USERNAME_KEY: actor.username})
    # Whether the nav links the safety page: her role decides, and it does not change.
    may = permitted_operations(study, actor)
    request.session[SEES_SAFETY_KEY] = Operation.READ_SAFETY_MONITORING in may
    request.session[SEES_TEAM_KEY] = Operation.READ_TEAM in may
    request.session[SEES_SCREENING_KEY] = Operation.READ_SCREENING_LOG in may
    chosen = my_account(study, actor).language or kept_language  # hers, in any browser
    if chosen:
        request.session[LANGUAGE_KEY] = chosen
    return see_other(local_path(next))


@router.post("/sign-out", dependencies=[CsrfChecked])
def sign_out_form(request: Request, study: StudyDep, actor: PageActor) -> Response:
    kept_language = request.session.get(LANGUAGE_KEY)
    try:
        sign_out(study, actor)
    finally:
        request.session.clear()
        if kept_language:
            request.session[LANGUAGE_KEY] = kept_language
    return see_other("/sign-in")


@router.post("/language", dependencies=[CsrfChecked])
def choose_language(
    request: Request,
    study: StudyDep,
    language: Annotated[str, Form(max_length=20)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Keep the reader's language in her session and in a cookie (so the sign-in page of her
    next visit is in it too)."""
    chosen = language if language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE
    request.session[LANGUAGE_KEY] = chosen
    token = request.session.get(TOKEN_KEY)
    if token:  # signed in: kept on her account too, so it follows her to any browser
        with contextlib.suppress(NotSignedIn):  # a session that has ended: the cookie keeps it
            set_my_language(study, Actor(str(request.session.get(USERNAME_KEY)), token), chosen)
    response = see_other(local_path(next))
    response.set_cookie(
        LANGUAGE_COOKIE, chosen, max_age=LANGUAGE_COOKIE_SECONDS, httponly=True,
        samesite="strict", secure=request.app.state.settings.secure_cookies,
    )  # fmt: skip
    return response


@router.get("/dashboard")
def dashboard_page(request: Request, study: StudyDep, actor: PageActor) -> Response:
    board = dashboard(study, actor)
    try:
        coming = visits_due(study, actor, within_days=DASHBOARD_HORIZON_DAYS)
    except PermissionDenied:  # roles that follow no visit see the counts only
        coming = None
    return page(request, "dashboard.html", board=board, visits=coming)


@router.get("/safety")
def safety_page(request: Request, study: StudyDep, actor: PageActor) -> Response:
    """Interim safety monitoring (the safety board, the statistician, the investigator)."""
    return page(request, "safety.html", monitoring=safety_monitoring(study, actor))


@router.get("/participants")
def participants_page(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    status: Annotated[str | None, Query(max_length=40)] = None,
    search: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    rows = participants(study, actor)
    statuses = sorted({row.status for row in rows})
    if status:
        rows = tuple(row for row in rows if row.status == status)
    if search:
        rows = tuple(row for row in rows if search.strip().lower() in row.study_id.lower())
    template = "participant_rows.html" if request.headers.get("HX-Request") else "participants.html"
    return page(
        request, template, rows=rows, statuses=statuses, status=status or "", search=search or ""
    )


@router.get("/participants/{participant_id}")
def participant_page(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    participant_id: int,
    on: dt.date | None = None,
) -> Response:
    if request.headers.get("HX-Request"):
        timeline = participant_timeline(study, actor, participant_id, on=on)
        return page(request, "timeline.html", timeline=timeline)
    return render_participant(request, study, actor, participant_id, on=on)


@dataclass(frozen=True)
class QueryRefusal:
    """An answer or closure the services refused: shown beside its query, what was typed kept."""

    query_id: int
    action: str
    message: str
    typed: str


@dataclass(frozen=True)
class NewQueryRefusal:
    """A query the services refused to raise: shown above its form, what was chosen kept."""

    message: str
    target: str
    text: str


def render_participant(
    request: Request,
    study: Study,
    actor: Actor,
    participant_id: int,
    *,
    on: dt.date | None = None,
    status_code: int = 200,
    refused: QueryRefusal | None = None,
    new_query_refused: NewQueryRefusal | None = None,
    sign_off_refused: str | None = None,
    ae_refused: FormRefusal | None = None,
) -> Response:
    shown = read_participant_page(study, actor, participant_id, on=on)
    may = shown.permitted
    return page(
        request, "participant.html", status_code, summary=shown.summary,
        timeline=shown.timeline, queries=shown.queries, refused=refused,
        new_query_refused=new_query_refused, pregnancy=shown.outcomes, records=shown.records,
        may_raise=Operation.OPEN_QUERY in may,
        may_sign=Operation.LOCK in may, sign_off_refused=sign_off_refused,
        may_report_ae=Operation.REPORT_ADVERSE_EVENT in may,
        ae_refused=ae_refused,
        expected_terms=[e.term for e in study.protocol.expected_adverse_events],
        relatedness=[r.value for r in Relatedness],
    )  # fmt: skip


QUERY_ACTION = "/participants/{participant_id}/queries/{query_id}/"


@dataclass(frozen=True)
class _QueryAct:
    """One step of a query's workflow from her page: done, the page again at the query; refused,
    her page with the refusal beside the query in the reader's language and what was typed."""

    request: Request
    study: Study
    actor: Actor
    language: str
    participant_id: int
    query_id: int

    def run(self, action: str, typed: str, step: Callable[[], object]) -> Response:
        def refused(refusal: FormRefusal, status: int) -> Response:
            shown = QueryRefusal(self.query_id, action, refusal.message, typed)
            return render_participant(
                self.request, self.study, self.actor, self.participant_id,
                status_code=status, refused=shown,
            )  # fmt: skip

        done = f"/participants/{self.participant_id}#query-{self.query_id}"
        return submit(step, language=self.language, typed={}, refused=refused, done=done)


@router.post("/participants/{participant_id}/queries", dependencies=[CsrfChecked])
def raise_query_form(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    language: LanguageDep,
    participant_id: int,
    target: Annotated[str, Form(max_length=200)] = "",
    text: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Raise a query on one field of one of her records: `target` is "table:id:field" as her
    records list offers it (the services check the record is hers, of the reader's sites)."""
    entity, _, rest = target.partition(":")
    row, _, field = rest.partition(":")
    row_id = int(row) if row.isdecimal() and len(row) < 19 else 0  # 0: refused as not an id

    def refused(refusal: FormRefusal, status: int) -> Response:
        return render_participant(
            request, study, actor, participant_id, status_code=status,
            new_query_refused=NewQueryRefusal(refusal.message, target, text),
        )  # fmt: skip

    return submit(
        lambda: open_query(study, actor, QueryInput(
            entity=entity, row_id=row_id, field=field, text=text)),
        language=language, typed={}, refused=refused,
        done=lambda query_id: f"/participants/{participant_id}#query-{query_id}",
    )  # fmt: skip


@router.post(QUERY_ACTION + "answer", dependencies=[CsrfChecked])
def answer_query_form(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    language: LanguageDep,
    participant_id: int,
    query_id: int,
    answer: Annotated[str, Form(max_length=4000)],
) -> Response:
    """The site's answer to a query (who may answer: the services say)."""
    act = _QueryAct(request, study, actor, language, participant_id, query_id)
    return act.run("answer", answer, lambda: answer_query(study, actor, QueryAnswer(
        query_id=query_id, answer=answer)))  # fmt: skip


@router.post(QUERY_ACTION + "close", dependencies=[CsrfChecked])
def close_query_form(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    language: LanguageDep,
    participant_id: int,
    query_id: int,
    note: Annotated[str, Form(max_length=4000)],
) -> Response:
    """Close an answered query (the monitor), saying why."""
    act = _QueryAct(request, study, actor, language, participant_id, query_id)
    return act.run("close", note, lambda: close_query(study, actor, QueryClosure(
        query_id=query_id, note=note)))  # fmt: skip


def _sign_off_step(
    request: Request,
    study: Study,
    actor: Actor,
    language: str,
    participant_id: int,
    step: Callable[[], object],
) -> Response:
    """Sign-off or unlock from her page: done, her page at the signature; refused, her page
    with the refusal beside the form (a password typed is never shown again)."""

    def refused(refusal: FormRefusal, status: int) -> Response:
        return render_participant(
            request, study, actor, participant_id, status_code=status,
            sign_off_refused=refusal.message,
        )  # fmt: skip

    done = f"/participants/{participant_id}#sign-off"
    return submit(step, language=language, typed={}, refused=refused, done=done)


@router.post("/participants/{participant_id}/sign-off", dependencies=[CsrfChecked])
def sign_off_form(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    language: LanguageDep,
    participant_id: int,
    password: Annotated[str, Form(max_length=1000)] = "",
    meaning: Annotated[str, Form(max_length=32)] = SignatureMeaning.APPROVAL.value,
) -> Response:
    """The investigator signs her data off with her password again (21 CFR 11.200)."""

    def sign() -> None:
        # A meaning not in the list is handed on as typed: the input refuses it, naming it.
        chosen: object = SignatureMeaning(meaning) if meaning in set(SignatureMeaning) else meaning
        signature = SignOffInput(
            participant_id=participant_id,
            password=password,
            meaning=chosen,  # type: ignore[arg-type]
        )
        lock_participant(study, actor, signature)

    return _sign_off_step(request, study, actor, language, participant_id, sign)


@router.post("/participants/{participant_id}/unlock", dependencies=[CsrfChecked])
def unlock_form(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    language: LanguageDep,
    participant_id: int,
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Reopen her data for a correction, saying why: the signature is voided."""

    def unlock() -> None:
        unlock_participant(study, actor, participant_id, reason=reason)

    return _sign_off_step(request, study, actor, language, participant_id, unlock)


#: The inbox's filters: not yet closed (the default), one status, or all.
PENDING = "pending"
QUERY_FILTERS = (PENDING, *(s.value for s in QueryStatus), "all")


@router.get("/queries")
def queries_page(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The queries inbox: the queries on records of her sites, oldest first; by default those
    not yet closed (open: the site's to answer; answered: the monitor's to close)."""
    shown = status if status in QUERY_FILTERS else PENDING
    statuses = None if shown in (PENDING, "all") else QueryStatus(shown)
    rows = data_queries(study, actor, status=statuses)
    if shown == PENDING:
        rows = tuple(q for q in rows if q.status is not QueryStatus.CLOSED)
    study_ids = {p.participant_id: p.study_id for p in participants(study, actor)}
    return page(
        request, "queries.html", rows=rows, study_ids=study_ids, status=shown,
        filters=QUERY_FILTERS,
    )  # fmt: skip


def sign_in_redirect(request: Request) -> Response:
    """Where a page sends a reader not (or no longer) signed in: the sign-in page, back here
    after it (htmx follows HX-Redirect instead of swapping the sign-in page into a fragment)."""
    for key in (TOKEN_KEY, USERNAME_KEY):
        request.session.pop(key, None)
    target = "/sign-in?next=" + quote(request.url.path, safe="/")
    if request.headers.get("HX-Request"):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return see_other(target)
