"""The protocol file as typed, validated objects.

Everything specific to one trial lives here; the engines read these objects and know no trial
by name.
Values the registry does not state carry an `assumption` (its reason and, where there is one, the
source), so a reader can always tell a registry fact from a choice made for the engine.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from endotrial.errors import InputError

#: Longest id of a cycle, arm, regimen or procedure: the trial's database stores these ids.
ID_MAX_LENGTH = 32
#: The version of the protocol format this release writes and reads (docs/protocol-file.md).
FORMAT_VERSION = 2
#: Every format version this release reads.
READABLE_FORMAT_VERSIONS = (1, FORMAT_VERSION)


class Strict(BaseModel):
    """Base: unknown keys are errors, so a misspelt field never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Assumption(Strict):
    """A value the registry leaves open, chosen explicitly."""

    reason: str = Field(min_length=3)
    source: str | None = None


class Identity(Strict):
    nct_id: str = Field(pattern=r"^NCT\d{8}$")
    org_study_id: str
    brief_title: str
    official_title: str | None = None
    sponsor: str
    sponsor_class: str
    responsible_party: str | None = None
    overall_status: str
    phase: str
    study_type: str
    start_date: dt.date
    completion_date: dt.date
    last_updated: dt.date | None = None
    enrollment_target: int = Field(ge=0, description="0 for a trial withdrawn before enrolling")
    enrollment_type: Literal["ESTIMATED", "ACTUAL"] = "ESTIMATED"
    conditions: list[str] = []
    keywords: list[str] = []
    brief_summary: str
    related_trials: list[str] = []
    assumption: Assumption | None = Field(
        default=None, description="what the file sets that the registry copies do not give"
    )


class Design(Strict):
    allocation: str
    intervention_model: str
    primary_purpose: str
    masking: str
    sex: Literal["FEMALE", "MALE", "ALL"]
    minimum_age_years: int
    maximum_age_years: int
    healthy_volunteers: bool
    allocation_basis: str | None = None
    assumption: Assumption | None = None


class Objective(Strict):
    kind: Literal["primary", "secondary"]
    text: str


class CycleSpec(Strict):
    """A menstrual or treatment cycle; day 1 is its `start_event`."""

    id: str = Field(max_length=ID_MAX_LENGTH)
    label: str
    length_days: int = Field(gt=0, le=120)
    start_event: str
    assumption: Assumption | None = None


class EventOffset(Strict):
    """A day given relative to a schedule event (or a procedure): the event's date + offset."""

    anchor: str
    offset_days: int = 0


class DrugRegimen(Strict):
    """A drug taken from a first to a last day: each given either as a cycle day or relative
    to an event, so a drug can follow the transfer when the transfer moves."""

    id: str = Field(max_length=ID_MAX_LENGTH)
    drug: str
    dose: float = Field(gt=0)
    unit: str
    frequency: str
    doses_per_day: int = Field(gt=0)
    route: str = "oral"
    cycle: str
    first_day: int | None = Field(default=None, ge=1)
    last_day: int | None = Field(default=None, ge=1)
    starts: EventOffset | None = None
    stops: EventOffset | None = None
    note: str | None = None
    assumption: Assumption | None = None

    @model_validator(mode="after")
    def _one_start_one_stop(self) -> DrugRegimen:
        for day, event, name in (
            (self.first_day, self.starts, "first_day` or `starts"),
            (self.last_day, self.stops, "last_day` or `stops"),
        ):
            if (day is None) == (event is None):
                raise ValueError(f"give exactly one of `{name}`")
        if self.first_day and self.last_day and self.last_day < self.first_day:
            raise ValueError(f"last_day {self.last_day} is before first_day {self.first_day}")
        return self

    def anchored_ends(self, cycle_start_event: str) -> tuple[EventOffset, EventOffset]:
        """Start and stop as event + offset; cycle day d is the cycle's start event + (d - 1)."""

        def end(day: int | None, point: EventOffset | None) -> EventOffset:
            if day is not None:
                return EventOffset(anchor=cycle_start_event, offset_days=day - 1)
            assert point is not None  # the validator guarantees one of the two
            return point

        return end(self.first_day, self.starts), end(self.last_day, self.stops)

    def days_text(self) -> str:
        """'treatment cycle days 19-28', or 'transfer cycle, progesterone_start to ...'."""
        if self.first_day and self.last_day:
            return f"{self.cycle} cycle days {self.first_day}-{self.last_day}"
        start = f"day {self.first_day}" if self.first_day else _relative(self.starts)
        stop = f"day {self.last_day}" if self.last_day else _relative(self.stops)
        return f"{self.cycle} cycle, {start} to {stop}"


def _relative(point: EventOffset | None) -> str:
    if point is None:
        return "?"
    if point.offset_days == 0:
        return point.anchor
    return f"{point.anchor} {point.offset_days:+d} d"


class PreCheck(Strict):
    """A check done before a procedure, recorded as one of its coded `results`. The procedure
    goes ahead only on a result listed in `passes`: any other result, a missing one or a word
    not in `results` stops it (safety checks fail closed). `override_allowed` lets an
    investigator go ahead on a non-passing result, with a reason; leave it false for a check
    that guards safety (an allergy test)."""

    id: str
    label: str
    offset_days: int = Field(le=0, description="days before the procedure (0 = same day)")
    results: list[str] = Field(min_length=1)
    passes: list[str] = Field(min_length=1)
    override_allowed: bool = False

    @model_validator(mode="before")
    @classmethod
    def _no_blocking_word(cls, data: object) -> object:
        if isinstance(data, dict) and "blocks_procedure_if" in data:
            raise ValueError(
                "`blocks_procedure_if` is replaced by `results` (the coded results) and "
                "`passes` (those that let the procedure go ahead): a check blocks on every "
                "other result"
            )
        return data

    @model_validator(mode="after")
    def _passes_are_results(self) -> PreCheck:
        codes = [r.strip().casefold() for r in self.results]
        if len(set(codes)) != len(codes) or any(not c for c in codes):
            raise ValueError("`results` must be distinct, non-blank codes")
        unknown = [p for p in self.passes if p.strip().casefold() not in codes]
        if unknown:
            raise ValueError(f"`passes` {unknown} are not among the `results` {self.results}")
        return self

    def coded(self, given: str) -> str | None:
        """The result code `given` names (ignoring case and blanks), or None."""
        wanted = given.strip().casefold()
        return next((r for r in self.results if r.strip().casefold() == wanted), None)

    def passed(self, code: str) -> bool:
        return code.strip().casefold() in {p.strip().casefold() for p in self.passes}


class ProcedureStep(Strict):
    number: int
    name: str
    description: str


class ProcedureSpec(Strict):
    id: str = Field(max_length=ID_MAX_LENGTH)
    name: str
    description: str
    cycle: str
    cycle_day: int = Field(ge=1)
    window_before_days: int = Field(default=0, ge=0)
    window_after_days: int = Field(default=0, ge=0)
    pre_checks: list[PreCheck] = []
    steps: list[ProcedureStep]
    observation_hours: int = Field(ge=0)
    frequency: str
    dose_rule: str | None = None
    """The dose rule of its cells; none: no cells (an arm's `dose_rules` may say otherwise)."""
    repeat_cycles: list[str] = []
    """Further cycles it is given in again, once each on the same cycle day: the protocol
    gives it 1 + len(repeat_cycles) times, in `cycle` first."""
    assumption: Assumption | None = None

    @model_validator(mode="after")
    def _cycles_once_each(self) -> ProcedureSpec:
        cycles = self.cycles_given()
        if len(set(cycles)) != len(cycles):
            raise ValueError(f"`repeat_cycles` names a cycle twice or repeats `cycle`: {cycles}")
        return self

    def cycles_given(self) -> list[str]:
        """Every cycle it is given in, in order, once each."""
        return [self.cycle, *self.repeat_cycles]


class ReleaseCriterion(Strict):
    """One release test of the cell product, with its limit. A result outside the possible
    range (a percentage above 100, a negative count) is refused as a typing error.
    `override_allowed` names a failure an investigator may accept, with a reason; a test
    guarding safety (sterility, mycoplasma, endotoxin) leaves it false."""

    id: str
    label: str
    kind: Literal["minimum", "maximum", "equals"]
    value: float | str
    unit: str | None = None
    possible_min: float | None = None
    possible_max: float | None = None
    override_allowed: bool = False
    override_limit: float | None = None
    """With `override_allowed`, the result beyond which no override passes (a viability of
    1 % is no product to infuse, whatever the reason)."""
    assumption: Assumption | None = None

    @model_validator(mode="after")
    def _override_has_a_limit(self) -> ReleaseCriterion:
        if self.override_allowed and self.kind != "equals" and self.override_limit is None:
            raise ValueError(
                "`override_allowed` needs `override_limit`: the result beyond which no "
                "override passes"
            )
        if self.override_limit is not None and not isinstance(self.value, int | float):
            raise ValueError("`override_limit` is for a numeric limit")
        return self

    def possible_range(self) -> tuple[float, float | None]:
        """Lowest and highest possible result: a percentage lies in 0-100, any other
        measured quantity is not negative, unless the file says otherwise."""
        high = self.possible_max
        if high is None and self.unit == "%":
            high = 100.0
        return (0.0 if self.possible_min is None else self.possible_min), high


class DoseRule(Strict):
    """A cell dose delivered in a fixed volume, of one of two kinds: `per_kg` (cells per kg of
    body weight, for a weight in the rule's range, optionally capped) or `fixed` (`cells`
    whatever the weight; a weight range, if given, still bounds who may be dosed)."""

    id: str
    kind: Literal["per_kg", "fixed"] = "per_kg"
    product: str
    cells_per_kg: float | None = Field(default=None, gt=0)
    cells: float | None = Field(default=None, gt=0)
    volume_ml: float = Field(gt=0)
    weight_min_kg: float | None = Field(default=None, gt=0)
    weight_max_kg: float | None = Field(default=None, gt=0)
    max_total_cells: float | None = Field(default=None, gt=0)
    round_to_cells: float = Field(default=1.0, gt=0)
    tolerance_pct: float = Field(default=10.0, ge=0)
    #: Whether an investigator may record a dose outside the tolerance, with a reason...
    override_out_of_tolerance: bool = False
    #: ...but never beyond ± this percentage of the computed dose (nor above the cap).
    override_within_pct: float | None = Field(default=None, gt=0, le=100)
    release_criteria: list[ReleaseCriterion] = []
    assumption: Assumption | None = None

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> DoseRule:
        if self.kind == "per_kg":
            if self.cells is not None:
                raise ValueError(
                    "`cells` is a fixed dose: write `kind: fixed` (or give cells_per_kg)"
                )
            if None in (self.cells_per_kg, self.weight_min_kg, self.weight_max_kg):
                raise ValueError(
                    "a per_kg dose rule needs `cells_per_kg`, `weight_min_kg` and `weight_max_kg` "
                    "(for the same cells whatever the weight, write `kind: fixed` with `cells`)"
                )
        else:
            if self.cells is None or self.cells_per_kg is not None:
                raise ValueError("a fixed dose rule gives `cells` (not `cells_per_kg`)")
            if self.max_total_cells is not None:
                raise ValueError("a fixed dose has no cap: its `cells` is the dose")
            if (self.weight_min_kg is None) != (self.weight_max_kg is None):
                raise ValueError("give both `weight_min_kg` and `weight_max_kg`, or neither")
        return self

    @model_validator(mode="after")
    def _weight_range(self) -> DoseRule:
        low, high = self.weight_min_kg, self.weight_max_kg
        if low is not None and high is not None and high <= low:
            raise ValueError("weight_max_kg must be above weight_min_kg")
        if self.override_out_of_tolerance and self.override_within_pct is None:
            raise ValueError(
                "`override_out_of_tolerance` needs `override_within_pct`: how far from the "
                "computed dose an override may go"
            )
        return self


class Route(StrEnum):
    """How an intervention reaches its target (the registry's description, coded)."""

    oral = "oral"
    vaginal = "vaginal"
    transdermal = "transdermal"
    intravenous = "intravenous"
    intramuscular = "intramuscular"
    subcutaneous = "subcutaneous"
    intra_arterial = "intra_arterial"
    intrauterine_injection = "intrauterine_injection"
    intrauterine_scaffold = "intrauterine_scaffold"
    """Cells on a scaffold placed in the cavity (e.g. spread over a balloon left in place)."""
    intramyometrial = "intramyometrial"
    intraosseous = "intraosseous"


class Intervention(Strict):
    id: str
    type: str
    name: str
    description: str
    other_names: list[str] = []
    route: Route | None = None


class Arm(Strict):
    id: str = Field(max_length=ID_MAX_LENGTH)
    label: str
    type: str
    description: str
    interventions: list[str] = []
    regimens: list[str]
    procedures: list[str] = []
    dose_rules: dict[str, str | None] = {}
    """Procedure id → the dose rule this arm gives it (its dose group), in place of the
    procedure's own `dose_rule`; null: the procedure without cells (a vehicle control)."""

    @model_validator(mode="after")
    def _doses_of_its_procedures(self) -> Arm:
        stray = sorted(set(self.dose_rules) - set(self.procedures))
        if stray:
            raise ValueError(
                f"`dose_rules` names {stray}, not among the arm's procedures {self.procedures}"
            )
        return self


class ItemType(StrEnum):
    number = "number"
    integer = "integer"
    boolean = "boolean"
    date = "date"
    category = "category"


class DataItem(Strict):
    """A named screening or study variable; the name carries its unit."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: ItemType
    label: str
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    values: list[str] | None = None
    derived: str | None = Field(
        default=None, description="SQL expression computing the item when it is not given"
    )
    not_after_screening: bool = Field(
        default=False, description="a date that cannot lie after screening_date"
    )
    blank_means: str | None = None
    identifying: bool = Field(
        default=False,
        description="identifies the person (a birth date): sealed with her key, never stored "
        "in clear; derived values (her age) are kept instead",
    )
    assumption: Assumption | None = None

    @model_validator(mode="after")
    def _values_for_categories(self) -> DataItem:
        if self.type == ItemType.category and not self.values:
            raise ValueError("a category item needs its allowed `values`")
        if self.type != ItemType.category and self.values:
            raise ValueError("`values` is only for category items")
        return self


class Criterion(Strict):
    """One eligibility criterion, with its registry number and text kept as they are."""

    id: str
    kind: Literal["inclusion", "exclusion"]
    number: int | None = None
    text: str
    expression: str | None = None
    enforced_by: str | None = None
    arms: list[str] | None = Field(
        default=None, description="arms it applies to; none means the whole trial"
    )
    effect: str | None = None
    source: str = "registry"
    note: str | None = None
    assumption: Assumption | None = None

    @model_validator(mode="after")
    def _expression_or_enforcer(self) -> Criterion:
        if self.expression is None and self.enforced_by is None:
            raise ValueError("a criterion needs an `expression` or says what `enforced_by` it")
        return self


class CriterionGap(Strict):
    """A criterion number the registry's copies lack: flagged, never invented."""

    kind: Literal["inclusion", "exclusion"]
    number: int
    note: str


class EventRole(StrEnum):
    """What a schedule event is to the services, which find events by role, never by id."""

    embryo_transfer = "embryo_transfer"
    """The embryo transfer (kind `transfer`): a transfer record's date is its actual date."""
    beta_hcg_test = "beta_hcg_test"
    """The serum β-hCG test after the transfer (kind `lab`): a pregnancy outcome's β-hCG date
    is checked against its window."""
    pregnancy_scan = "pregnancy_scan"
    """The ultrasound counting gestational sacs (kind `ultrasound`): the clinical-pregnancy
    scan date of a pregnancy outcome is checked against its window."""


#: The event kind each role is recorded as (a transfer record fulfils a `transfer` event).
ROLE_KINDS: dict[EventRole, str] = {
    EventRole.embryo_transfer: "transfer",
    EventRole.beta_hcg_test: "lab",
    EventRole.pregnancy_scan: "ultrasound",
}


class ScheduleEvent(Strict):
    """A dated activity, anchored to another event (or given by the participant)."""

    id: str
    label: str
    kind: str
    role: EventRole | None = Field(
        default=None, description="what the event is to the services (see EventRole)"
    )
    anchor: str | None = Field(default=None, description="event id; none = a date the site gives")
    offset_days: int = 0
    cycle: str | None = None
    cycle_day: int | None = Field(default=None, ge=1)
    window_before_days: int = Field(default=0, ge=0)
    window_after_days: int = Field(default=0, ge=0)
    arms: list[str] | None = None
    condition: str | None = None
    assumption: Assumption | None = None

    @model_validator(mode="after")
    def _one_way_to_anchor(self) -> ScheduleEvent:
        if self.cycle_day is not None and (self.anchor is not None or self.cycle is None):
            raise ValueError("give either `cycle` with `cycle_day`, or `anchor` with `offset_days`")
        if self.cycle is not None and self.cycle_day is None:
            raise ValueError("`cycle` needs a `cycle_day`")
        return self


class Outcome(Strict):
    id: str
    kind: Literal["primary", "secondary"]
    title: str
    time_frame: str
    definition: str
    derivation: str
    source: str | None = None
    assumption: Assumption | None = None


class MeasureDerivation(StrEnum):
    """How an outcome is derived from a measurement taken at a schedule event."""

    value = "value"
    """The value recorded at the event (summarised per arm: mean and SD, or counts)."""
    change_from_baseline = "change_from_baseline"
    """The value at the event minus her value at `baseline_event` (a number item)."""
    meets_threshold = "meets_threshold"
    """Whether the value at the event meets `threshold` (summarised as a proportion)."""


class Threshold(Strict):
    """`value <comparison> threshold`, e.g. thickness >= 7 mm, or a niche == true."""

    comparison: Literal["<", "<=", ">", ">=", "==", "!="]
    value: float | str | bool


class OutcomeMeasure(Strict):
    """A measurement the protocol asks for at a schedule event (a data item: its type, unit,
    range and allowed values), and how an outcome is derived from it."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=ID_MAX_LENGTH)
    label: str
    outcome: str | None = Field(default=None, description="the `outcomes` entry it measures")
    item: str = Field(description="the data item measured")
    event: str = Field(description="the schedule event it is measured at")
    derivation: MeasureDerivation = MeasureDerivation.value
    baseline_event: str | None = Field(
        default=None, description="change_from_baseline: the event of her baseline value"
    )
    threshold: Threshold | None = Field(default=None, description="meets_threshold: the test")
    assumption: Assumption | None = None

    @model_validator(mode="after")
    def _derivation_has_what_it_needs(self) -> OutcomeMeasure:
        needs_baseline = self.derivation == MeasureDerivation.change_from_baseline
        if needs_baseline != (self.baseline_event is not None):
            raise ValueError(
                "`baseline_event` is given exactly when derivation is change_from_baseline"
            )
        needs_threshold = self.derivation == MeasureDerivation.meets_threshold
        if needs_threshold != (self.threshold is not None):
            raise ValueError("`threshold` is given exactly when derivation is meets_threshold")
        return self


class Setting(Strict):
    """A protocol-level parameter the engines read (thresholds, grading rules)."""

    value: float | int | str | bool
    unit: str | None = None
    label: str
    assumption: Assumption | None = None


class ExpectedAdverseEvent(Strict):
    term: str
    ctcae_term: str
    related_to: list[Literal["procedure", "cells", "hrt", "pregnancy"]]
    note: str | None = None


class Estimand(Strict):
    population: str
    treatment_condition: str
    variable: str
    intercurrent_events: dict[str, str]
    summary_measure: str


class AnalysisSet(Strict):
    """Who is analysed, as a rule: a true/false expression over her data items and the values
    the engine derives for every participant (`endotrial.protocol.analysis_values`)."""

    description: str
    rule: str = Field(description="expression over data items and participant values")
    arm: Literal["allocated", "received"] = Field(
        default="allocated",
        description="group by the arm she was allocated to, or by the treatment received",
    )


class AnalysisSets(Strict):
    full_analysis_set: AnalysisSet
    per_protocol: AnalysisSet
    safety: AnalysisSet


class Covariate(Strict):
    """A baseline covariate: a data item or participant value by name, or an expression."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    expression: str | None = Field(
        default=None, description="computes it from items and values; default: the same name"
    )
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, value: object) -> object:
        return {"name": value} if isinstance(value, str) else value


class AnalysisPlan(Strict):
    primary_estimand: Estimand
    primary_method: str
    alpha: float = Field(gt=0, lt=1)
    sidedness: Literal["one-sided", "two-sided"]
    covariates: list[Covariate] = []
    analysis_sets: AnalysisSets | None = None
    serious_ae_margin: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="excess of the serious-AE rate (experimental − control) the safety board "
        "is shown the posterior probability of",
    )
    assumption: Assumption | None = None


class Reference(Strict):
    id: str
    citation: str


class Protocol(Strict):
    """A whole trial protocol, as loaded from its file."""

    protocol_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    format_version: Literal[2]
    identity: Identity
    design: Design
    objectives: list[Objective]
    cycles: list[CycleSpec]
    interventions: list[Intervention] = []
    regimens: list[DrugRegimen]
    procedures: list[ProcedureSpec] = []
    dose_rules: list[DoseRule] = []
    arms: list[Arm] = Field(min_length=1)
    data_items: list[DataItem]
    criteria: list[Criterion]
    criteria_gaps: list[CriterionGap] = []
    schedule: list[ScheduleEvent]
    outcomes: list[Outcome]
    outcome_measures: list[OutcomeMeasure] = []
    settings: dict[str, Setting] = {}
    expected_adverse_events: list[ExpectedAdverseEvent] = []
    analysis_plan: AnalysisPlan
    references: list[Reference] = []

    # Look-ups the engines use: an id the file does not define is an InputError naming those
    # it does (a user typed it), never a bare StopIteration or KeyError.
    def item(self, name: str) -> DataItem:
        return _find(self, "data item", {i.name: i for i in self.data_items}, name)

    def arm(self, arm_id: str) -> Arm:
        return _find(self, "arm", {a.id: a for a in self.arms}, arm_id)

    def cycle(self, cycle_id: str) -> CycleSpec:
        return _find(self, "cycle", {c.id: c for c in self.cycles}, cycle_id)

    def regimen(self, regimen_id: str) -> DrugRegimen:
        return _find(self, "regimen", {r.id: r for r in self.regimens}, regimen_id)

    def procedure(self, procedure_id: str) -> ProcedureSpec:
        return _find(self, "procedure", {p.id: p for p in self.procedures}, procedure_id)

    def dose_rule(self, rule_id: str | None = None) -> DoseRule:
        """The named dose rule, or the only one when the protocol has a single rule."""
        if rule_id is None and len(self.dose_rules) == 1:
            return self.dose_rules[0]
        return _find(self, "dose rule", {r.id: r for r in self.dose_rules}, rule_id)

    def setting(self, name: str) -> Setting:
        return _find(self, "setting", self.settings, name)

    def role_event(self, role: EventRole, arm_id: str | None = None) -> str | None:
        """The id of the event with `role` (in `arm_id`'s schedule when given), or None."""
        return next(
            (
                e.id
                for e in self.schedule
                if e.role == role and (arm_id is None or e.arms is None or arm_id in e.arms)
            ),
            None,
        )


_T = TypeVar("_T")


def _find(protocol: Protocol, kind: str, entries: dict[str, _T], name: object) -> _T:
    found = entries.get(name) if isinstance(name, str) else None
    if found is None:
        raise InputError(
            f"protocol {protocol.protocol_id} has no {kind} '{name}': use one of {sorted(entries)}",
            code="protocol.unknown",
            params={"protocol": protocol.protocol_id, "kind": kind, "name": str(name)},
        )
    return found
