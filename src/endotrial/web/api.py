"""The REST API (/api/v1): the services' reads as JSON, for a bearer token.

`POST /api/v1/sign-in` returns the services' sign-in token; every other route takes it as
`Authorization: Bearer <token>`. The answers are the reads' own frozen results (their fields
are the OpenAPI document's schemas); every error is a problem detail (`problems.Problem`).
The API takes no cookie, so a page's session cannot be used to call it from another site.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from endotrial.services import (
    Dashboard,
    NotFoundError,
    ParticipantSummary,
    QueryAnswer,
    QueryClosure,
    QueryInput,
    QueryView,
    RecordView,
    SafetyMonitoring,
    SignatureMeaning,
    SignOffInput,
    Timeline,
    answer_query,
    close_query,
    dashboard,
    data_queries,
    lock_participant,
    open_query,
    participant_records,
    participant_summary,
    participant_timeline,
    participants,
    safety_monitoring,
    sign_in,
    sign_out,
    unlock_participant,
)
from endotrial.services.messages import MESSAGES
from endotrial.store import QueryStatus
from endotrial.web import i18n
from endotrial.web.deps import ApiActor, LanguageDep, StudyDep
from endotrial.web.problems import PROBLEM_RESPONSES, PROBLEM_TYPE_BASE

router = APIRouter(prefix="/api/v1", responses=PROBLEM_RESPONSES)


class SignInBody(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class SignedIn(BaseModel):
    access_token: str = Field(description="Send it as `Authorization: Bearer <token>`.")
    token_type: str = "bearer"
    username: str


class ProblemType(BaseModel):
    code: str
    message: str = Field(description="The English message, with its {placeholders}.")


@router.post("/sign-in", tags=["session"], summary="Sign in")
def api_sign_in(body: SignInBody, study: StudyDep) -> SignedIn:
    """Sign in with a username and password; failed attempts are throttled."""
    actor = sign_in(study, body.username, body.password)
    return SignedIn(access_token=actor.token, username=actor.username)


@router.post("/sign-out", tags=["session"], status_code=204, summary="Sign out")
def api_sign_out(study: StudyDep, actor: ApiActor) -> None:
    """End the token's session: it no longer works anywhere."""
    sign_out(study, actor)


@router.get("/dashboard", tags=["reads"], response_model=Dashboard, summary="Dashboard")
def api_dashboard(study: StudyDep, actor: ApiActor, on: dt.date | None = None) -> Dashboard:
    """Enrolment by arm and site against the target, visits due and overdue, queries and
    serious adverse events awaiting their expedited report, of the reader's sites."""
    return dashboard(study, actor, on=on)


@router.get(
    "/participants", tags=["reads"], response_model=tuple[ParticipantSummary, ...],
    summary="Participants",
)  # fmt: skip
def api_participants(study: StudyDep, actor: ApiActor) -> tuple[ParticipantSummary, ...]:
    """Every participant of the reader's sites, by study id."""
    return participants(study, actor)


@router.get(
    "/participants/{participant_id}", tags=["reads"], response_model=ParticipantSummary,
    summary="A participant's summary",
)  # fmt: skip
def api_participant(study: StudyDep, actor: ApiActor, participant_id: int) -> ParticipantSummary:
    """Her summary (another site's participant is not found)."""
    return participant_summary(study, actor, participant_id)


@router.get(
    "/participants/{participant_id}/timeline", tags=["reads"], response_model=Timeline,
    summary="A participant's timeline",
)  # fmt: skip
def api_timeline(
    study: StudyDep, actor: ApiActor, participant_id: int, on: dt.date | None = None
) -> Timeline:
    """Her scheduled events with their windows and states as of `on` (default: today)."""
    return participant_timeline(study, actor, participant_id, on=on)


@router.get(
    "/participants/{participant_id}/queries", tags=["reads"], response_model=tuple[QueryView, ...],
    summary="A participant's data queries",
)  # fmt: skip
def api_participant_queries(
    study: StudyDep, actor: ApiActor, participant_id: int
) -> tuple[QueryView, ...]:
    """The data queries on her records, oldest first."""
    return data_queries(study, actor, participant_id=participant_id)


@router.get(
    "/participants/{participant_id}/records", tags=["reads"], response_model=tuple[RecordView, ...],
    summary="A participant's records, field by field",
)  # fmt: skip
def api_participant_records(
    study: StudyDep, actor: ApiActor, participant_id: int
) -> tuple[RecordView, ...]:
    """Every record kept on her (not who she is), each field as text: what a query names."""
    return participant_records(study, actor, participant_id)


@router.get(
    "/queries", tags=["reads"], response_model=tuple[QueryView, ...], summary="Data queries"
)
def api_queries(
    study: StudyDep,
    actor: ApiActor,
    status: QueryStatus | None = None,
    entity: Annotated[str | None, Query(max_length=64)] = None,
) -> tuple[QueryView, ...]:
    """The data queries of the reader's sites, oldest first; of one status or table."""
    return data_queries(study, actor, status=status, entity=entity)


@router.get(
    "/safety", tags=["reads"], response_model=SafetyMonitoring,
    summary="Interim safety monitoring",
)  # fmt: skip
def api_safety(study: StudyDep, actor: ApiActor) -> SafetyMonitoring:
    """Serious adverse events by arm of the protocol's safety set (women, women with at least
    one, events) and the posterior probability that the experimental arm's serious-AE rate
    exceeds the comparator's by the plan's margin, under each stated prior; counted over the
    reader's sites, as of the data cut-off (the moment read). Safety board, statistician,
    investigator."""
    return safety_monitoring(study, actor)


class AnswerBody(BaseModel):
    answer: str = Field(max_length=4000)


class NewQueryBody(BaseModel):
    entity: str = Field(max_length=64, description="The record's table (as its records list it).")
    row_id: int = Field(description="The record's id in that table.")
    field: str = Field(max_length=64, description="The field queried.")
    text: str = Field(max_length=4000, description="The question to the site.")


class QueryOpened(BaseModel):
    query_id: int


class ClosureBody(BaseModel):
    note: str = Field(max_length=4000, description="Why it is closed (an open one: withdrawn).")


@router.post("/queries", tags=["queries"], status_code=201, summary="Raise a query")
def api_open_query(study: StudyDep, actor: ApiActor, body: NewQueryBody) -> QueryOpened:
    """Raise a query on one field of one of a participant's records (monitor, investigator,
    coordinator of its site); the record's site and lock are checked."""
    query = QueryInput(entity=body.entity, row_id=body.row_id, field=body.field, text=body.text)
    return QueryOpened(query_id=open_query(study, actor, query))


class SignOffBody(BaseModel):
    password: str = Field(max_length=1000, description="Her own password, asked again to sign.")
    meaning: SignatureMeaning = Field(
        SignatureMeaning.APPROVAL, description="What the signature means (shown with it)."
    )


class UnlockBody(BaseModel):
    reason: str = Field(max_length=4000, description="Why (the signature becomes void).")


@router.post(
    "/participants/{participant_id}/sign-off", tags=["sign-off"], status_code=204,
    summary="Sign her data off (electronic signature) and lock them",
)  # fmt: skip
def api_sign_off(study: StudyDep, actor: ApiActor, participant_id: int, body: SignOffBody) -> None:
    """The investigator's electronic signature (21 CFR Part 11): her password again, the
    meaning; refused while queries on her records are not closed."""
    signature = SignOffInput(
        participant_id=participant_id, password=body.password, meaning=body.meaning
    )
    lock_participant(study, actor, signature)


@router.post(
    "/participants/{participant_id}/unlock", tags=["sign-off"], status_code=204,
    summary="Unlock her data, voiding the signature",
)  # fmt: skip
def api_unlock(study: StudyDep, actor: ApiActor, participant_id: int, body: UnlockBody) -> None:
    unlock_participant(study, actor, participant_id, reason=body.reason)


@router.post(
    "/queries/{query_id}/answer", tags=["queries"], status_code=204, summary="Answer a query"
)
def api_answer_query(study: StudyDep, actor: ApiActor, query_id: int, body: AnswerBody) -> None:
    """The site's answer to an open query (coordinator, investigator, radiologist,
    embryologist of its site)."""
    answer_query(study, actor, QueryAnswer(query_id=query_id, answer=body.answer))


@router.post(
    "/queries/{query_id}/close", tags=["queries"], status_code=204, summary="Close a query"
)
def api_close_query(study: StudyDep, actor: ApiActor, query_id: int, body: ClosureBody) -> None:
    """Close an answered query, saying why (monitor, investigator); an open one only by who
    raised it, withdrawing it with a reason."""
    close_query(study, actor, QueryClosure(query_id=query_id, note=body.note))


@router.get(
    PROBLEM_TYPE_BASE.removeprefix("/api/v1") + "{code}", tags=["errors"], summary="A problem type"
)
def api_problem_type(code: str, language: LanguageDep) -> ProblemType:
    """What a problem's `type` names: the message of its code."""
    english = MESSAGES.get(code) or i18n.WEB_MESSAGES.get(code)
    if english is None:
        raise NotFoundError("record.not_found", table="problem types", row_id=code)
    return ProblemType(code=code, message=i18n.translations(language).pgettext(code, english))
