"""Checks that span the protocol file: references, expressions, schedule anchors, regimen days.

Each problem is returned with the location of the field it comes from, so the loader can name
the line. Nothing here raises: the loader reports every problem at once.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Iterator
from typing import Any

from endotrial.protocol.expressions import ITEM_VALUE_TYPES, ExpressionError, check_expression
from endotrial.protocol.models import Protocol

Problem = tuple[tuple[str | int, ...], str]


def consistency_problems(protocol: Protocol) -> list[Problem]:
    return [
        *_duplicate_ids(protocol),
        *_references(protocol),
        *_days_within_cycles(protocol),
        *_expressions(protocol),
        *_schedule_anchors(protocol),
    ]


def _duplicate_ids(protocol: Protocol) -> Iterator[Problem]:
    sections: dict[str, Iterable[Any]] = {
        "cycles": protocol.cycles,
        "interventions": protocol.interventions,
        "regimens": protocol.regimens,
        "procedures": protocol.procedures,
        "dose_rules": protocol.dose_rules,
        "arms": protocol.arms,
        "criteria": protocol.criteria,
        "schedule": protocol.schedule,
        "outcomes": protocol.outcomes,
    }
    for section, entries in sections.items():
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            if entry.id in seen:
                yield (section, index, "id"), f"id '{entry.id}' is used twice in {section}"
            seen.add(entry.id)
    names: set[str] = set()
    for index, item in enumerate(protocol.data_items):
        if item.name in names:
            yield ("data_items", index, "name"), f"data item '{item.name}' is declared twice"
        names.add(item.name)


def _missing(kind: str, name: str, known: Iterable[str]) -> str:
    return f"names {kind} '{name}', which the file does not define (defined: {sorted(known)})"


def _references(protocol: Protocol) -> Iterator[Problem]:
    cycles = {c.id for c in protocol.cycles}
    regimens = {r.id for r in protocol.regimens}
    procedures = {p.id for p in protocol.procedures}
    interventions = {i.id for i in protocol.interventions}
    rules = {r.id for r in protocol.dose_rules}
    arms = {a.id for a in protocol.arms}
    events = {e.id for e in protocol.schedule}
    for i, arm in enumerate(protocol.arms):
        for field, wanted, known in (
            ("regimens", arm.regimens, regimens),
            ("procedures", arm.procedures, procedures),
            ("interventions", arm.interventions, interventions),
        ):
            for j, name in enumerate(wanted):
                if name not in known:
                    yield ("arms", i, field, j), _missing(field[:-1], name, known)
    for i, regimen in enumerate(protocol.regimens):
        if regimen.cycle not in cycles:
            yield ("regimens", i, "cycle"), _missing("cycle", regimen.cycle, cycles)
    for i, procedure in enumerate(protocol.procedures):
        if procedure.cycle not in cycles:
            yield ("procedures", i, "cycle"), _missing("cycle", procedure.cycle, cycles)
        if procedure.dose_rule is not None and procedure.dose_rule not in rules:
            yield ("procedures", i, "dose_rule"), _missing("dose rule", procedure.dose_rule, rules)
    for i, cycle in enumerate(protocol.cycles):
        if cycle.start_event not in events:
            yield ("cycles", i, "start_event"), _missing("event", cycle.start_event, events)
    for i, criterion in enumerate(protocol.criteria):
        for j, arm_id in enumerate(criterion.arms or []):
            if arm_id not in arms:
                yield ("criteria", i, "arms", j), _missing("arm", arm_id, arms)
    for i, event in enumerate(protocol.schedule):
        for j, arm_id in enumerate(event.arms or []):
            if arm_id not in arms:
                yield ("schedule", i, "arms", j), _missing("arm", arm_id, arms)
        if event.cycle is not None and event.cycle not in cycles:
            yield ("schedule", i, "cycle"), _missing("cycle", event.cycle, cycles)


def _days_within_cycles(protocol: Protocol) -> Iterator[Problem]:
    lengths = {c.id: c.length_days for c in protocol.cycles}
    for i, regimen in enumerate(protocol.regimens):
        length = lengths.get(regimen.cycle)
        if length is not None and regimen.last_day is not None and regimen.last_day > length:
            yield (
                ("regimens", i, "last_day"),
                f"day {regimen.last_day} falls outside cycle '{regimen.cycle}', "
                f"which lasts {length} days",
            )
    for i, procedure in enumerate(protocol.procedures):
        length = lengths.get(procedure.cycle)
        if length is not None and procedure.cycle_day > length:
            yield (
                ("procedures", i, "cycle_day"),
                f"day {procedure.cycle_day} falls outside cycle '{procedure.cycle}' "
                f"({length} days)",
            )
    for i, event in enumerate(protocol.schedule):
        length = lengths.get(event.cycle or "")
        if length is not None and event.cycle_day is not None and event.cycle_day > length:
            yield (
                ("schedule", i, "cycle_day"),
                f"day {event.cycle_day} falls outside cycle '{event.cycle}' ({length} days)",
            )


def _regimen_anchors(protocol: Protocol, anchorable: set[str]) -> Iterator[Problem]:
    """A drug started or stopped relative to an event names an event that exists."""
    for i, regimen in enumerate(protocol.regimens):
        for field, point in (("starts", regimen.starts), ("stops", regimen.stops)):
            if point is not None and point.anchor not in anchorable:
                message = f"regimen '{regimen.id}' " + _missing(
                    "anchor event", point.anchor, anchorable
                )
                yield ("regimens", i, field, "anchor"), message


def _expressions(protocol: Protocol) -> Iterator[Problem]:
    items = {item.name: item for item in protocol.data_items}
    for i, criterion in enumerate(protocol.criteria):
        if criterion.expression is None:
            continue
        try:
            check_expression(criterion.expression, items)
        except ExpressionError as error:
            yield ("criteria", i, "expression"), f"criterion {criterion.id}: {error}"
    for i, item in enumerate(protocol.data_items):
        if item.derived is None:
            continue
        try:
            checked = check_expression(item.derived, items, want=ITEM_VALUE_TYPES[item.type])
        except ExpressionError as error:
            yield ("data_items", i, "derived"), f"derived item {item.name}: {error}"
            continue
        derived_inputs = [n for n in checked.items if items[n].derived is not None]
        if derived_inputs:
            yield (
                ("data_items", i, "derived"),
                f"derived item {item.name} reads other derived items {derived_inputs}: "
                "derive it from given items only",
            )


def _schedule_anchors(protocol: Protocol) -> Iterator[Problem]:
    """Every anchor names an event (or a procedure), and following anchors never loops."""
    events = {e.id: i for i, e in enumerate(protocol.schedule)}
    anchorable = set(events) | {p.id for p in protocol.procedures}
    cycle_starts = {c.id: c.start_event for c in protocol.cycles}
    graph: dict[str, set[str]] = {
        p.id: {cycle_starts[p.cycle]} for p in protocol.procedures if p.cycle in cycle_starts
    }
    for i, event in enumerate(protocol.schedule):
        anchor = cycle_starts.get(event.cycle) if event.cycle is not None else event.anchor
        if anchor is None:
            continue
        if anchor not in anchorable:
            message = f"event '{event.id}' " + _missing("anchor event", anchor, anchorable)
            yield ("schedule", i, "anchor"), message
            continue
        graph[event.id] = {anchor}
    yield from _regimen_anchors(protocol, anchorable)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        loop = list(error.args[1])
        first = next((n for n in loop if n in events), loop[0])
        yield (
            ("schedule", events.get(first, 0), "anchor"),
            "the schedule's anchors form a cycle: " + " → ".join(loop) + "; anchor one of these "
            "events to a date outside the loop",
        )
