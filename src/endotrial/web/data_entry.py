"""Data entry on a participant's page: a form for each event of her timeline that needs a
record, generated from the protocol (units, ranges, allowed values, the event's window) and
named by the services' input fields; the procedure page with its dry run; deviations and
withdrawal.

Every value arrives as typed text and goes to the service as typed, converted only where it
plainly is a date, a number or a choice: the service's strict input refuses the rest with the
field named, and the form comes back with the message beside that field and everything typed
kept. Nothing here decides a rule of the trial: the services do.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from endotrial.dosing import DosePlan
from endotrial.dosing.engine import VIABILITY_RESULT_ID, procedure_dose_rule
from endotrial.outcomes.measures import items_at, measures_at
from endotrial.protocol.models import (
    DataItem,
    DoseRule,
    DrugRegimen,
    EventRole,
    ItemType,
    ProcedureSpec,
    Protocol,
    ScheduleEvent,
)
from endotrial.protocol.settings import BETA_HCG_POSITIVE_MIU_ML
from endotrial.schedule.engine import REPEAT_SEPARATOR
from endotrial.services import (
    THICKNESS_RANGE_MM,
    Actor,
    CycleStartInput,
    DeviationInput,
    DryRunResult,
    MeasurementInput,
    MedicationInput,
    NotSignedIn,
    Operation,
    OutcomeInput,
    ProcedureInput,
    ProcedureRecord,
    ServiceError,
    Study,
    Timeline,
    TimelineEvent,
    TransferInput,
    UltrasoundInput,
    VisitInput,
    WithdrawalInput,
    dry_run,
    participant_records,
    participant_summary,
    participant_timeline,
    permitted,
    record_deviation,
    record_measurement,
    record_medication,
    record_outcome,
    record_procedure,
    record_transfer,
    record_ultrasound,
    record_visit,
    start_cycle,
    withdraw,
)
from endotrial.services.dry_run import DOSE_PLAN_NOTE
from endotrial.web import i18n
from endotrial.web.deps import CsrfChecked, LanguageDep, PageActor, StudyDep
from endotrial.web.forms import FormRefusal, see_other, submit
from endotrial.web.problems import status_of
from endotrial.web.rendering import page

router = APIRouter(include_in_schema=False)

#: How long a typed value may be (longer is cut: the services' own limits are lower).
MAX_TYPED = 4000
#: Event kinds recorded on the procedure page (the procedure, its pre-checks, its observation).
PROCEDURE_KINDS = frozenset({"procedure", "pre_check", "observation"})


@dataclass(frozen=True)
class FormField:
    """One input of a form, named as the service's input names it."""

    name: str
    label: str
    kind: str
    """date, number, integer, text, textarea, select, flag (yes / no / not known), checkbox,
    or grades (a list typed comma-separated)."""
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: str | None = None
    choices: tuple[tuple[str, str], ...] = ()
    """(value, label) pairs of a select; the labels of a datalist for a text."""
    required: bool = False
    hint: str | None = None


@dataclass(frozen=True)
class FormSpec:
    """A data-entry form: its fields, the fixed values it adds, and the service it calls."""

    title: str
    fields: tuple[FormField, ...]
    operation: Operation
    run: Callable[[Study, Actor, dict[str, Any]], object]
    defaults: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _gettext(language: str) -> Callable[[str], str]:
    return i18n.translations(language).gettext


# --- typed text to the services' values -------------------------------------------------

_INTEGER = re.compile(r"^[+-]?\d{1,15}$")
_FLAGS = {"yes": True, "no": False}
_TICKED = {"on", "true", "yes"}


def typed_values(fields: tuple[FormField, ...], form: FormData) -> dict[str, str]:
    """Every field as typed (a checkbox not ticked: empty), cut to MAX_TYPED characters."""
    return {f.name: str(form.get(f.name) or "")[:MAX_TYPED] for f in fields}


def converted(fields: tuple[FormField, ...], typed: Mapping[str, str]) -> dict[str, Any]:
    """The values for the service: converted where the text plainly is one; anything else as
    typed, for the service to refuse naming the field. A blank optional field is left out."""
    values: dict[str, Any] = {}
    for spec in fields:
        text = typed.get(spec.name, "").strip()
        if spec.kind == "checkbox":
            values[spec.name] = text.lower() in _TICKED
        elif text or spec.required:
            values[spec.name] = _value(spec.kind, text)
    return values


def _value(kind: str, text: str) -> object:
    if kind == "date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return text
    if kind == "integer" and _INTEGER.match(text):
        return int(text)
    if kind == "number":
        return _number(text)
    if kind == "flag":
        return _FLAGS.get(text.lower(), text)
    if kind == "grades":
        return [g for g in re.split(r"[\s,;]+", text) if g]
    return text


def _number(text: str) -> object:
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def nested(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The values named `prefix.key`, as {key: value} (removed from `values`)."""
    found = {}
    for name in [n for n in values if n.startswith(prefix + ".")]:
        found[name.removeprefix(prefix + ".")] = values.pop(name)
    return found


# --- her timeline and the events that need a record -------------------------------------


def _schedule_event(protocol: Protocol, event_id: str) -> ScheduleEvent | None:
    return next((e for e in protocol.schedule if e.id == event_id), None)


def _role(protocol: Protocol, event_id: str) -> EventRole | None:
    listed = _schedule_event(protocol, event_id)
    return listed.role if listed is not None else None


def _cycle_started_by(protocol: Protocol, event_id: str) -> str | None:
    return next((c.id for c in protocol.cycles if c.start_event == event_id), None)


def form_kind(protocol: Protocol, event_id: str, kind: str) -> str | None:
    """Which form records the event (None: no record of its own)."""
    role = _role(protocol, event_id)
    if _cycle_started_by(protocol, event_id) is not None:
        return "cycle"
    if kind in PROCEDURE_KINDS:
        return "procedure"
    if role in (EventRole.beta_hcg_test, EventRole.pregnancy_scan):
        return "outcome"
    return {
        "medication": "medication",
        "ultrasound": "ultrasound",
        "transfer": "transfer",
        "visit": "visit",
        "follow_up": "visit",
    }.get(kind)


def _timeline_event(timeline: Timeline, event_id: str) -> TimelineEvent | None:
    return next((e for e in timeline.events if e.event_id == event_id), None)


def _not_found() -> HTTPException:
    return HTTPException(status_code=404)


def _event_context(
    study: Study, timeline: Timeline, event_id: str
) -> tuple[TimelineEvent | None, str]:
    """Her timeline's event and the form that records it; an event not of her schedule (or
    with no form) is not found. Before her first cycle starts her timeline is empty: its
    start is the one event she can record."""
    protocol = study.protocol
    event = _timeline_event(timeline, event_id)
    if event is not None:
        kind = form_kind(protocol, event_id, event.kind)
    else:
        first = protocol.cycles[0].start_event if protocol.cycles else None
        dated = not timeline.undated_because
        kind = "cycle" if timeline.arm and not dated and event_id == first else None
    if kind is None:
        raise _not_found()
    return event, kind


def _procedure_of(protocol: Protocol, arm: str | None, event_id: str) -> ProcedureSpec:
    """The procedure of her arm whose event (itself, a pre-check, its observation) this is; a
    repeat's events are named `<id>@<cycle>`."""
    event_id = event_id.split(REPEAT_SEPARATOR, 1)[0]
    for procedure_id in protocol.arm(arm).procedures if arm else ():
        spec = protocol.procedure(procedure_id)
        events = {spec.id, f"{spec.id}_observation_end", *(c.id for c in spec.pre_checks)}
        if event_id in events:
            return spec
    raise _not_found()


# --- the forms ---------------------------------------------------------------------------


def _date(name: str, label: str, required: bool = True) -> FormField:
    return FormField(name, label, "date", required=required)


def cycle_form(protocol: Protocol, participant_id: int, event_id: str, language: str) -> FormSpec:
    _ = _gettext(language)
    cycle = _cycle_started_by(protocol, event_id)
    assert cycle is not None

    def run(study: Study, actor: Actor, values: dict[str, Any]) -> object:
        start = CycleStartInput(participant_id=participant_id, cycle=cycle, **values)
        return start_cycle(study, actor, start)

    title = _("Start of the cycle: %(cycle)s") % {"cycle": protocol.cycle(cycle).label}
    fields = (_date("start_date", _("Cycle day 1")),)
    return FormSpec(title, fields, Operation.START_CYCLE, run)


def _regimens_of(protocol: Protocol, arm: str | None, event_id: str) -> list[DrugRegimen]:
    """Her arm's regimens that start or stop at the event."""
    found = []
    for regimen_id in protocol.arm(arm).regimens if arm else ():
        regimen = protocol.regimen(regimen_id)
        ends = {f"{regimen.id}_start", f"{regimen.id}_stop"}
        anchors = {p.anchor for p in (regimen.starts, regimen.stops) if p is not None}
        if event_id in ends or event_id in anchors:
            found.append(regimen)
    return found


def _regimen_text(regimen: DrugRegimen) -> str:
    return (
        f"{regimen.drug} {regimen.dose:g} {regimen.unit} {regimen.frequency} "
        f"({regimen.days_text()})"
    )


def medication_form(
    protocol: Protocol, timeline: Timeline, event_id: str, language: str
) -> FormSpec:
    _ = _gettext(language)
    regimens = _regimens_of(protocol, timeline.arm, event_id)
    if not regimens:
        raise _not_found()
    first = regimens[0]
    start = _timeline_event(timeline, f"{first.id}_start")
    stop = _timeline_event(timeline, f"{first.id}_stop")
    per_day = ", ".join(f"{r.id}: {r.doses_per_day}" for r in regimens)
    fields = (
        FormField(
            "regimen_id", _("Regimen"), "select", required=True,
            choices=tuple((r.id, _regimen_text(r)) for r in regimens),
        ),
        _date("first_day", _("First day of the period")),
        _date("last_day", _("Last day of the period")),
        FormField(
            "doses_taken", _("Doses taken over the period"), "integer", minimum=0,
            maximum=10_000, step="1", required=True,
            hint=_("planned doses a day: %(per_day)s") % {"per_day": per_day},
        ),
    )  # fmt: skip
    defaults = {
        "regimen_id": first.id,
        "first_day": start.date.isoformat() if start else "",
        "last_day": stop.date.isoformat() if stop else "",
    }
    participant_id = timeline.participant_id

    def run(study: Study, actor: Actor, values: dict[str, Any]) -> object:
        medication = MedicationInput(participant_id=participant_id, **values)
        return record_medication(study, actor, medication)

    title = _("Medication")
    return FormSpec(title, fields, Operation.RECORD_MEDICATION, run, defaults)


def ultrasound_form(participant_id: int, event_id: str, language: str) -> FormSpec:
    _ = _gettext(language)
    low, high = THICKNESS_RANGE_MM
    fields = (
        _date("scan_date", _("Scan date")),
        FormField(
            "thickness_mm", _("Endometrial thickness"), "number", unit="mm", minimum=0,
            maximum=100, step="0.1",
            hint=_("plausible %(low)s–%(high)s mm; outside opens a query") % {
                "low": f"{low:g}", "high": f"{high:g}"},
        ),
        FormField("trilaminar", _("Trilaminar pattern"), "flag"),
    )  # fmt: skip

    def run(study: Study, actor: Actor, values: dict[str, Any]) -> object:
        values.setdefault("thickness_mm", None)
        scan = UltrasoundInput(participant_id=participant_id, event_id=event_id, **values)
        return record_ultrasound(study, actor, scan)

    return FormSpec(_("Ultrasound"), fields, Operation.RECORD_ULTRASOUND, run)


def transfer_form(participant_id: int, event_id: str, language: str) -> FormSpec:
    _ = _gettext(language)
    fields = (
        _date("transfer_date", _("Transfer date")),
        FormField(
            "embryo_grades", _("Embryos transferred (Gardner grades)"), "grades",
            hint=_("e.g. 4AB; several separated by commas; none when cancelled"),
        ),
        FormField(
            "embryo_day", _("Embryo day"), "select", required=True,
            choices=(("5", _("day 5")), ("6", _("day 6"))),
        ),
        FormField(
            "cancel_reason", _("Reason the transfer was cancelled (only if cancelled)"),
            "textarea",
        ),
    )  # fmt: skip

    def run(study: Study, actor: Actor, values: dict[str, Any]) -> object:
        day = values.get("embryo_day")
        values["embryo_day"] = int(day) if isinstance(day, str) and day.isdecimal() else day
        transfer = TransferInput(participant_id=participant_id, event_id=event_id, **values)
        return record_transfer(study, actor, transfer)

    return FormSpec(
        _("Embryo transfer"), fields, Operation.RECORD_TRANSFER, run, {"embryo_day": "5"}
    )


def visit_form(participant_id: int, event_id: str, language: str) -> FormSpec:
    _ = _gettext(language)
    fields = (
        _date("visit_date", _("Visit date")),
        FormField("attended", _("She attended (untick: missed)"), "checkbox"),
        FormField("notes", _("Notes"), "textarea"),
    )

    def run(study: Study, actor: Actor, values: dict[str, Any]) -> object:
        visit = VisitInput(participant_id=participant_id, event_id=event_id, **values)
        return record_visit(study, actor, visit)

    return FormSpec(_("Scheduled visit"), fields, Operation.RECORD_VISIT, run, {"attended": "on"})


#: The outcome's fields as the services name them, and the columns of her stored record.
OUTCOME_COLUMNS = {
    "beta_hcg_miu_ml": "beta_hcg_miu_ml", "beta_hcg_date": "beta_hcg_date",
    "ultrasound_date": "ultrasound_date", "gestational_sacs": "gestational_sacs",
    "ectopic": "ectopic", "fetal_heartbeat_12_weeks": "fetal_heartbeat",
    "ongoing_date": "ongoing_date", "loss_date": "miscarriage_date",
    "birth_date": "birth_date", "live_born_count": "live_born_count",
}  # fmt: skip


def outcome_form(
    study: Study, actor: Actor, participant_id: int, event_id: str | None, language: str
) -> FormSpec:
    """The facts observed after her transfer (the outcomes are derived from them, never
    typed); the facts stored already are shown, and changing them needs a reason."""
    _ = _gettext(language)
    summary = participant_summary(study, actor, participant_id)
    transfers = sorted(summary.transfers, key=lambda t: (t.transfer_date, t.transfer_id))
    stored = _stored_outcome(study, actor, participant_id)
    threshold = BETA_HCG_POSITIVE_MIU_ML.value(study.protocol)
    fields: tuple[FormField, ...] = (
        FormField(
            "beta_hcg_miu_ml", _("Serum beta-hCG"), "number", unit="mIU/mL", minimum=0,
            maximum=1_000_000, step="any",
            hint=_("positive above %(threshold)s mIU/mL") % {"threshold": threshold},
        ),
        _date("beta_hcg_date", _("Date of the beta-hCG"), required=False),
        _date("ultrasound_date", _("Date of the pregnancy ultrasound"), required=False),
        FormField("gestational_sacs", _("Gestational sacs"), "integer", minimum=0, maximum=20,
                  step="1"),
        FormField("ectopic", _("Ectopic pregnancy"), "flag"),
        FormField("fetal_heartbeat_12_weeks", _("Fetal heartbeat at 12 weeks"), "flag"),
        _date("ongoing_date", _("Date of the 12-week ultrasound"), required=False),
        _date("loss_date", _("Date of a pregnancy loss"), required=False),
        _date("birth_date", _("Date of delivery"), required=False),
        FormField("live_born_count", _("Babies born alive"), "integer", minimum=0, maximum=20,
                  step="1"),
    )  # fmt: skip
    if stored:
        fields += (FormField("reason", _("Reason for the change"), "textarea", required=True),)
    role = _role(study.protocol, event_id) if event_id else None
    event_field = {
        EventRole.beta_hcg_test: "beta_hcg_event_id",
        EventRole.pregnancy_scan: "ultrasound_event_id",
    }.get(role) if role else None  # fmt: skip
    notes = () if transfers else (_("Record her embryo transfer first."),)

    def run(study: Study, actor: Actor, values: dict[str, Any]) -> object:
        reason = values.pop("reason", None)
        if event_field is not None and event_id is not None:
            values[event_field] = event_id
        transfer_id = transfers[-1].transfer_id if transfers else 0
        facts = OutcomeInput(transfer_id=transfer_id, **values)
        return record_outcome(study, actor, facts, reason=reason)

    title = _("Pregnancy outcome (observed facts)")
    return FormSpec(title, fields, Operation.RECORD_OUTCOME, run, stored, notes)


def _stored_outcome(study: Study, actor: Actor, participant_id: int) -> dict[str, str]:
    """Her stored outcome facts as form text (empty when none is stored)."""
    records = participant_records(study, actor, participant_id)
    rows = [r for r in records if r.entity == "pregnancy_outcomes"]
    if not rows:
        return {}
    stored = {f.name: f.value for f in rows[-1].fields}
    typed = {}
    for name, column in OUTCOME_COLUMNS.items():
        value = stored.get(column)
        if value is None:
            continue
        flag = {"true": "yes", "false": "no", "yes": "yes", "no": "no"}.get(value.lower())
        typed[name] = flag if flag and name in ("ectopic", "fetal_heartbeat_12_weeks") else value
    return typed


def deviation_form(participant_id: int, language: str) -> FormSpec:
    _ = _gettext(language)
    categories = (
        ("visit window", _("visit window")), ("dosing", _("dosing")),
        ("eligibility", _("eligibility")), ("procedure", _("procedure")),
        ("consent", _("consent")), ("other", _("other")),
    )  # fmt: skip
    fields = (
        _date("occurred_on", _("Occurred on")),
        FormField("category", _("Category"), "text", required=True, choices=categories),
        FormField("description", _("What happened"), "textarea", required=True),
        FormField("major", _("Major deviation"), "checkbox"),
    )

    def run(study: Study, actor: Actor, values: dict[str, Any]) -> object:
        deviation = DeviationInput(participant_id=participant_id, **values)
        return record_deviation(study, actor, deviation)

    return FormSpec(_("Protocol deviation"), fields, Operation.RECORD_DEVIATION, run)


def withdrawal_form(participant_id: int, language: str) -> FormSpec:
    _ = _gettext(language)
    initiators = (
        ("participant", _("the participant")), ("investigator", _("the investigator")),
        ("sponsor", _("the sponsor")),
    )  # fmt: skip
    fields = (
        _date("withdrawn_on", _("Withdrawn on")),
        FormField("initiated_by", _("Withdrawn by"), "select", required=True, choices=initiators),
        FormField("reason", _("Reason"), "textarea", required=True),
        FormField("data_use_allowed", _("Her data collected so far may be used"), "checkbox"),
    )

    def run(study: Study, actor: Actor, values: dict[str, Any]) -> object:
        withdrawal = WithdrawalInput(participant_id=participant_id, **values)
        return withdraw(study, actor, withdrawal)

    defaults = {"data_use_allowed": "on", "initiated_by": "participant"}
    return FormSpec(_("Withdrawal"), fields, Operation.WITHDRAW, run, defaults)


# --- the record pages --------------------------------------------------------------------


def event_form(
    study: Study, actor: Actor, timeline: Timeline, event_id: str, kind: str, language: str
) -> FormSpec:
    participant_id = timeline.participant_id
    if kind == "cycle":
        return cycle_form(study.protocol, participant_id, event_id, language)
    if kind == "medication":
        return medication_form(study.protocol, timeline, event_id, language)
    if kind == "ultrasound":
        return ultrasound_form(participant_id, event_id, language)
    if kind == "transfer":
        return transfer_form(participant_id, event_id, language)
    if kind == "visit":
        return visit_form(participant_id, event_id, language)
    return outcome_form(study, actor, participant_id, event_id, language)


#: The date field each form prefills with the event's date.
_DATE_FIELDS = ("start_date", "scan_date", "transfer_date", "visit_date")


def _event_defaults(spec: FormSpec, event: TimelineEvent | None) -> dict[str, str]:
    defaults = dict(spec.defaults)
    if event is not None:
        for f in spec.fields:
            if f.name in _DATE_FIELDS and not defaults.get(f.name):
                defaults[f.name] = event.date.isoformat()
    return defaults


def render_form(
    request: Request,
    study: Study,
    actor: Actor,
    spec: FormSpec,
    *,
    participant_id: int,
    study_id: str,
    action: str,
    typed: Mapping[str, str],
    event: TimelineEvent | None = None,
    event_label: str | None = None,
    refused: FormRefusal | None = None,
    status_code: int = 200,
) -> Response:
    names = {f.name for f in spec.fields}
    return page(
        request, "record_form.html", status_code, form=spec, typed=typed, event=event,
        event_label=event_label, refused=refused, action=action,
        participant_id=participant_id, study_id=study_id,
        field_refused=refused if refused and refused.field in names else None,
        may_record=permitted(study, actor, spec.operation),
    )  # fmt: skip


def _record_page(
    request: Request, study: Study, actor: Actor, participant_id: int, event_id: str,
    language: str,
) -> tuple[FormSpec, TimelineEvent | None, str | None, Timeline]:  # fmt: skip
    timeline = participant_timeline(study, actor, participant_id)
    event, kind = _event_context(study, timeline, event_id)
    if kind == "procedure":
        raise _Redirect(_procedure_path(study.protocol, timeline, event_id))
    spec = event_form(study, actor, timeline, event_id, kind, language)
    listed = _schedule_event(study.protocol, event_id)
    label = event.label if event else (listed.label if listed else event_id)
    return spec, event, label, timeline


class _Redirect(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _procedure_path(protocol: Protocol, timeline: Timeline, event_id: str) -> str:
    spec = _procedure_of(protocol, timeline.arm, event_id)
    return f"/participants/{timeline.participant_id}/procedure/{spec.id}"


RECORD_PATH = "/participants/{participant_id}/record/{event_id}"


@router.get(RECORD_PATH)
def record_page(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    language: LanguageDep,
    participant_id: int,
    event_id: str,
) -> Response:
    try:
        spec, event, label, timeline = _record_page(
            request, study, actor, participant_id, event_id, language
        )
    except _Redirect as redirect:
        return see_other(redirect.path)
    return render_form(
        request, study, actor, spec, participant_id=participant_id, study_id=timeline.study_id,
        action=request.url.path, typed=_event_defaults(spec, event), event=event,
        event_label=label,
    )  # fmt: skip


@router.post(RECORD_PATH, dependencies=[CsrfChecked])
async def record_form(
    request: Request,
    study: StudyDep,
    actor: PageActor,
    language: LanguageDep,
    participant_id: int,
    event_id: str,
) -> Response:
    form = await request.form()

    def work() -> Response:  # the database's work, in the threadpool: never on the event loop
        try:
            spec, event, label, timeline = _record_page(
                request, study, actor, participant_id, event_id, language
            )
        except _Redirect as redirect:
            return see_other(redirect.path)
        typed = typed_values(spec.fields, form)
        return _submit_form(
            request, study, actor, language, spec, typed, timeline, request.url.path, event, label
        )

    return await run_in_threadpool(work)


def _submit_form(
    request: Request, study: Study, actor: Actor, language: str, spec: FormSpec,
    typed: dict[str, str], timeline: Timeline, action: str,
    event: TimelineEvent | None = None, label: str | None = None,
) -> Response:  # fmt: skip
    participant_id = timeline.participant_id

    def again(refused: FormRefusal, status: int) -> Response:
        return render_form(
            request, study, actor, spec, participant_id=participant_id,
            study_id=timeline.study_id, action=action, typed=typed, event=event,
            event_label=label, refused=refused, status_code=status,
        )  # fmt: skip

    return submit(
        lambda: spec.run(study, actor, converted(spec.fields, typed)),
        language=language, typed=typed, refused=again,
        done=f"/participants/{participant_id}#timeline-card", request=request,
    )  # fmt: skip


#: Forms of her page that record no scheduled event.
OTHER_FORMS: dict[str, Callable[[Study, Actor, int, str], FormSpec]] = {
    "deviation": lambda study, actor, pid, language: deviation_form(pid, language),
    "withdrawal": lambda study, actor, pid, language: withdrawal_form(pid, language),
    "outcome": lambda study, actor, pid, language: outcome_form(study, actor, pid, None, language),
}
OTHER_PATH = "/participants/{participant_id}/{form_name}"


def _other_form(
    study: Study, actor: Actor, participant_id: int, form_name: str, language: str
) -> tuple[FormSpec, Timeline]:
    if form_name not in OTHER_FORMS:
        raise _not_found()
    timeline = participant_timeline(study, actor, participant_id)  # hers, of the reader's sites
    return OTHER_FORMS[form_name](study, actor, participant_id, language), timeline


@router.get("/participants/{participant_id}/deviation")
@router.get("/participants/{participant_id}/withdrawal")
@router.get("/participants/{participant_id}/outcome")
def other_page(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep,
    participant_id: int,
) -> Response:  # fmt: skip
    form_name = request.url.path.rstrip("/").rsplit("/", 1)[1]
    spec, timeline = _other_form(study, actor, participant_id, form_name, language)
    return render_form(
        request, study, actor, spec, participant_id=participant_id,
        study_id=timeline.study_id, action=request.url.path, typed=dict(spec.defaults),
    )  # fmt: skip


@router.post("/participants/{participant_id}/deviation", dependencies=[CsrfChecked])
@router.post("/participants/{participant_id}/withdrawal", dependencies=[CsrfChecked])
@router.post("/participants/{participant_id}/outcome", dependencies=[CsrfChecked])
async def other_form(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep,
    participant_id: int,
) -> Response:  # fmt: skip
    form_name = request.url.path.rstrip("/").rsplit("/", 1)[1]
    form = await request.form()

    def work() -> Response:
        spec, timeline = _other_form(study, actor, participant_id, form_name, language)
        typed = typed_values(spec.fields, form)
        path = request.url.path
        return _submit_form(request, study, actor, language, spec, typed, timeline, path)

    return await run_in_threadpool(work)


# --- the procedure page ------------------------------------------------------------------


@dataclass(frozen=True)
class ProcedureForm:
    """The procedure page's form: her arm's procedure, its dose rule (None: no cells)."""

    spec: ProcedureSpec
    rule: DoseRule | None
    fields: tuple[FormField, ...]
    checklist: tuple[FormField, ...]
    pre_checks: tuple[FormField, ...]
    release: tuple[FormField, ...]


def procedure_form(
    protocol: Protocol, arm: str, spec: ProcedureSpec, language: str
) -> ProcedureForm:
    _ = _gettext(language)
    rule = procedure_dose_rule(protocol, arm, spec.id)
    fields = [_date("procedure_date", _("Procedure date"))]
    weight_hint = None
    if rule is not None and rule.weight_min_kg is not None and rule.weight_max_kg is not None:
        weight_hint = _("the dose rule takes %(low)s–%(high)s kg") % {
            "low": f"{rule.weight_min_kg:g}", "high": f"{rule.weight_max_kg:g}"}  # fmt: skip
    fields.append(FormField(
        "weight_kg", _("Body weight"), "number", unit="kg", minimum=0, maximum=500, step="0.1",
        required=rule is not None and rule.kind == "per_kg", hint=weight_hint,
    ))  # fmt: skip
    release: tuple[FormField, ...] = ()
    if rule is not None:
        # The viability is the procedure's own field: the dose engine checks it against the
        # release criterion of that id, whose limit is shown beside it.
        viability = next(
            (_release_field(c, language) for c in rule.release_criteria
             if c.id == VIABILITY_RESULT_ID), None,
        )  # fmt: skip
        fields += [
            FormField("viability_pct", _("Viability"), "number", unit="%", minimum=0,
                      maximum=100, step="0.1", required=True,
                      hint=viability.hint if viability else None),
            FormField("dose_given_cells", _("Viable cells released and given"), "integer",
                      unit=_("cells"), minimum=0, step="1", required=True),
            FormField("cell_lot", _("Cell product lot"), "text", required=True),
        ]  # fmt: skip
        release = tuple(
            _release_field(c, language) for c in rule.release_criteria
            if c.id != VIABILITY_RESULT_ID
        )  # fmt: skip
    fields += [
        FormField("complications", _("Complications"), "textarea"),
        FormField(
            "override_reason", _("Investigator's override: the reason (only where the protocol "
                                 "allows it)"), "textarea"),
    ]  # fmt: skip
    checklist = tuple(
        FormField(f"checklist.step_{s.number}", f"{s.number}. {s.name}: {s.description}",
                  "checkbox")
        for s in spec.steps
    )  # fmt: skip
    pre_checks = tuple(
        FormField(
            f"pre_checks.{c.id}", c.label, "select", required=True,
            choices=(("", _("(not done)")), *((r, r) for r in c.results)),
            hint=_("goes ahead on: %(passes)s; override: %(override)s") % {
                "passes": ", ".join(c.passes),
                "override": _("allowed") if c.override_allowed else _("never")},
        )
        for c in spec.pre_checks
    )  # fmt: skip
    return ProcedureForm(spec, rule, tuple(fields), checklist, pre_checks, release)


def _release_field(criterion: Any, language: str) -> FormField:
    _ = _gettext(language)
    sign = {"minimum": "≥", "maximum": "≤", "equals": "="}[criterion.kind]
    unit = f" {criterion.unit}" if criterion.unit else ""
    value = criterion.value
    limit = f"{sign} {value:g}{unit}" if isinstance(value, float) else f"{sign} {value}{unit}"
    if criterion.override_allowed and criterion.override_limit is not None:
        override = _("override down to %(limit)s") % {"limit": f"{criterion.override_limit:g}"}
    else:
        override = _("no override")
    name = f"release_results.{criterion.id}"
    hint = f"{_('release limit')} {limit}; {override}"
    if criterion.kind == "equals":
        choices = ((str(criterion.value), str(criterion.value)),)
        return FormField(name, criterion.label, "text", required=True, choices=choices, hint=hint)
    low, high = criterion.possible_range()
    return FormField(
        name, criterion.label, "number", unit=criterion.unit, minimum=low, maximum=high,
        step="any", required=True, hint=hint,
    )  # fmt: skip


@dataclass(frozen=True)
class CheckResult:
    """What the dry run found, before anything is saved."""

    accepted: bool
    plan: DosePlan | None
    problems: tuple[str, ...]
    """The failures of pre-checks, release checks and the dose."""
    overridable: bool | None
    """Whether the protocol lets an investigator go ahead over them (None: no problem)."""
    overridden: bool
    message: str | None
    """The refusal, in the reader's language, when the dry run was refused."""
    field: str | None
    queries: tuple[str, ...]


def check_result(result: DryRunResult[ProcedureRecord], language: str) -> CheckResult:
    if result.accepted and result.result is not None:
        done = result.result
        queries = tuple(f"{q.field}: {q.text}" for q in result.queries)
        overridable = True if done.problems else None
        return CheckResult(
            True, done.plan, done.problems, overridable, done.overridden, None, None, queries
        )
    refusal = result.refusal
    assert refusal is not None
    note = result.notes.get(DOSE_PLAN_NOTE)
    plan = note if isinstance(note, DosePlan) else None
    error = ServiceError(refusal.code, field=refusal.field, record=refusal.record,
                         **refusal.params)  # fmt: skip
    listed = refusal.params.get("problems")
    problems = tuple(str(p) for p in listed) if isinstance(listed, list | tuple) else ()
    overridable = {"procedure.needs_override": True, "procedure.blocked": False}.get(refusal.code)
    message = i18n.error_message(error, language)
    return CheckResult(False, plan, problems, overridable, False, message, refusal.field, ())


PROCEDURE_PATH = "/participants/{participant_id}/procedure/{procedure_id}"


def _procedure_context(
    study: Study, actor: Actor, participant_id: int, procedure_id: str, language: str
) -> tuple[ProcedureForm, Timeline]:
    timeline = participant_timeline(study, actor, participant_id)  # hers, of the reader's sites
    arm = timeline.arm
    if arm is None or procedure_id not in study.protocol.arm(arm).procedures:
        raise _not_found()
    spec = study.protocol.procedure(procedure_id)
    return procedure_form(study.protocol, arm, spec, language), timeline


def render_procedure(
    request: Request, study: Study, actor: Actor, form: ProcedureForm, timeline: Timeline,
    typed: Mapping[str, str], *, refused: FormRefusal | None = None,
    check: CheckResult | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    every = (*form.fields, *form.checklist, *form.pre_checks, *form.release)
    names = {f.name for f in every}
    shown = refused
    if shown is None and check is not None and check.message is not None:
        shown = FormRefusal(
            check.message, check.field, dict(typed)
        )  # the dry run's refusal, by its field too
    return page(
        request, "procedure.html", status_code, form=form, typed=typed, refused=refused,
        field_refused=shown if shown and shown.field in names else None, check=check,
        timeline=timeline, event=_timeline_event(timeline, form.spec.id),
        may_record=permitted(study, actor, Operation.RECORD_PROCEDURE),
    )  # fmt: skip


@router.get(PROCEDURE_PATH)
def procedure_page(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep,
    participant_id: int, procedure_id: str,
) -> Response:  # fmt: skip
    form, timeline = _procedure_context(study, actor, participant_id, procedure_id, language)
    event = _timeline_event(timeline, form.spec.id)
    typed = {"procedure_date": event.date.isoformat()} if event else {}
    return render_procedure(request, study, actor, form, timeline, typed)


def _procedure_input(participant_id: int, form: ProcedureForm, typed: dict[str, str]) -> Any:
    every = (*form.fields, *form.checklist, *form.pre_checks, *form.release)
    values = converted(every, typed)
    values["checklist"] = nested(values, "checklist")
    values["pre_checks"] = nested(values, "pre_checks")
    if form.rule is not None:
        values["release_results"] = nested(values, "release_results")
    return ProcedureInput(participant_id=participant_id, procedure_id=form.spec.id, **values)


@router.post(PROCEDURE_PATH, dependencies=[CsrfChecked])
async def procedure_submit(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep,
    participant_id: int, procedure_id: str,
    action: Annotated[str, Form(max_length=20)] = "check",
) -> Response:  # fmt: skip
    """`action` check: the services' dry run (nothing saved) shows the dose and what would
    need an override; record: the procedure is recorded."""
    posted = await request.form()
    return await run_in_threadpool(
        _procedure_step, request, study, actor, language, participant_id, procedure_id, action,
        posted,
    )  # fmt: skip


def _procedure_step(
    request: Request, study: Study, actor: Actor, language: str, participant_id: int,
    procedure_id: str, action: str, posted: FormData,
) -> Response:  # fmt: skip
    """The procedure form's check or record (in the threadpool: it reads and writes)."""
    form, timeline = _procedure_context(study, actor, participant_id, procedure_id, language)
    every = (*form.fields, *form.checklist, *form.pre_checks, *form.release)
    typed = typed_values(every, posted)

    def again(refused: FormRefusal, status: int) -> Response:
        return render_procedure(
            request, study, actor, form, timeline, typed, refused=refused, status_code=status
        )

    if action == "record":
        return submit(
            lambda: record_procedure(study, actor, _procedure_input(participant_id, form, typed)),
            language=language, typed=typed, refused=again,
            done=f"/participants/{participant_id}#timeline-card", request=request,
        )  # fmt: skip
    try:  # the check: the services' dry run, nothing saved
        given = _procedure_input(participant_id, form, typed)
        checked = check_result(dry_run(record_procedure, study, actor, given), language)
    except ServiceError as error:  # the input itself, or the dry run, refused
        if isinstance(error, NotSignedIn):
            raise
        refusal = FormRefusal(i18n.error_message(error, language), error.field, typed)
        return again(refusal, status_of(error))
    return render_procedure(request, study, actor, form, timeline, typed, check=checked)


@router.get("/participants/{participant_id}/start-cycle")
def start_first_cycle(study: StudyDep, actor: PageActor, participant_id: int) -> Response:
    """Her first cycle's start: before it her timeline is empty, so this is its link."""
    participant_timeline(study, actor, participant_id)  # hers, of the reader's sites
    if not study.protocol.cycles:
        raise _not_found()
    first = study.protocol.cycles[0].start_event
    return see_other(f"/participants/{participant_id}/record/{first}")


# --- measurements the protocol's outcome measures ask for ------------------------------

#: How a data item's type is typed in a form.
_ITEM_KINDS = {
    ItemType.number: "number", ItemType.integer: "integer", ItemType.boolean: "flag",
    ItemType.category: "select", ItemType.date: "date",
}  # fmt: skip


def measurement_form(
    protocol: Protocol, participant_id: int, event_id: str, item: DataItem, language: str
) -> FormSpec:
    """The value of `item` at the event, typed, ranged and valued as the protocol's item."""
    _ = _gettext(language)
    choices: tuple[tuple[str, str], ...] = ()
    if item.type == ItemType.category:
        choices = (("", ""), *((v, v) for v in item.values or ()))
    measures = ", ".join(m.label for m in measures_at(protocol, event_id) if m.item == item.name)
    value = FormField(
        "value", item.label, _ITEM_KINDS[item.type], unit=item.unit, minimum=item.minimum,
        maximum=item.maximum, step="1" if item.type == ItemType.integer else "any",
        choices=choices, required=True,
        hint=_("for: %(measures)s") % {"measures": measures} if measures else None,
    )  # fmt: skip
    fields = (
        value,
        _date("measured_date", _("Measured on")),
        FormField("notes", _("Notes"), "textarea"),
    )

    def run(study: Study, actor: Actor, values: dict[str, Any]) -> object:
        given = MeasurementInput(
            participant_id=participant_id, event_id=event_id, item=item.name, **values
        )
        return record_measurement(study, actor, given)

    title = _("Measurement: %(item)s") % {"item": item.name}
    return FormSpec(title, fields, Operation.RECORD_MEASUREMENT, run)


MEASURE_PATH = "/participants/{participant_id}/measure/{event_id}/{item}"


def _measure_page(
    study: Study, actor: Actor, participant_id: int, event_id: str, item: str, language: str
) -> tuple[FormSpec, TimelineEvent, Timeline]:
    """Her event and the item the protocol asks to be measured there; else not found."""
    timeline = participant_timeline(study, actor, participant_id)  # hers, of the reader's sites
    event = _timeline_event(timeline, event_id)
    asked = items_at(study.protocol, event_id)
    if event is None or item not in asked:
        raise _not_found()
    spec = measurement_form(study.protocol, participant_id, event_id, asked[item], language)
    return spec, event, timeline


@router.get(MEASURE_PATH)
def measure_page(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep,
    participant_id: int, event_id: str, item: str,
) -> Response:  # fmt: skip
    spec, event, timeline = _measure_page(study, actor, participant_id, event_id, item, language)
    return render_form(
        request, study, actor, spec, participant_id=participant_id, study_id=timeline.study_id,
        action=request.url.path, typed={"measured_date": event.date.isoformat()}, event=event,
        event_label=event.label,
    )  # fmt: skip


@router.post(MEASURE_PATH, dependencies=[CsrfChecked])
async def measure_form(
    request: Request, study: StudyDep, actor: PageActor, language: LanguageDep,
    participant_id: int, event_id: str, item: str,
) -> Response:  # fmt: skip
    form = await request.form()

    def work() -> Response:
        spec, event, timeline = _measure_page(
            study, actor, participant_id, event_id, item, language
        )
        typed = typed_values(spec.fields, form)
        return _submit_form(
            request, study, actor, language, spec, typed, timeline, request.url.path, event,
            event.label,
        )  # fmt: skip

    return await run_in_threadpool(work)
