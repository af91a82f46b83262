"""The values the engine derives for every participant, readable by the analysis plan's rules.

An analysis set's rule and a covariate's expression read these names beside the protocol's
data items (her screening values), with the same expression language as the criteria. Each
value is a column of the analysis dataset's `participants` table, computed by the build from
the store; `check_analysis_plan` refuses any other name at load, with its file line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from endotrial.protocol.expressions import (
    ITEM_VALUE_TYPES,
    NUMBER,
    ExpressionError,
    check_expression,
)
from endotrial.protocol.models import AnalysisSets, DataItem, ItemType, Protocol

Problem = tuple[tuple[str | int, ...], str]

_VALUES: tuple[tuple[str, ItemType, str], ...] = (
    ("allocated", ItemType.boolean, "Allocated to an arm"),
    ("started_treatment", ItemType.boolean, "Started the treatment cycle (its first day recorded)"),
    (
        "procedure_attempted",
        ItemType.boolean,
        "A procedure of her arm was attempted (e.g. the catheterisation for the infusion)",
    ),
    (
        "received_intervention",
        ItemType.boolean,
        "Received her arm's intervention (every procedure of the arm given; for an arm without "
        "procedures, started the treatment cycle)",
    ),
    ("transfer_done", ItemType.boolean, "An embryo transfer was done (not cancelled)"),
    ("transfer_cancelled", ItemType.boolean, "The planned embryo transfer was cancelled"),
    ("embryos_transferred", ItemType.integer, "Embryos transferred (0 when cancelled)"),
    ("major_deviation", ItemType.boolean, "At least one major protocol deviation recorded"),
    ("withdrawn", ItemType.boolean, "Withdrew from the trial"),
    ("lost_to_follow_up", ItemType.boolean, "Withdrawn before her primary outcome was known"),
    (
        "baseline_thickness_mm",
        ItemType.number,
        "Endometrial thickness before treatment (first scan of the first cycle)",
    ),
    ("thickness_mm", ItemType.number, "Endometrial thickness in the transfer cycle"),
    ("dose_cells", ItemType.number, "Cells infused"),
)

VALUE_NAMES = frozenset({name for name, _kind, _label in _VALUES} | {"arm"})


def participant_values(protocol: Protocol) -> dict[str, DataItem]:
    """Name → typed value of what the engine derives per participant (`arm`: her allocated
    arm, one of the protocol's arm ids)."""
    values = {name: DataItem(name=name, type=kind, label=label) for name, kind, label in _VALUES}
    values["arm"] = DataItem(
        name="arm",
        type=ItemType.category,
        label="Arm she was allocated to",
        values=[arm.id for arm in protocol.arms],
    )
    return values


def readable_names(protocol: Protocol) -> dict[str, DataItem]:
    """What the plan's expressions may read: the data items, then the participant values."""
    return {item.name: item for item in protocol.data_items} | participant_values(protocol)


def covariate_type(protocol: Protocol, name: str) -> ItemType:
    """The item type a covariate column is cast to (an expression's result type)."""
    plan = protocol.analysis_plan
    covariate = next(c for c in plan.covariates if c.name == name)
    names = readable_names(protocol)
    if covariate.expression is None:
        return names[name].type
    found = expression_type(covariate.expression, names)
    return {NUMBER: ItemType.number, "boolean": ItemType.boolean}.get(found, ItemType.category)


def expression_type(text: str, names: Mapping[str, DataItem]) -> str:
    for want in (NUMBER, "boolean", "text"):
        try:
            check_expression(text, names, want=want)
        except ExpressionError:
            continue
        return want
    raise ExpressionError(f"`{text}` is not a number, a condition or a text")


def check_analysis_plan(protocol: Protocol) -> Iterator[Problem]:
    """Every rule and covariate of the plan read known names and give the right type."""
    names = readable_names(protocol)
    plan = protocol.analysis_plan
    if plan.analysis_sets is not None:
        for field in AnalysisSets.model_fields:
            rule = getattr(plan.analysis_sets, field).rule
            problem = _expression_problem(protocol, names, rule, want="boolean")
            if problem:
                where = ("analysis_plan", "analysis_sets", field, "rule")
                yield where, f"analysis set {field}: {problem}"
    yield from _covariate_problems(protocol, names)


def _clashes(protocol: Protocol) -> set[str]:
    """Data items named like a participant value: the dataset keeps the item's screening value
    as `screening_<name>`, and the plan may not read the bare name, which would be ambiguous."""
    return {i.name for i in protocol.data_items} & VALUE_NAMES


def _expression_problem(
    protocol: Protocol, names: Mapping[str, DataItem], text: str, *, want: str | None
) -> str | None:
    try:
        checked = check_expression(text, names, want=want or expression_type(text, names))
    except ExpressionError as error:
        return _in_plan(error)
    for name in checked.items:
        if name in _clashes(protocol):
            return _ambiguous(name)
        if names[name].identifying:
            return _identifying(name)
    return None


def _covariate_problems(protocol: Protocol, names: Mapping[str, DataItem]) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, covariate in enumerate(protocol.analysis_plan.covariates):
        where = ("analysis_plan", "covariates", i)
        if covariate.name in seen:
            yield (*where, "name"), f"covariate {covariate.name} is listed twice"
        seen.add(covariate.name)
        if covariate.expression is not None:
            problem = _expression_problem(protocol, names, covariate.expression, want=None)
            if problem:
                yield (*where, "expression"), f"covariate {covariate.name}: {problem}"
        elif covariate.name in _clashes(protocol):
            yield (*where, "name"), f"covariate {_ambiguous(covariate.name)}"
        elif covariate.name not in names:
            yield (*where, "name"), _unknown_covariate(covariate.name)
        elif names[covariate.name].identifying:
            yield (*where, "name"), f"covariate {_identifying(covariate.name)}"


def _identifying(name: str) -> str:
    return (
        f"{name} identifies the person and never enters the analysis dataset: use what "
        "derives from it (e.g. age_years)"
    )


def _ambiguous(name: str) -> str:
    return (
        f"{name} is both a data item and a value the engine derives per participant: the plan "
        "cannot tell which is meant; rename the data item"
    )


def _unknown_covariate(name: str) -> str:
    return (
        f"covariate {name} is neither a data item nor a participant value: use a data item, "
        f"one of {sorted(VALUE_NAMES)}, or give an "
        "`expression`"
    )


def _in_plan(error: ExpressionError) -> str:
    """The expression checker speaks of criteria; here it reads items and participant values."""
    return str(error).replace(
        "a criterion may only read the candidate's data items",
        "the plan may only read data items and participant values",
    )


def value_types() -> dict[str, str]:
    """Value name → expression type (for documentation and the dataset contract's test)."""
    return {name: ITEM_VALUE_TYPES[kind] for name, kind, _label in _VALUES}
