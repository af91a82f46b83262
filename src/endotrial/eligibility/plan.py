"""What the engine reads from a protocol: criteria split by scope, their items, derived items.

The plan is built once per screening and knows no trial by name: trial-wide criteria decide
eligibility, arm-specific ones only narrow the arms, and criteria without an expression (consent)
are left for enrolment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from endotrial.protocol.expressions import (
    ITEM_VALUE_TYPES,
    CheckedExpression,
    check_expression,
    null_tested_items,
)
from endotrial.protocol.models import Criterion, DataItem, Protocol

REFERENCE_DATE_ITEM = "screening_date"
"""The item every time window is measured from (the protocol models name it the same way)."""


@dataclass(frozen=True)
class PlannedCriterion:
    """A criterion with its checked expression and the items it reads (derived ones included)."""

    criterion: Criterion
    expression: CheckedExpression
    null_tested: tuple[str, ...] = ()
    """The items whose NULL the criterion reads as a value (IS NULL, COALESCE, a CASE
    condition...), directly or through a derived item: a bad value there, made NULL, would be
    read as a blank, so it leaves the criterion UNKNOWN instead."""

    @property
    def id(self) -> str:
        return self.criterion.id

    @property
    def is_exclusion(self) -> bool:
        return self.criterion.kind == "exclusion"

    @property
    def arms(self) -> tuple[str, ...]:
        return tuple(self.criterion.arms or ())


@dataclass(frozen=True)
class ScreeningPlan:
    protocol_id: str
    items: tuple[DataItem, ...]
    derived: Mapping[str, CheckedExpression]
    trial_wide: tuple[PlannedCriterion, ...]
    arm_specific: tuple[PlannedCriterion, ...]
    to_confirm: tuple[Criterion, ...]
    arm_ids: tuple[str, ...]

    @property
    def item_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.items)

    def item(self, name: str) -> DataItem:
        return next(item for item in self.items if item.name == name)

    def missing_label(self, name: str) -> str:
        """How to name a missing item: a derived one also names the items that would supply it."""
        derived = self.derived.get(name)
        if derived is None:
            return name
        ordered = [item.name for item in self.items if item.name in derived.items]
        inputs = [i for i in ordered if i != REFERENCE_DATE_ITEM] or ordered
        return f"{name} (or {' + '.join(inputs)})"

    def inputs_of(self, name: str) -> tuple[str, ...]:
        derived = self.derived.get(name)
        return derived.items if derived is not None else ()

    def reads(self, criterion: PlannedCriterion, name: str) -> bool:
        """Whether a missing `name` can leave the criterion UNKNOWN (the reference date also
        through the derived items computed from it)."""
        used = criterion.expression.items
        if name in used:
            return True
        return name == REFERENCE_DATE_ITEM and any(name in self.inputs_of(u) for u in used)

    def stand_ins(self, criterion: PlannedCriterion) -> tuple[str, ...]:
        """Each derived item the criterion reads, with its inputs: where the item is also typed,
        the typed and the computed value stand in for each other when one is NULL, so a bad
        value among them (made NULL) would be read as a blank."""
        names = {
            n
            for u in criterion.expression.items
            if u in self.derived
            for n in (u, *self.inputs_of(u))
        }
        return tuple(item.name for item in self.items if item.name in names)

    def missing_labels(self, criterion: PlannedCriterion) -> tuple[str, ...]:
        """The labels of every item that, missing or bad, can leave `criterion` UNKNOWN."""
        forcing = {*criterion.null_tested, *self.stand_ins(criterion)}
        return tuple(
            self.missing_label(item.name)
            for item in self.items
            if self.reads(criterion, item.name) or item.name in forcing
        )

    def criterion(self, criterion_id: str) -> PlannedCriterion:
        return next(c for c in (*self.trial_wide, *self.arm_specific) if c.id == criterion_id)


#: Plans of the protocols seen in this process, by identity (a Protocol is frozen, so its plan
#: never goes stale). A form screening one candidate at a time would otherwise re-parse every
#: expression for each of them.
_PLANS: dict[int, tuple[Protocol, ScreeningPlan]] = {}
_PLANS_KEPT = 8


def build_plan(protocol: Protocol) -> ScreeningPlan:
    """The protocol's screening plan, built once per protocol object."""
    cached = _PLANS.get(id(protocol))
    if cached is not None and cached[0] is protocol:
        return cached[1]
    plan = _new_plan(protocol)
    if len(_PLANS) >= _PLANS_KEPT:
        _PLANS.pop(next(iter(_PLANS)))
    _PLANS[id(protocol)] = (protocol, plan)
    return plan


def _new_plan(protocol: Protocol) -> ScreeningPlan:
    """Check every expression again so the engine never runs an unchecked one."""
    items = {item.name: item for item in protocol.data_items}
    derived = {
        item.name: check_expression(item.derived, items, want=_result_type(item))
        for item in protocol.data_items
        if item.derived is not None
    }
    checked = [
        (c, check_expression(c.expression, items))
        for c in protocol.criteria
        if c.expression is not None
    ]
    planned = [PlannedCriterion(c, e, _null_tested(e, derived)) for c, e in checked]
    return ScreeningPlan(
        protocol_id=protocol.protocol_id,
        items=tuple(protocol.data_items),
        derived=derived,
        trial_wide=tuple(p for p in planned if not p.arms),
        arm_specific=tuple(p for p in planned if p.arms),
        to_confirm=tuple(c for c in protocol.criteria if c.expression is None),
        arm_ids=tuple(arm.id for arm in protocol.arms),
    )


def _null_tested(
    expression: CheckedExpression, derived: Mapping[str, CheckedExpression]
) -> tuple[str, ...]:
    """The criterion's own null-tested items; for each derived item it reads, the inputs its
    formula null-tests; and for a derived item it null-tests, all of that item's inputs (a bad
    input makes the computed value NULL, which the criterion would read as a blank)."""
    direct = set(null_tested_items(expression.tree))
    tested = set(direct)
    for name in expression.items:
        formula = derived.get(name)
        if formula is None:
            continue
        tested.update(null_tested_items(formula.tree))
        if name in direct:
            tested.update(formula.items)
    return tuple(sorted(tested))


def _result_type(item: DataItem) -> str:
    return ITEM_VALUE_TYPES[item.type]
