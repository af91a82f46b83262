"""The coordinator's screening and enrolment pages: the screening form generated from the
protocol's data items, whose criteria show met / not met / unknown as she types; the screening
log with every decision and its reasons, and the upload of a CSV of candidates (every row's
problems shown at once, imported only on confirm); and, from an eligible screening, consent,
enrolment and allocation, landing on the participant's page.

Every act goes through the services (her role and sites are checked there) by
`forms.submit`; the live criteria are the eligibility engine's three-valued result on the
typed values, computed without writing anything.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from endotrial.eligibility import CandidateResult, build_plan, screen_candidate
from endotrial.eligibility.plan import REFERENCE_DATE_ITEM
from endotrial.errors import EndotrialError, InputError
from endotrial.protocol.models import Criterion, DataItem, ItemType, Protocol
from endotrial.services import (
    Actor,
    AllocationInput,
    CandidateInput,
    ConsentInput,
    EnrolmentInput,
    InvalidInput,
    NotFoundError,
    Operation,
    ParticipantSummary,
    PermissionDenied,
    ScreeningImport,
    ScreeningLogEntry,
    ServiceError,
    Study,
    allocate,
    dashboard,
    enrol,
    import_screenings,
    my_account,
    participants,
    permitted_operations,
    record_consent,
    screen,
    screening_log,
)
from endotrial.services.permissions import who_may
from endotrial.store import ScreeningDecision
from endotrial.web import i18n
from endotrial.web.deps import LanguageDep, PageActor, StudyDep, check_csrf, request_language
from endotrial.web.forms import FormRefusal, refusal_of, see_other, submit, typed_text, typed_value
from endotrial.web.problems import status_of
from endotrial.web.rendering import page

router = APIRouter(include_in_schema=False)

#: The largest CSV of candidates a page accepts (the services store at most 5,000 rows at once;
#: 5,000 rows of the seed protocol's 45 items take about 1.5 MB).
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
#: What a multipart body may carry beyond the file (its boundaries, the token, the site).
FORM_OVERHEAD_BYTES = 16 * 1024
#: An upload checked and awaiting her confirmation is kept this long, then swept away.
UPLOAD_KEEP_SECONDS = 3600
#: Where checked uploads wait (one folder per account of this machine, private to it).
UPLOAD_DIR = Path(tempfile.gettempdir()) / f"endotrial-uploads-{os.getuid()}"
#: The session's pending upload: {"token", "name", "site_id"}.
UPLOAD_KEY = "screening_upload"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
ITEM_PREFIX = "items."
CANDIDATE_FIELDS = ("candidate_ref", "site_id", "as_of")


# --- the screening form ----------------------------------------------------------------------


@dataclass(frozen=True)
class CriterionState:
    """One criterion as the form shows it: `state` pass (inclusion met, exclusion absent),
    fail, unknown (items missing) or later (checked at consent or enrolment)."""

    criterion: Criterion
    state: str
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evaluation:
    """The engine's result on what is typed so far, shaped for the form."""

    decision: str
    criteria: tuple[CriterionState, ...]
    field_errors: Mapping[str, str]
    """A problem of a typed value, by item name (shown beside its field)."""
    other_errors: tuple[str, ...]
    eligible_arms: tuple[str, ...]


def _require(study: Study, actor: Actor, operation: Operation) -> None:
    """Refuse a page whose acts her role may not do (the services refuse the act itself too)."""
    if operation not in permitted_operations(study, actor):
        account = my_account(study, actor)
        raise PermissionDenied(
            "auth.role", username=account.username, role=account.role.value,
            operation=str(operation), who_may=who_may(operation),
        )  # fmt: skip


def _item_field(item: DataItem) -> str:
    return ITEM_PREFIX + item.name


def _form_fields(protocol: Protocol) -> tuple[str, ...]:
    return (*CANDIDATE_FIELDS, *(_item_field(i) for i in protocol.data_items))


def _items(protocol: Protocol, typed: Mapping[str, str]) -> dict[str, object]:
    """The typed items the form holds, as the services take them (blank: not recorded)."""
    values = {
        i.name: typed_value(i.type, typed.get(_item_field(i), "")) for i in protocol.data_items
    }
    return {name: value for name, value in values.items() if value is not None}


def _record_id(text: str) -> object:
    """An id typed or chosen: a number when it is one, blank None, else the text as typed
    (the services' strict input refuses it naming the field)."""
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isdecimal() and len(text) < 16 else text


def evaluate(
    protocol: Protocol,
    typed: Mapping[str, str],
    today: dt.date | None,
    language: str = i18n.DEFAULT_LANGUAGE,
) -> Evaluation:
    """Each criterion met, not met or unknown on the typed values: the eligibility engine's
    three-valued result, nothing stored. Every item goes to the engine as text (blank: not
    recorded), as a CSV row would, so each keystroke runs the one query prepared for that
    layout. The engine's value problems are said in `language`."""
    values = {i.name: typed.get(_item_field(i), "").strip() for i in protocol.data_items}
    try:
        result = screen_candidate(protocol, values, today=today)
        alone = result
        if result.decision == "ineligible":  # the rest are not reported: ask for each alone
            alone = screen_candidate(_each_criterion_alone(protocol), values, today=today)
    except EndotrialError as error:
        return Evaluation("incomplete", (), {}, (error.message,), ())
    errors, other = _split_errors(protocol, result.errors)
    errors = {name: i18n.engine_message(text, language) for name, text in errors.items()}
    other = tuple(i18n.engine_message(text, language) for text in other)
    states = tuple(_state(c, result, alone) for c in protocol.criteria)
    return Evaluation(result.decision, states, errors, other, result.eligible_arms)


#: For each protocol, its copy whose trial-wide criteria each apply to every arm (see below).
_ALONE: dict[int, tuple[Protocol, Protocol]] = {}


def _each_criterion_alone(protocol: Protocol) -> Protocol:
    """The protocol with every trial-wide criterion made a criterion of every arm: the engine
    stops judging the others once one makes her ineligible (they cannot change the decision),
    but it notes each arm criterion that rules her out or is not recorded, so this copy gives
    every criterion's own three-valued result. Made once per protocol."""
    kept = _ALONE.get(id(protocol))
    if kept is not None and kept[0] is protocol:
        return kept[1]
    arms = [arm.id for arm in protocol.arms]
    criteria = [
        c.model_copy(update={"arms": arms}) if c.expression and not c.arms else c
        for c in protocol.criteria
    ]
    alone = protocol.model_copy(update={"criteria": criteria})
    _ALONE[id(protocol)] = (protocol, alone)
    return alone


def _split_errors(
    protocol: Protocol, messages: tuple[str, ...]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The engine's value messages ("afc: 'x' is not a number; ...") by item, and the rest."""
    names = {item.name for item in protocol.data_items}
    by_item: dict[str, str] = {}
    other: list[str] = []
    for message in messages:
        name, _, _ = message.partition(": ")
        if name in names:
            by_item[name] = f"{by_item[name]}; {message}" if name in by_item else message
        else:
            other.append(message)
    return by_item, tuple(other)


def _state(criterion: Criterion, result: CandidateResult, alone: CandidateResult) -> CriterionState:
    if criterion.expression is None:
        return CriterionState(criterion, "later")
    if criterion.arms or alone is not result:
        return _noted_state(criterion, alone)
    for cid, missing in result.unknown:
        if cid == criterion.id:
            return CriterionState(criterion, "unknown", missing)
    failed = any(cid == criterion.id for cid, _ in result.failed)
    return CriterionState(criterion, "fail" if failed else "pass")


def _noted_state(criterion: Criterion, result: CandidateResult) -> CriterionState:
    """A criterion of arms (an iodine allergy) as the engine notes it: a note when it closes
    its arms, or when it is still unknown (needed before allocation); none when it passes."""
    notes = [n for n in result.arm_notes if n.startswith(f"{criterion.id}: ")]
    if not notes:
        return CriterionState(criterion, "pass")
    if any(" not recorded; needed before allocation" in n for n in notes):
        return CriterionState(criterion, "unknown")
    return CriterionState(criterion, "fail")


def _today(typed: Mapping[str, str]) -> dt.date | None:
    """The reader's day the form was drawn on (only the live preview uses it: the services
    check a screening against her site's own day)."""
    try:
        return dt.date.fromisoformat(typed.get("as_of", "").strip())
    except ValueError:
        return None


def _screening_form(
    request: Request,
    study: Study,
    actor: Actor,
    *,
    typed: Mapping[str, str] | None = None,
    refusal: FormRefusal | None = None,
    status_code: int = 200,
) -> Response:
    _require(study, actor, Operation.SCREEN)
    board = dashboard(study, actor)
    today = board.on.isoformat()  # her day: the screening date she most often means
    given = dict(typed or {"as_of": today, ITEM_PREFIX + REFERENCE_DATE_ITEM: today})
    evaluation = evaluate(study.protocol, given, _today(given), request_language(request))
    refused_item = (refusal.field or "").removeprefix(ITEM_PREFIX) if refusal else ""
    return page(
        request, "screening_form.html", status_code, protocol=study.protocol, typed=given,
        refusal=refusal, refused_item=refused_item, evaluation=evaluation, sites=board.sites,
        derived=_derived_from(study.protocol), oob=False,
    )  # fmt: skip


def _derived_from(protocol: Protocol) -> dict[str, list[str]]:
    """For each item the engine can compute, the items it is computed from (in form order)."""
    plan = build_plan(protocol)
    names = [i.name for i in protocol.data_items]
    return {name: [n for n in names if n in plan.inputs_of(name)] for name in plan.derived}


@router.get("/screening/new")
def new_screening_page(request: Request, study: StudyDep, actor: PageActor) -> Response:
    return _screening_form(request, study, actor)


@router.post("/screening/evaluate")
async def evaluate_screening(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep
) -> Response:
    """The criteria on the form's values so far (htmx, as she types): nothing is written."""
    await check_csrf(request)
    await run_in_threadpool(_require, study, actor, Operation.SCREEN)
    typed = typed_text(await request.form(), _form_fields(study.protocol))
    evaluation = await run_in_threadpool(evaluate, study.protocol, typed, _today(typed), language)
    return page(
        request, "screening_criteria.html", protocol=study.protocol, evaluation=evaluation,
        oob=True,
    )  # fmt: skip


@router.post("/screening/new")
async def screen_candidate_form(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep
) -> Response:
    """Screen her through the services: the screening log keeps the decision, whatever it is."""
    await check_csrf(request)
    protocol = study.protocol
    typed = typed_text(await request.form(), _form_fields(protocol))

    def step() -> int:
        site_id = _record_id(typed["site_id"])
        given: dict[str, object] = {
            "candidate_ref": typed["candidate_ref"], "items": _items(protocol, typed),
            "site_id": site_id,
        }  # fmt: skip
        return screen(study, actor, CandidateInput(**given)).screening_id  # type: ignore[arg-type]

    return await run_in_threadpool(
        submit,
        step, language=language, typed=typed,
        refused=lambda refusal, status: _screening_form(
            request, study, actor, typed=typed, refusal=refusal, status_code=status),
        done=lambda screening_id: f"/screening/{screening_id}", request=request,
    )  # fmt: skip


# --- consent, enrolment, allocation ----------------------------------------------------------


def _entry(study: Study, actor: Actor, screening_id: int) -> ScreeningLogEntry:
    """Her sites' screening `screening_id`; another site's is not found (as none would be)."""
    found = screening_log(study, actor, screening_id=screening_id)
    if found:
        return found[0]
    raise NotFoundError("record.not_found", table="screenings", row_id=screening_id)


def _participant(study: Study, actor: Actor, study_id: str | None) -> ParticipantSummary | None:
    if study_id is None:
        return None
    return next((p for p in participants(study, actor) if p.study_id == study_id), None)


def _enrolment_page(
    request: Request,
    study: Study,
    actor: Actor,
    screening_id: int,
    *,
    refusal: FormRefusal | None = None,
    refused_form: str = "",
    status_code: int = 200,
) -> Response:
    entry = _entry(study, actor, screening_id)
    arms = {arm.id: arm.label for arm in study.protocol.arms}
    may = permitted_operations(study, actor)
    today = my_account(study, actor).today.isoformat()  # her site's day: a default to change
    return page(
        request, "enrol.html", status_code, entry=entry,
        participant=_participant(study, actor, entry.study_id),
        arms=arms, refusal=refusal, refused_form=refused_form, today=today,
        may_consent=Operation.RECORD_CONSENT in may, may_enrol=Operation.ENROL in may,
        may_allocate=Operation.ALLOCATE in may,
    )  # fmt: skip


@router.get("/screening/{screening_id}")
def screening_page(
    request: Request, study: StudyDep, actor: PageActor, screening_id: int
) -> Response:
    """One screening's decision and reasons, and the next step from it (consent, enrol,
    allocate) as far as her role goes."""
    return _enrolment_page(request, study, actor, screening_id)


def _refused_enrolment(
    request: Request, study: Study, actor: Actor, screening_id: int, form: str
) -> Callable[[FormRefusal, int], Response]:
    """Her screening's page again with the refusal beside form `form`."""

    def show(refusal: FormRefusal, status: int) -> Response:
        return _enrolment_page(
            request, study, actor, screening_id, refusal=refusal, refused_form=form,
            status_code=status,
        )  # fmt: skip

    return show


@router.post("/screening/{screening_id}/consent")
async def consent_form(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep, screening_id: int
) -> Response:
    """Her signed consent (inclusion 1): her participant record begins."""
    await check_csrf(request)
    typed = typed_text(await request.form(), ("form_version", "consent_date", "taken_by"))

    def step() -> int:
        consent: dict[str, object] = {
            "screening_id": screening_id, "form_version": typed["form_version"],
            "consent_date": typed_value(ItemType.date, typed["consent_date"]),
            "taken_by": typed["taken_by"],
        }  # fmt: skip
        return record_consent(study, actor, ConsentInput(**consent))  # type: ignore[arg-type]

    return await run_in_threadpool(
        submit,
        step, language=language, typed=typed,
        refused=_refused_enrolment(request, study, actor, screening_id, "consent"),
        done=f"/screening/{screening_id}#enrol", request=request,
    )  # fmt: skip


@router.post("/screening/{screening_id}/enrol")
async def enrol_form(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep, screening_id: int
) -> Response:
    """Enrol her (the services check she is still eligible that day, consented, and that a
    place is left)."""
    await check_csrf(request)
    typed = typed_text(await request.form(), ("enrolled_on",))

    def step() -> int:
        on = typed_value(ItemType.date, typed["enrolled_on"])
        enrolment: dict[str, object] = {"screening_id": screening_id, "enrolled_on": on}
        return enrol(study, actor, EnrolmentInput(**enrolment))  # type: ignore[arg-type]

    return await run_in_threadpool(
        submit,
        step, language=language, typed=typed,
        refused=_refused_enrolment(request, study, actor, screening_id, "enrol"),
        done=f"/screening/{screening_id}#allocate", request=request,
    )  # fmt: skip


@router.post("/screening/{screening_id}/allocate")
async def allocate_form(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep, screening_id: int
) -> Response:
    """Allocate her to an arm open to her, with the basis (the investigator's decision):
    done, her participant page shows the arm."""
    await check_csrf(request)
    typed = typed_text(await request.form(), ("arm", "basis", "allocated_on"))
    found: dict[str, int] = {}

    def step() -> int:
        entry = _entry(study, actor, screening_id)
        participant = _participant(study, actor, entry.study_id)
        found["participant_id"] = participant.participant_id if participant else 0
        allocation: dict[str, object] = {
            "participant_id": found["participant_id"], "arm": typed["arm"],
            "basis": typed["basis"], "allocated_on": typed_value(ItemType.date,
                                                                 typed["allocated_on"]),
        }  # fmt: skip
        return allocate(study, actor, AllocationInput(**allocation))  # type: ignore[arg-type]

    return await run_in_threadpool(
        submit,
        step, language=language, typed=typed,
        refused=_refused_enrolment(request, study, actor, screening_id, "allocate"),
        done=lambda _allocation: f"/participants/{found['participant_id']}#summary",
        request=request,
    )  # fmt: skip


# --- the screening log and the upload of candidates --------------------------------------------

DECISIONS = tuple(d.value for d in ScreeningDecision)


@dataclass(frozen=True)
class UploadView:
    """What the page says of an upload: its name, the dry run's report, or why it was refused
    before it was read (`refused`: 'too_large', 'no_length', 'no_file', 'not_csv', 'expired')."""

    name: str = ""
    report: ScreeningImport | None = None
    refused: str = ""
    refusal: FormRefusal | None = None
    status: int = 200
    pending: Mapping[str, str] | None = None
    """What the session keeps of a file that passed, for her confirmation."""


def _log_page(
    request: Request,
    study: Study,
    actor: Actor,
    *,
    decision: str | None = None,
    upload: UploadView | None = None,
    imported: int | None = None,
    status_code: int = 200,
) -> Response:
    shown = decision if decision in DECISIONS else ""
    entries = screening_log(study, actor, decision=ScreeningDecision(shown) if shown else None)
    may_screen = Operation.SCREEN in permitted_operations(study, actor)
    board = dashboard(study, actor) if may_screen else None
    return page(
        request, "screening_log.html", status_code, entries=tuple(reversed(entries)),
        decisions=DECISIONS, decision=shown, may_screen=may_screen, upload=upload,
        imported=imported, sites=board.sites if board else (),
        max_upload_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
    )  # fmt: skip


@router.get("/screening")
def screening_log_page(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    decision: Annotated[str | None, Query(max_length=20)] = None,
    imported: Annotated[int | None, Query(ge=0, le=100_000)] = None,
) -> Response:
    """Every screening of her sites, newest first, with its decision and reasons."""
    return _log_page(request, study, actor, decision=decision, imported=imported)


def _upload_dir() -> Path:
    """The private folder of uploads; one that another account made (or a link planted in
    its place in the shared temporary folder) is never written into."""
    UPLOAD_DIR.mkdir(mode=0o700, exist_ok=True)
    found = UPLOAD_DIR.lstat()
    private = stat.S_ISDIR(found.st_mode) and not found.st_mode & 0o077
    if not private or found.st_uid != os.getuid():
        raise InputError(
            f"{UPLOAD_DIR} is not a private folder of this account: remove it (uploads wait "
            "there for confirmation) and try again"
        )
    return UPLOAD_DIR


def _sweep_uploads() -> None:
    """Uploads never confirmed go after UPLOAD_KEEP_SECONDS."""
    oldest = time.time() - UPLOAD_KEEP_SECONDS
    for path in _upload_dir().glob("*.csv"):
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
        except FileNotFoundError:  # another request swept it first
            continue


def _upload_path(token: object) -> Path | None:
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None
    return _upload_dir() / f"{token}.csv"


def _forget_upload(request: Request) -> None:
    pending = request.session.pop(UPLOAD_KEY, None)
    path = _upload_path(pending.get("token")) if isinstance(pending, dict) else None
    if path is not None:
        path.unlink(missing_ok=True)


def _too_large(request: Request) -> str:
    """Why the body is refused before it is read: a size not said, or too large."""
    length = request.headers.get("content-length", "")
    if not length.isdecimal():
        return "no_length"
    return "too_large" if int(length) > MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES else ""


async def _saved_upload(file: UploadFile, target: Path) -> bool:
    """Copy the upload to `target`; False (and nothing kept) past MAX_UPLOAD_BYTES."""
    size = 0
    with target.open("wb") as out:
        while chunk := await file.read(64 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                out.close()
                target.unlink(missing_ok=True)
                return False
            out.write(chunk)
    return True


def _shown_path(text: str, path: Path, name: str) -> str:
    """A message with the server's temporary path replaced by the name she uploaded."""
    return text.replace(str(path), name)


def _import(
    study: Study,
    actor: Actor,
    path: Path,
    name: str,
    site: object,
    *,
    dry_run: bool,
    language: str = i18n.DEFAULT_LANGUAGE,
) -> ScreeningImport:
    """The services' import of the saved upload; a file that cannot be read at all is refused
    as the services refuse a value, naming the file (never the server's temporary path)."""
    try:
        report = import_screenings(study, actor, path, site_id=site, dry_run=dry_run)  # type: ignore[arg-type]
    except ServiceError as error:
        params = {
            k: _shown_path(v, path, name) if isinstance(v, str) else v
            for k, v in error.params.items()
        }
        raise type(error)(error.code, field=error.field or "file", **params) from None
    except EndotrialError as error:
        problem = _shown_path(error.message, path, name)
        raise InvalidInput("input.invalid", field="file", what=name, problems=problem) from None
    problems = tuple(
        replace(p, message=_shown_path(
            i18n.coded_message(p.code, p.message, {"field": p.field, **p.params}, language),
            path, name))
        for p in report.problems
    )  # fmt: skip
    return ScreeningImport(name, report.rows, problems, report.dry_run, report.screenings)


@router.post("/screening/import")
async def check_upload(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep
) -> Response:
    """Check an uploaded CSV of candidates as the import would (a dry run: every row's problems
    at once, naming row and column) and keep it for her confirmation; nothing is stored. Its
    size is checked before the body is read (the CSRF check reads it, so it comes second)."""
    refused = _too_large(request)
    if refused:
        return await run_in_threadpool(
            _log_page, request, study, actor, upload=UploadView(refused=refused),
            status_code=413 if refused == "too_large" else 411,
        )  # fmt: skip
    form = await request.form()
    try:
        await check_csrf(request)
        await run_in_threadpool(_require, study, actor, Operation.SCREEN)
        _forget_upload(request)
        _sweep_uploads()
        view = await _checked_upload(study, actor, language, form)
    finally:
        await form.close()  # a spooled upload's temporary file goes now
    if view.report is not None and view.report.accepted:
        request.session[UPLOAD_KEY] = view.pending
    status = 200 if view.report is not None and view.report.accepted else view.status
    return await run_in_threadpool(
        _log_page, request, study, actor, upload=view, status_code=status
    )  # fmt: skip


async def _checked_upload(study: Study, actor: Actor, language: str, form: FormData) -> UploadView:
    """The upload saved under a random name and dry-run; kept only when every row passes."""
    file, typed = form.get("file"), typed_text(form, ("site_id",))
    if not isinstance(file, UploadFile) or not file.filename:
        return UploadView(refused="no_file", status=422)
    name = Path(file.filename).name[:200]
    if not name.lower().endswith(".csv"):
        return UploadView(name, refused="not_csv", status=422)
    token = secrets.token_urlsafe(24)
    path = _upload_dir() / f"{token}.csv"
    if not await _saved_upload(file, path):
        return UploadView(name, refused="too_large", status=413)
    site = _record_id(typed["site_id"])
    try:
        report = await run_in_threadpool(
            _import, study, actor, path, name, site, dry_run=True, language=language
        )  # fmt: skip
    except ServiceError as error:
        path.unlink(missing_ok=True)
        return UploadView(name, refusal=refusal_of(error, language, typed), status=status_of(error))
    if not report.accepted:
        path.unlink(missing_ok=True)
    pending = {"token": token, "name": name, "site_id": typed["site_id"]}
    return UploadView(name, report, status=422, pending=pending)


@router.post("/screening/import/confirm")
async def confirm_upload(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep
) -> Response:
    """Import the file she checked: every candidate screened and logged, in one transaction
    (the services check every row again: the whole file or nothing)."""
    form = await request.form()
    try:
        await check_csrf(request)
    finally:
        await form.close()  # a file posted with it is never read: what was checked is imported
    pending = request.session.get(UPLOAD_KEY)
    path = _upload_path(pending.get("token")) if isinstance(pending, dict) else None
    claimed = _claimed(path)
    if pending is None or path is None or claimed is None:
        return await run_in_threadpool(
            _log_page, request, study, actor, upload=UploadView(refused="expired"),
            status_code=409,
        )  # fmt: skip
    name, site = str(pending.get("name")), _record_id(str(pending.get("site_id") or ""))

    def step() -> int:
        try:
            report = _import(study, actor, claimed, name, site, dry_run=False)
        except BaseException:
            claimed.replace(path)  # refused: kept for her to confirm again
            raise
        if not report.accepted:  # the log changed since the check (rare): nothing stored
            claimed.replace(path)
            first = report.problems[0]
            raise InvalidInput(
                "input.invalid", field=first.field or "file", what=f"{name}, row {first.row}",
                problems=first.message,
            )  # fmt: skip
        claimed.unlink(missing_ok=True)
        _forget_upload(request)
        return len(report.screenings)

    return await run_in_threadpool(
        submit, step, language=language, typed={"site_id": str(pending.get("site_id") or "")},
        refused=lambda refusal, status: _log_page(
            request, study, actor, upload=UploadView(name, refusal=refusal), status_code=status),
        done=lambda count: f"/screening?imported={count}",
    )  # fmt: skip


def _claimed(path: Path | None) -> Path | None:
    """The checked upload taken for this confirmation alone (an atomic rename): a second
    confirmation arriving meanwhile, a double click or a replayed request, finds it gone
    and imports nothing. The claimed name still ends in .csv, so the sweep takes it too."""
    if path is None:
        return None
    claimed = path.with_name(f"{path.stem}.claimed.csv")
    try:
        path.replace(claimed)
    except FileNotFoundError:
        return None
    return claimed


@router.post("/screening/import/cancel")
async def cancel_upload(request: Request, actor: PageActor) -> Response:
    """Drop a checked upload without importing it."""
    await check_csrf(request)
    _forget_upload(request)
    return see_other("/screening")
