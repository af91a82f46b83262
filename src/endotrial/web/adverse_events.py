"""The adverse-event form on a participant's page, and its API route.

Every value arrives as typed text and is handed to the services as it came, converted only
where it plainly is a number or a date: a grade of "three" or a date of "yesterday" is refused
by the services' strict input with the field named, and the form comes back with everything
typed kept.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from endotrial.services import AdverseEventInput, report_adverse_event
from endotrial.store import Relatedness
from endotrial.web.deps import ApiActor, CsrfChecked, LanguageDep, PageActor, StudyDep
from endotrial.web.forms import FormRefusal, submit, typed_text
from endotrial.web.pages import render_participant
from endotrial.web.problems import PROBLEM_RESPONSES

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", responses=PROBLEM_RESPONSES)

#: The form's fields, as the services name them.
AE_FIELDS = (
    "term", "ctcae_grade", "serious", "onset_date", "related_procedure", "related_cells",
    "related_hrt", "resolution_date", "outcome", "action_taken",
)  # fmt: skip
OPTIONAL = frozenset({"resolution_date", "outcome", "action_taken"})


@router.post("/participants/{participant_id}/adverse-events", dependencies=[CsrfChecked])
async def report_adverse_event_form(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    language: LanguageDep,
    participant_id: int,
) -> Response:
    form = await request.form()
    typed = typed_text(form, AE_FIELDS)

    def report() -> None:
        values = {"participant_id": participant_id, **_converted(typed)}
        event = AdverseEventInput(**values)  # type: ignore[arg-type]  # the input checks them
        report_adverse_event(study, actor, event)

    def again(refusal: FormRefusal, status_code: int) -> Response:
        return render_participant(
            request, study, actor, participant_id, status_code=status_code, ae_refused=refusal
        )

    return await run_in_threadpool(
        submit, report, language=language, typed=typed, refused=again,
        done=f"/participants/{participant_id}#records", request=request,
    )  # fmt: skip


def _converted(typed: dict[str, str]) -> dict[str, object]:
    """Text to the types the input takes where it plainly is one; anything else is passed
    on as typed, for the services to refuse with the field named."""
    values: dict[str, object] = {}
    for name, text in typed.items():
        text = text.strip()
        if name in OPTIONAL and not text:
            continue
        values[name] = _value(name, text)
    values["serious"] = _flag(typed["serious"])
    return values


#: A checkbox's values: ticked ("on", as browsers send it) or not (absent).
_TICKED = {"on": True, "true": True, "yes": True, "": False, "off": False, "false": False,
           "no": False}  # fmt: skip


def _flag(text: str) -> object:
    """A ticked box as True, an unticked one as False; anything else as typed, for the input
    to refuse naming the field (never a guess: a serious event must not pass as not serious)."""
    return _TICKED.get(text.strip().lower(), text)


def _value(name: str, text: str) -> object:
    if name == "ctcae_grade" and text.isdecimal() and len(text) < 3:
        return int(text)
    if name.startswith("related_") and text in set(Relatedness):
        return Relatedness(text)
    if name.endswith("_date"):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return text
    return text


class AdverseEventBody(BaseModel):
    term: str = Field(max_length=200)
    ctcae_grade: int = Field(strict=True, description="CTCAE grade, 1 to 5 (a whole number).")
    serious: bool = Field(strict=True, description="true or false.")
    onset_date: dt.date
    related_procedure: Relatedness = Relatedness.NOT_RELATED
    related_cells: Relatedness = Relatedness.NOT_RELATED
    related_hrt: Relatedness = Relatedness.NOT_RELATED
    resolution_date: dt.date | None = None
    outcome: str | None = Field(default=None, max_length=64)
    action_taken: str | None = Field(default=None, max_length=200)


class AdverseEventReported(BaseModel):
    adverse_event_id: int


@api_router.post(
    "/participants/{participant_id}/adverse-events", tags=["safety"], status_code=201,
    summary="Report an adverse event",
)  # fmt: skip
def api_report_adverse_event(
    study: StudyDep, actor: ApiActor, participant_id: int, body: AdverseEventBody
) -> AdverseEventReported:
    """A serious one gets its expedited report due the protocol's hours after onset."""
    given = body.model_dump(exclude_none=True)
    event = AdverseEventInput(participant_id=participant_id, **given)
    return AdverseEventReported(adverse_event_id=report_adverse_event(study, actor, event))
