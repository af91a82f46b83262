"""The REST API's data entry: every write of the services a study team makes, as JSON.

Each route takes a JSON body and the record named by its path (the participant, or the
screening, scan or transfer an operation follows from), builds the service's own input from
them and calls the service: the services check every rule, and a refusal is a problem detail
with their code and field (`problems`). JSON has no date type: a date is ISO text
("2025-10-06"), parsed by the thin body models below before the services' strict inputs see it;
numbers and flags stay strict ("3" is not a number, 1 is not true).

Two dry runs answer what a save would do without saving anything (`services.dry_run`):
a candidate's screening (her decision and reasons) and the procedure (the computed dose, the
checks that failed and whether an investigator's override would be needed).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from endotrial.dosing import DosePlan
from endotrial.errors import EndotrialError
from endotrial.services import (
    AllocationInput,
    CandidateInput,
    ConsentInput,
    CycleStartInput,
    DeviationInput,
    DryRunResult,
    EnrolmentInput,
    InvalidInput,
    LockedError,
    MeasurementCorrection,
    MeasurementInput,
    MedicationInput,
    NotFoundError,
    NotSignedIn,
    OutcomeInput,
    PermissionDenied,
    PlannedQuery,
    ProcedureInput,
    ProcedureRecord,
    Refusal,
    RuleViolation,
    ScreeningRecord,
    ServiceError,
    TransferInput,
    UltrasoundCorrection,
    UltrasoundInput,
    VisitInput,
    WithdrawalInput,
    allocate,
    correct_measurement,
    correct_ultrasound,
    dry_run,
    enrol,
    record_consent,
    record_deviation,
    record_measurement,
    record_medication,
    record_outcome,
    record_procedure,
    record_transfer,
    record_ultrasound,
    record_visit,
    screen,
    start_cycle,
    withdraw,
)
from endotrial.services.dry_run import DOSE_PLAN_NOTE
from endotrial.services.messages import MESSAGES
from endotrial.store import ScreeningDecision
from endotrial.web.deps import ApiActor, LanguageDep, StudyDep
from endotrial.web.problems import PROBLEM_RESPONSES, Problem, problem_of

api_router = APIRouter(prefix="/api/v1", responses=PROBLEM_RESPONSES)

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    """ISO text (YYYY-MM-DD) as a date; anything else is left for the strict check to refuse."""
    if isinstance(value, str):
        if not _ISO_DATE.fullmatch(value):
            raise ValueError("give a date as YYYY-MM-DD")
        return dt.date.fromisoformat(value)
    return value


def _iso_moment(value: object) -> object:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("give a moment as ISO 8601 (2025-10-15T09:30:00+08:00)") from None
    return value


#: A date in JSON: ISO text.
JsonDate = Annotated[dt.date, BeforeValidator(_iso_date)]
#: A moment in JSON: ISO 8601 text, with its UTC offset.
JsonMoment = Annotated[dt.datetime, BeforeValidator(_iso_moment)]
ShortText = Annotated[str, Field(max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]
Code = Annotated[str, Field(max_length=64)]


class Body(BaseModel):
    """A request body: unknown fields refused, numbers and flags strict, no NaN."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    def given(self) -> dict[str, Any]:
        """The fields the request gave (the service's input applies its own defaults)."""
        return self.model_dump(exclude_unset=True)


# ------------------------------------------------------------------------------ screening


class ScreeningAnswer(BaseModel):
    screening_id: int
    candidate_ref: str
    site_id: int
    decision: ScreeningDecision
    failed_criteria: list[str]
    unknown_criteria: list[str]
    eligible_arms: list[str]

    @classmethod
    def of(cls, record: ScreeningRecord) -> ScreeningAnswer:
        return cls(
            screening_id=record.screening_id, candidate_ref=record.candidate_ref,
            site_id=record.site_id, decision=record.decision,
            failed_criteria=list(record.failed_criteria),
            unknown_criteria=list(record.unknown_criteria),
            eligible_arms=list(record.eligible_arms),
        )  # fmt: skip


class PlannedChangeView(BaseModel):
    """One field a save would write, as the audit trail would record it."""

    model_config = ConfigDict(from_attributes=True)

    table: str
    row_id: str
    action: str = Field(description="insert, update or delete")
    field: str | None
    old_value: Any
    new_value: Any
    reason: str | None


class DryRunAnswer(BaseModel):
    """What the save would do; nothing was kept."""

    accepted: bool
    refusal: Problem | None = Field(description="Why a save would be refused, as it would say.")
    changes: list[PlannedChangeView] = Field(description="Every field a save would write.")
    queries: list[PlannedQuery] = Field(description="The data queries its edit checks would open.")


class ScreeningDryRun(DryRunAnswer):
    screening: ScreeningAnswer | None = Field(
        description="Her decision and its reasons (the id is provisional)."
    )


@api_router.post(
    "/screenings", tags=["screening"], status_code=201, summary="Screen a candidate",
)  # fmt: skip
def api_screen(study: StudyDep, actor: ApiActor, body: CandidateInput) -> ScreeningAnswer:
    """Screen one candidate on the protocol's items and keep her in the screening log, eligible
    or not. Dates are ISO text; an item the protocol does not know is refused by name."""
    return ScreeningAnswer.of(screen(study, actor, body))


@api_router.post(
    "/screenings/dry-run", tags=["screening"], summary="Screen a candidate without saving",
)  # fmt: skip
def api_screen_dry_run(
    study: StudyDep, actor: ApiActor, language: LanguageDep, body: CandidateInput
) -> ScreeningDryRun:
    """Her decision, failed and unknown criteria and the arms open to her, as a save would
    give them; nothing is kept (not even in the screening log)."""
    rehearsal = _rehearsed(dry_run(screen, study, actor, body))
    record = rehearsal.result
    return ScreeningDryRun(
        **_dry_run_fields(rehearsal, language),
        screening=None if record is None else ScreeningAnswer.of(record),
    )


class ConsentBody(Body):
    form_version: Annotated[str, Field(max_length=32)]
    consent_date: JsonDate
    taken_by: Annotated[str, Field(max_length=64, description="The username who took it.")]


class EnrolmentBody(Body):
    enrolled_on: JsonDate


class ParticipantAnswer(BaseModel):
    participant_id: int


@api_router.post(
    "/screenings/{screening_id}/consent", tags=["enrolment"], status_code=201,
    summary="Record her signed consent",
)  # fmt: skip
def api_record_consent(
    study: StudyDep, actor: ApiActor, screening_id: int, body: ConsentBody
) -> ParticipantAnswer:
    """Her signed informed consent (inclusion 1); the participant is created at her first."""
    consent = ConsentInput(screening_id=screening_id, **body.given())
    return ParticipantAnswer(participant_id=record_consent(study, actor, consent))


@api_router.post(
    "/screenings/{screening_id}/enrolment", tags=["enrolment"], status_code=201,
    summary="Enrol a screened, consented candidate",
)  # fmt: skip
def api_enrol(
    study: StudyDep, actor: ApiActor, screening_id: int, body: EnrolmentBody
) -> ParticipantAnswer:
    """Refused unless her latest screening is eligible and still is on the enrolment date,
    her consent is signed, and the enrolment target is not reached."""
    enrolment = EnrolmentInput(screening_id=screening_id, **body.given())
    return ParticipantAnswer(participant_id=enrol(study, actor, enrolment))


# ------------------------------------------------------------------------ the participant


class AllocationBody(Body):
    arm: Annotated[str, Field(max_length=32)]
    basis: LongText
    allocated_on: JsonDate


class AllocationAnswer(BaseModel):
    allocation_id: int


@api_router.post(
    "/participants/{participant_id}/allocation", tags=["enrolment"], status_code=201,
    summary="Allocate her to an arm",
)  # fmt: skip
def api_allocate(
    study: StudyDep, actor: ApiActor, participant_id: int, body: AllocationBody
) -> AllocationAnswer:
    """An enrolled participant to an arm open to her, with its basis (investigator)."""
    allocation = AllocationInput(participant_id=participant_id, **body.given())
    return AllocationAnswer(allocation_id=allocate(study, actor, allocation))


class CycleBody(Body):
    cycle: Annotated[str, Field(max_length=32, description="The protocol's cycle id.")]
    start_date: JsonDate


class CycleAnswer(BaseModel):
    cycle_id: int


@api_router.post(
    "/participants/{participant_id}/cycles", tags=["therapy"], status_code=201,
    summary="Start one of her cycles",
)  # fmt: skip
def api_start_cycle(
    study: StudyDep, actor: ApiActor, participant_id: int, body: CycleBody
) -> CycleAnswer:
    """Day 1 of the protocol's cycle (cycles start in the protocol's order, once each)."""
    start = CycleStartInput(participant_id=participant_id, **body.given())
    return CycleAnswer(cycle_id=start_cycle(study, actor, start))


class MedicationBody(Body):
    regimen_id: Annotated[str, Field(max_length=32)]
    doses_taken: int
    first_day: JsonDate | None = None
    last_day: JsonDate | None = None
    taken_on: JsonDate | None = None
    days: int | None = None
    event_id: Code | None = None


class MedicationAnswer(BaseModel):
    medication_id: int


@api_router.post(
    "/participants/{participant_id}/medication", tags=["therapy"], status_code=201,
    summary="Record medication taken",
)  # fmt: skip
def api_record_medication(
    study: StudyDep, actor: ApiActor, participant_id: int, body: MedicationBody
) -> MedicationAnswer:
    """Doses of one of her arm's regimens taken over a period (first_day to last_day)."""
    medication = MedicationInput(participant_id=participant_id, **body.given())
    return MedicationAnswer(medication_id=record_medication(study, actor, medication))


class ProcedureBody(Body):
    procedure_date: JsonDate
    weight_kg: float | None = None
    viability_pct: float | None = None
    dose_given_cells: int | None = None
    release_results: dict[Code, Code | float] = Field(
        default_factory=dict, description="Each release test's result (text or number)."
    )
    pre_checks: dict[Code, Code] = Field(description="Each pre-check's coded result.")
    procedure_id: Annotated[str, Field(max_length=32)] | None = None
    cycle: Annotated[str, Field(max_length=32)] | None = None
    event_id: Code | None = None
    checklist: dict[Code, ShortText | bool | int | float | None] = Field(default_factory=dict)
    cell_lot: Code | None = None
    started_at: JsonMoment | None = None
    ended_at: JsonMoment | None = None
    complications: LongText | None = None
    override_reason: LongText | None = Field(
        default=None, description="An investigator's reason to accept a failed check."
    )


class ProcedureAnswer(BaseModel):
    procedure_id: int
    dose: DosePlan | None = Field(description="The dose computed (none: no cells in her arm).")
    overridden: bool
    problems: list[str] = Field(description="The failed checks an override accepted.")


@api_router.post(
    "/participants/{participant_id}/procedures", tags=["therapy"], status_code=201,
    summary="Record the procedure (the infusion)",
)  # fmt: skip
def api_record_procedure(
    study: StudyDep, actor: ApiActor, participant_id: int, body: ProcedureBody
) -> ProcedureAnswer:
    """With the dose her arm's rule computes. Safety checks fail closed; a failure the
    protocol lets an investigator accept needs her override with a reason."""
    procedure = ProcedureInput(participant_id=participant_id, **body.given())
    record = record_procedure(study, actor, procedure)
    return ProcedureAnswer(
        procedure_id=record.procedure_id, dose=record.plan, overridden=record.overridden,
        problems=list(record.problems),
    )  # fmt: skip


class ProcedureDryRun(DryRunAnswer):
    dose: DosePlan | None = Field(description="The dose her arm's rule computes.")
    problems: list[str] = Field(description="The checks that failed (pre-checks, release, dose).")
    needs_override: bool = Field(
        description="Refused until an investigator overrides, with a reason, every problem."
    )
    blocked: bool = Field(description="A problem no override may accept: it cannot go ahead.")
    overridden: bool = Field(description="Accepted only through the override given.")


@api_router.post(
    "/participants/{participant_id}/procedures/dry-run", tags=["therapy"],
    summary="The procedure's dose, checks and overrides, before anything is saved",
)  # fmt: skip
def api_procedure_dry_run(
    study: StudyDep, actor: ApiActor, language: LanguageDep, participant_id: int,
    body: ProcedureBody,
) -> ProcedureDryRun:  # fmt: skip
    """Runs the save's every check and rolls it back: the computed dose, the failed checks,
    whether an investigator's override is needed (or no override could accept them)."""
    procedure = ProcedureInput(participant_id=participant_id, **body.given())
    rehearsal = _rehearsed(dry_run(record_procedure, study, actor, procedure))
    return ProcedureDryRun(**_dry_run_fields(rehearsal, language), **_procedure_plan(rehearsal))


def _procedure_plan(rehearsal: DryRunResult[ProcedureRecord]) -> dict[str, Any]:
    record, refusal = rehearsal.result, rehearsal.refusal
    plan = record.plan if record is not None else rehearsal.notes.get(DOSE_PLAN_NOTE)
    code = refusal.code if refusal is not None else None
    if record is not None:
        problems = list(record.problems)
    elif refusal is not None and code in ("procedure.needs_override", "procedure.blocked"):
        problems = [str(text) for text in refusal.params.get("problems", ())]
    else:
        problems = []
    return {
        "dose": plan if isinstance(plan, DosePlan) else None,
        "problems": problems,
        "needs_override": code == "procedure.needs_override",
        "blocked": code == "procedure.blocked",
        "overridden": record is not None and record.overridden,
    }


class UltrasoundBody(Body):
    scan_date: JsonDate
    thickness_mm: float | None = Field(
        description="Maximal double-layer thickness (none: not seen)."
    )
    trilaminar: bool | None = None
    event_id: Code | None = None


class UltrasoundAnswer(BaseModel):
    ultrasound_id: int


@api_router.post(
    "/participants/{participant_id}/ultrasounds", tags=["clinical"], status_code=201,
    summary="Record an endometrial ultrasound",
)  # fmt: skip
def api_record_ultrasound(
    study: StudyDep, actor: ApiActor, participant_id: int, body: UltrasoundBody
) -> UltrasoundAnswer:
    """A thickness out of the usual range opens a query rather than being refused."""
    scan = UltrasoundInput(participant_id=participant_id, **body.given())
    return UltrasoundAnswer(ultrasound_id=record_ultrasound(study, actor, scan))


class UltrasoundCorrectionBody(Body):
    thickness_mm: float
    reason: LongText = Field(description="Why (kept in the audit trail).")


@api_router.post(
    "/ultrasounds/{scan_id}/correction", tags=["clinical"], status_code=204,
    summary="Correct a scan's thickness",
)  # fmt: skip
def api_correct_ultrasound(
    study: StudyDep, actor: ApiActor, scan_id: int, body: UltrasoundCorrectionBody
) -> None:
    """The old and new value and the reason are kept in the audit trail."""
    correct_ultrasound(study, actor, UltrasoundCorrection(scan_id=scan_id, **body.given()))


class TransferBody(Body):
    transfer_date: JsonDate
    embryo_grades: list[Annotated[str, Field(max_length=8)]] = Field(
        default_factory=list, max_length=6, description="Gardner grades, e.g. '4AB'."
    )
    embryo_day: int = 5
    cancel_reason: LongText | None = None
    event_id: Code | None = None


class TransferAnswer(BaseModel):
    transfer_id: int


@api_router.post(
    "/participants/{participant_id}/transfers", tags=["clinical"], status_code=201,
    summary="Record an embryo transfer (or its cancellation)",
)  # fmt: skip
def api_record_transfer(
    study: StudyDep, actor: ApiActor, participant_id: int, body: TransferBody
) -> TransferAnswer:
    """Graded blastocysts transferred, or a cancelled transfer with its reason."""
    transfer = TransferInput(participant_id=participant_id, **body.given())
    return TransferAnswer(transfer_id=record_transfer(study, actor, transfer))


class OutcomeBody(Body):
    beta_hcg_miu_ml: float | None = None
    beta_hcg_date: JsonDate | None = None
    ultrasound_date: JsonDate | None = None
    gestational_sacs: int | None = None
    ectopic: bool | None = None
    fetal_heartbeat_12_weeks: bool | None = None
    ongoing_date: JsonDate | None = None
    loss_date: JsonDate | None = None
    birth_date: JsonDate | None = None
    live_born_count: int | None = None
    beta_hcg_event_id: Code | None = None
    ultrasound_event_id: Code | None = None
    reason: LongText | None = Field(
        default=None, description="Why, when it changes facts already recorded."
    )


class DerivedOutcome(BaseModel):
    positive_hcg: bool | None
    clinical_pregnancy: bool | None
    biochemical_pregnancy: bool | None
    implantation_sacs: int | None
    embryos_transferred: int
    ectopic_pregnancy: bool | None
    miscarriage: bool | None
    ongoing_pregnancy: bool | None
    live_birth: bool | None


class OutcomeAnswer(BaseModel):
    transfer_id: int
    outcome: DerivedOutcome = Field(description="As the protocol's definitions derive it.")


@api_router.post(
    "/transfers/{transfer_id}/outcome", tags=["clinical"], status_code=201,
    summary="Record what followed a transfer",
)  # fmt: skip
def api_record_outcome(
    study: StudyDep, actor: ApiActor, transfer_id: int, body: OutcomeBody
) -> OutcomeAnswer:
    """The observed facts (β-hCG, sacs, heartbeat, loss, birth); the answer is the outcome the
    protocol derives from them. Changing facts already recorded needs a reason."""
    given = body.given()
    reason = given.pop("reason", None)
    facts = OutcomeInput(transfer_id=transfer_id, **given)
    derived = record_outcome(study, actor, facts, reason=reason)
    outcome = DerivedOutcome.model_validate(derived, from_attributes=True)
    return OutcomeAnswer(transfer_id=transfer_id, outcome=outcome)


class VisitBody(Body):
    event_id: Code
    visit_date: JsonDate
    attended: bool = True
    notes: LongText | None = None


class VisitAnswer(BaseModel):
    visit_id: int


@api_router.post(
    "/participants/{participant_id}/visits", tags=["clinical"], status_code=201,
    summary="Record a scheduled visit",
)  # fmt: skip
def api_record_visit(
    study: StudyDep, actor: ApiActor, participant_id: int, body: VisitBody
) -> VisitAnswer:
    """Held (or, attended false, found missed) on visit_date; once per event; one held
    outside its window opens a query."""
    visit = VisitInput(participant_id=participant_id, **body.given())
    return VisitAnswer(visit_id=record_visit(study, actor, visit))


class MeasurementBody(Body):
    event_id: Code = Field(description="Her schedule event at which the protocol asks for it.")
    item: Code = Field(description="The protocol's data item (its name carries its unit).")
    value: bool | int | float | ShortText = Field(
        description="A number, true/false, or one of the item's codes, as the item is typed."
    )
    measured_date: JsonDate
    notes: LongText | None = None


class MeasurementAnswer(BaseModel):
    measurement_id: int


@api_router.post(
    "/participants/{participant_id}/measurements", tags=["clinical"], status_code=201,
    summary="Record an outcome measure's value at a scheduled event",
)  # fmt: skip
def api_record_measurement(
    study: StudyDep, actor: ApiActor, participant_id: int, body: MeasurementBody
) -> MeasurementAnswer:
    """Typed and checked by its item (type, range, allowed values); once per item and event;
    a date outside the event's window opens a query."""
    measurement = MeasurementInput(participant_id=participant_id, **body.given())
    return MeasurementAnswer(measurement_id=record_measurement(study, actor, measurement))


class MeasurementCorrectionBody(Body):
    value: bool | int | float | ShortText
    reason: LongText = Field(description="Why (kept in the audit trail with the old value).")


@api_router.post(
    "/measurements/{measurement_id}/correction", tags=["clinical"], status_code=204,
    summary="Correct a measurement's value",
)  # fmt: skip
def api_correct_measurement(
    study: StudyDep, actor: ApiActor, measurement_id: int, body: MeasurementCorrectionBody
) -> None:
    correction = MeasurementCorrection(measurement_id=measurement_id, **body.given())
    correct_measurement(study, actor, correction)


# ------------------------------------------------------------------- deviations, withdrawal


class DeviationBody(Body):
    occurred_on: JsonDate
    category: Code
    description: LongText
    major: bool = False


class SiteDeviationBody(DeviationBody):
    site_id: int | None = Field(
        default=None, description="Her site (one of several of hers); none: the whole trial."
    )


class DeviationAnswer(BaseModel):
    deviation_id: int


@api_router.post(
    "/participants/{participant_id}/deviations", tags=["safety"], status_code=201,
    summary="Record a protocol deviation of a participant",
)  # fmt: skip
def api_record_deviation(
    study: StudyDep, actor: ApiActor, participant_id: int, body: DeviationBody
) -> DeviationAnswer:
    deviation = DeviationInput(participant_id=participant_id, **body.given())
    return DeviationAnswer(deviation_id=record_deviation(study, actor, deviation))


@api_router.post(
    "/deviations", tags=["safety"], status_code=201,
    summary="Record a protocol deviation of a site or of the trial",
)  # fmt: skip
def api_record_site_deviation(
    study: StudyDep, actor: ApiActor, body: SiteDeviationBody
) -> DeviationAnswer:
    """A site's team records its own site's; central staff also the whole trial's."""
    deviation = DeviationInput(**body.given())
    return DeviationAnswer(deviation_id=record_deviation(study, actor, deviation))


class WithdrawalBody(Body):
    withdrawn_on: JsonDate
    initiated_by: Literal["participant", "investigator", "sponsor"]
    reason: LongText
    data_use_allowed: bool = True


class WithdrawalAnswer(BaseModel):
    withdrawal_id: int


@api_router.post(
    "/participants/{participant_id}/withdrawal", tags=["safety"], status_code=201,
    summary="Withdraw her from the trial",
)  # fmt: skip
def api_withdraw(
    study: StudyDep, actor: ApiActor, participant_id: int, body: WithdrawalBody
) -> WithdrawalAnswer:
    """She still counts as enrolled for the analysis; data_use_allowed says whether her data
    collected so far may be used."""
    withdrawal = WithdrawalInput(participant_id=participant_id, **body.given())
    return WithdrawalAnswer(withdrawal_id=withdraw(study, actor, withdrawal))


# -------------------------------------------------------------------------------- dry runs

_KINDS: dict[str, type[ServiceError]] = {
    kind.__name__: kind
    for kind in (
        NotSignedIn, PermissionDenied, NotFoundError, LockedError, InvalidInput, RuleViolation,
        ServiceError,
    )
}  # fmt: skip
R = TypeVar("R")


def _rehearsed(rehearsal: DryRunResult[R]) -> DryRunResult[R]:
    """The dry run, unless it was refused because she may not ask: not signed in, her role may
    not do the operation, or the record is not hers to see: then the answer a save would get.
    (An override's own rule, that only an investigator overrides, is the dry run's answer.)"""
    refusal = rehearsal.refusal
    if refusal is not None and (
        refusal.kind in (NotSignedIn.__name__, NotFoundError.__name__)
        or (refusal.kind == PermissionDenied.__name__ and refusal.code == "auth.role")
    ):
        raise _error_of(refusal)
    return rehearsal


def _error_of(refusal: Refusal) -> EndotrialError:
    kind = _KINDS.get(refusal.kind)
    if kind is None or refusal.code not in MESSAGES:
        return EndotrialError(
            refusal.message, code=refusal.code, field=refusal.field, record=refusal.record,
            params=refusal.params,
        )  # fmt: skip
    return kind(refusal.code, field=refusal.field, record=refusal.record, **refusal.params)


def _dry_run_fields(rehearsal: DryRunResult[Any], language: str) -> dict[str, Any]:
    refusal = rehearsal.refusal
    return {
        "accepted": rehearsal.accepted,
        "refusal": None if refusal is None else problem_of(_error_of(refusal), language),
        "changes": [PlannedChangeView.model_validate(c) for c in rehearsal.changes],
        "queries": list(rehearsal.queries),
    }
