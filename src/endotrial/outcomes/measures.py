"""Outcome measures: values of a data item taken at schedule events, and the outcome derived
from them (the value, its change from baseline, or whether it meets a threshold).

Pure functions of the protocol and recorded values, shared by the service that records a
measurement (what the protocol asks for at an event, whether a value fits its item), the read
that shows a participant's measures, the schedule printout and the analysis dataset.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from endotrial.protocol.models import (
    DataItem,
    ItemType,
    MeasureDerivation,
    OutcomeMeasure,
    Protocol,
    Threshold,
)

#: A measured value as its item types it: a number (number and integer items), a yes/no
#: (boolean items) or a code (category items).
MeasuredValue = float | bool | str

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def measure_events(measure: OutcomeMeasure) -> tuple[str, ...]:
    """The events a measure needs a value at: its baseline (for a change) and its event."""
    if measure.baseline_event is not None:
        return (measure.baseline_event, measure.event)
    return (measure.event,)


def measures_at(protocol: Protocol, event_id: str) -> list[OutcomeMeasure]:
    """The measures that need a value at `event_id` (as their event or their baseline)."""
    return [m for m in protocol.outcome_measures if event_id in measure_events(m)]


def items_at(protocol: Protocol, event_id: str) -> dict[str, DataItem]:
    """The data items the protocol asks to be measured at `event_id`, by name (in the order of
    the protocol's measures)."""
    items = {item.name: item for item in protocol.data_items}
    asked: dict[str, DataItem] = {}
    for measure in measures_at(protocol, event_id):
        if measure.item in items:
            asked.setdefault(measure.item, items[measure.item])
    return asked


def measurement_events(protocol: Protocol) -> list[str]:
    """Every event at which the protocol asks for a measurement, in the order first named."""
    events: dict[str, None] = {}
    for measure in protocol.outcome_measures:
        events.update(dict.fromkeys(measure_events(measure)))
    return list(events)


def measure_item(protocol: Protocol, measure: OutcomeMeasure) -> DataItem:
    """The data item a measure measures (the protocol's checks make sure it exists)."""
    return next(item for item in protocol.data_items if item.name == measure.item)


def typed_value(item: DataItem, value: object) -> MeasuredValue:
    """`value` as `item` types it, in its range and among its allowed values; a ValueError
    saying what to give otherwise."""
    if item.type in (ItemType.number, ItemType.integer):
        return _number(item, value)
    if item.type == ItemType.boolean:
        if not isinstance(value, bool):
            raise ValueError(f"'{item.name}' is yes/no: give true or false (given {value!r:.40})")
        return value
    if item.type == ItemType.category:
        allowed = item.values or []
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"'{item.name}' is one of {allowed} (given {value!r:.40})")
        return value
    raise ValueError(f"'{item.name}' is a {item.type.value} item, not a measurement")


def _number(item: DataItem, value: object) -> float:
    unit = f" {item.unit}" if item.unit else ""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"'{item.name}' is a number{unit} (given {value!r:.40})")
    if item.type == ItemType.integer and not float(value).is_integer():
        raise ValueError(f"'{item.name}' is a whole number{unit} (given {value!r:.40})")
    low = item.minimum if item.minimum is not None else -math.inf
    high = item.maximum if item.maximum is not None else math.inf
    if not low <= value <= high:
        raise ValueError(
            f"'{item.name}' {value:g}{unit} is outside its range {_range(item)}: check the value"
        )
    return float(value)


def _range(item: DataItem) -> str:
    low = f"{item.minimum:g}" if item.minimum is not None else "-∞"
    high = f"{item.maximum:g}" if item.maximum is not None else "∞"
    return f"{low} to {high}" + (f" {item.unit}" if item.unit else "")


def meets(threshold: Threshold, value: MeasuredValue) -> bool:
    """Whether `value` meets `threshold` (the protocol's checks make the types fit)."""
    target = threshold.value
    if isinstance(value, bool) or isinstance(target, bool | str):
        return _COMPARE[threshold.comparison](value, target)
    return _COMPARE[threshold.comparison](float(value), float(target))


@dataclass(frozen=True)
class DerivedMeasure:
    """A measure's outcome for one participant: the value(s) at its events and what is derived.

    `outcome` is the value at the event (value), her change from baseline (a number), or
    whether the value meets the threshold (True/False); None while a value is missing."""

    measure_id: str
    derivation: MeasureDerivation
    values: Mapping[str, MeasuredValue | None]
    """The value recorded at each event the measure needs (None: not recorded)."""
    outcome: MeasuredValue | None
    missing: tuple[str, ...]
    """The events whose value is not recorded."""


def derive_measure(
    measure: OutcomeMeasure, recorded: Mapping[str, MeasuredValue]
) -> DerivedMeasure:
    """Her outcome on `measure` from her values at its events (`recorded`: event → value)."""
    events = measure_events(measure)
    values = {event: recorded.get(event) for event in events}
    missing = tuple(event for event, value in values.items() if value is None)
    outcome: MeasuredValue | None = None
    at_event = values[measure.event]
    if not missing and at_event is not None:
        outcome = _outcome(measure, at_event, values)
    return DerivedMeasure(measure.id, measure.derivation, values, outcome, missing)


def _outcome(
    measure: OutcomeMeasure,
    at_event: MeasuredValue,
    values: Mapping[str, MeasuredValue | None],
) -> MeasuredValue:
    if measure.derivation == MeasureDerivation.change_from_baseline:
        baseline = values[measure.baseline_event or ""]
        if isinstance(at_event, bool | str) or isinstance(baseline, bool | str) or baseline is None:
            raise ValueError(f"measure '{measure.id}': a change needs numbers")
        return at_event - baseline
    if measure.derivation == MeasureDerivation.meets_threshold and measure.threshold is not None:
        return meets(measure.threshold, at_event)
    return at_event


def measures_to_take(protocol: Protocol) -> dict[str, tuple[str, ...]]:
    """For each event where the protocol asks for measurements, what to measure there, as a
    person reads it: the item with its unit or its values ('thickness_mm (mm)',
    'niche_present (yes/no)'). What the schedule printout shows under the event."""
    shown: dict[str, tuple[str, ...]] = {}
    for event_id in measurement_events(protocol):
        shown[event_id] = tuple(_described(item) for item in items_at(protocol, event_id).values())
    return shown


def _described(item: DataItem) -> str:
    if item.type == ItemType.boolean:
        return f"{item.name} (yes/no)"
    if item.type == ItemType.category:
        return f"{item.name} ({'/'.join(item.values or [])})"
    if item.unit:
        return f"{item.name} ({item.unit})"
    if item.minimum is not None and item.maximum is not None:
        return f"{item.name} ({item.minimum:g}-{item.maximum:g})"
    return item.name
