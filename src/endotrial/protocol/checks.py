"""Checks that span the protocol file: references, expressions, schedule anchors, regimen days.

Each problem is returned with the location of the field it comes from, so the loader can name
the line. Nothing here raises: the loader reports every problem at once.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Iterator
from typing import Any

from endotrial.protocol.analysis_values import check_analysis_plan
from endotrial.protocol.expressions import ITEM_VALUE_TYPES, ExpressionError, check_expression
from endotrial.protocol.models import (
    ROLE_KINDS,
    DataItem,
    EventOffset,
    EventRole,
    ItemType,
    MeasureDerivation,
    OutcomeMeasure,
    ProcedureSpec,
    Protocol,
    Threshold,
)
from endotrial.protocol.settings import setting_problems

Problem = tuple[tuple[str | int, ...], str]


def consistency_problems(protocol: Protocol) -> list[Problem]:
    problems = [
        *_inclusion_criteria(protocol),
        *_duplicate_ids(protocol),
        *_references(protocol),
        *_days_within_cycles(protocol),
        *_expressions(protocol),
        *_schedule_anchors(protocol),
        *_arm_anchors(protocol),
        *_regimen_order(protocol),
        *check_analysis_plan(protocol),
        *_roles(protocol),
        *setting_problems(protocol),
        *_outcome_measures(protocol),
    ]
    # Building each arm's schedule needs the references above to resolve.
    return problems or _schedule_builds(protocol)


def _schedule_builds(protocol: Protocol) -> list[Problem]:
    """Every arm's schedule can be built: the engine's own build, so what validates runs."""
    from endotrial.schedule.engine import schedule_problems  # the engine reads these models

    return schedule_problems(protocol)


def _roles(protocol: Protocol) -> Iterator[Problem]:
    """Each role on an event of its kind, once per arm; a transfer has its role, and the
    pregnancy test and scan that follow it are declared too (the services date them)."""
    transfer_kind = ROLE_KINDS[EventRole.embryo_transfer]
    for i, event in enumerate(protocol.schedule):
        if event.role is not None and event.kind != ROLE_KINDS[event.role]:
            yield (
                ("schedule", i, "kind"),
                (
                    f"event '{event.id}' has role {event.role.value}, which is an event of kind "
                    f"'{ROLE_KINDS[event.role]}', not '{event.kind}'"
                ),
            )
        if event.role is None and event.kind == transfer_kind:
            yield (
                ("schedule", i, "role"),
                (
                    f"event '{event.id}' is of kind '{transfer_kind}' but has no role: write "
                    f"`role: {EventRole.embryo_transfer.value}` (the services find the transfer by "
                    "its role)"
                ),
            )
    found: dict[tuple[str | int, ...], str] = {}
    for arm in protocol.arms:
        for location, message in _arm_roles(protocol, arm.id):
            found.setdefault(location, message)
    yield from found.items()


def _arm_roles(protocol: Protocol, arm_id: str) -> Iterator[Problem]:
    having: dict[EventRole, list[int]] = {}
    for i, event in enumerate(protocol.schedule):
        if event.role is not None and (event.arms is None or arm_id in event.arms):
            having.setdefault(event.role, []).append(i)
    for role, indexes in having.items():
        for i in indexes[1:]:
            first = protocol.schedule[indexes[0]].id
            yield (
                ("schedule", i, "role"),
                (
                    f"arm '{arm_id}' has two events with role {role.value} ('{first}' and "
                    f"'{protocol.schedule[i].id}'): give the role to one of them"
                ),
            )
    transfers = having.get(EventRole.embryo_transfer)
    if not transfers:
        return
    transfer = protocol.schedule[transfers[0]].id
    for role in (EventRole.beta_hcg_test, EventRole.pregnancy_scan):
        if role not in having:
            yield (
                ("schedule", transfers[0], "role"),
                (
                    f"arm '{arm_id}' has an embryo transfer ('{transfer}') but no event with "
                    f"`role: {role.value}` (an event of kind '{ROLE_KINDS[role]}'): declare it, so "
                    "a pregnancy outcome's date is checked against its window"
                ),
            )


def _inclusion_criteria(protocol: Protocol) -> Iterator[Problem]:
    """A protocol with no inclusion criterion would find every candidate eligible."""
    if not any(c.kind == "inclusion" for c in protocol.criteria):
        yield (
            ("criteria",),
            "the protocol has no inclusion criterion, so every candidate would be eligible: "
            "list the registry's inclusion criteria",
        )


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
        "outcome_measures": protocol.outcome_measures,
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
        for procedure_id, rule in arm.dose_rules.items():
            if rule is not None and rule not in rules:
                yield ("arms", i, "dose_rules", procedure_id), _missing("dose rule", rule, rules)
    for i, regimen in enumerate(protocol.regimens):
        if regimen.cycle not in cycles:
            yield ("regimens", i, "cycle"), _missing("cycle", regimen.cycle, cycles)
    for i, procedure in enumerate(protocol.procedures):
        if procedure.cycle not in cycles:
            yield ("procedures", i, "cycle"), _missing("cycle", procedure.cycle, cycles)
        if procedure.dose_rule is not None and procedure.dose_rule not in rules:
            yield ("procedures", i, "dose_rule"), _missing("dose rule", procedure.dose_rule, rules)
        for j, repeat in enumerate(procedure.repeat_cycles):
            if repeat not in cycles:
                yield ("procedures", i, "repeat_cycles", j), _missing("cycle", repeat, cycles)
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


def _administrations(protocol: Protocol) -> Iterator[tuple[ProcedureSpec, str, str]]:
    """(procedure, cycle, its event id) of every administration of every procedure: the
    procedure's own id in its first cycle, `<id>@<cycle>` in each repeat cycle (as the
    schedule engine names them), so an event may hang from the second placement."""
    from endotrial.schedule.engine import procedure_event_id  # the engine reads these models

    for procedure in protocol.procedures:
        for cycle in procedure.cycles_given():
            yield procedure, cycle, procedure_event_id(procedure, cycle)


def _schedule_anchors(protocol: Protocol) -> Iterator[Problem]:
    """Every anchor names an event (or a procedure's administration), and following anchors
    never loops."""
    events = {e.id: i for i, e in enumerate(protocol.schedule)}
    cycle_starts = {c.id: c.start_event for c in protocol.cycles}
    administrations = list(_administrations(protocol))
    anchorable = set(events) | {event_id for _, _, event_id in administrations}
    graph: dict[str, set[str]] = {
        event_id: {cycle_starts[cycle]}
        for _, cycle, event_id in administrations
        if cycle in cycle_starts
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


# Where each event hangs: an event (or procedure) id → (the event it is dated from, days after),
# or None for a root (a date the site gives). An id that is absent could not be placed (unknown
# cycle); the problems that cause that are reported by the checks above.
Parents = dict[str, tuple[str, int] | None]


def _parents(protocol: Protocol) -> Parents:
    """Cycle days count from the cycle's start event (day 1 = +0); procedures sit on their
    cycle day in each cycle they are given in; other events hang from their `anchor`. Each
    event has one anchor, so the planned schedule is a forest and every event lies a fixed
    number of days from its root."""
    cycle_starts = {c.id: c.start_event for c in protocol.cycles}
    parents: Parents = {}
    for procedure, cycle, event_id in _administrations(protocol):
        if cycle in cycle_starts:
            parents[event_id] = (cycle_starts[cycle], procedure.cycle_day - 1)
    for event in protocol.schedule:
        if event.cycle is not None:
            if event.cycle in cycle_starts and event.cycle_day is not None:
                parents[event.id] = (cycle_starts[event.cycle], event.cycle_day - 1)
        elif event.anchor is not None:
            parents[event.id] = (event.anchor, event.offset_days)
        else:
            parents[event.id] = None
    return parents


def _chain(parents: Parents, node: str) -> list[str]:
    """`node`, its anchor, that anchor's anchor... up to the root; an unknown anchor or a loop
    (both reported elsewhere) ends the chain before it."""
    chain = [node]
    while (parent := parents.get(chain[-1])) is not None:
        if parent[0] not in parents or parent[0] in chain:
            break
        chain.append(parent[0])
    return chain


def _position(parents: Parents, node: str) -> tuple[str, int] | None:
    """(root, days from the root) of `node`; None when its chain is broken or loops."""
    days = 0
    seen: set[str] = set()
    while node not in seen:
        seen.add(node)
        if node not in parents:
            return None
        parent = parents[node]
        if parent is None:
            return node, days
        node, days = parent[0], days + parent[1]
    return None


def _point_text(point: EventOffset) -> str:
    if point.offset_days == 0:
        return f"'{point.anchor}'"
    return f"'{point.anchor}' {point.offset_days:+d} d"


def _arm_anchors(protocol: Protocol) -> Iterator[Problem]:
    """An arm's schedule is built from its own events only: every event of an arm, and every
    start and stop of a regimen the arm lists, must hang (all the way up) from events of that
    arm. Otherwise the arm's schedule cannot be built."""
    parents = _parents(protocol)
    members = {
        arm.id: {e.id for e in protocol.schedule if e.arms is None or arm.id in e.arms}
        | {
            event_id
            for procedure, _, event_id in _administrations(protocol)
            if procedure.id in arm.procedures
        }
        for arm in protocol.arms
    }

    def owners(node: str) -> str:
        having = [arm for arm, events in members.items() if node in events]
        if not having:
            return "no arm has it"
        return (
            f"only arm '{having[0]}' has it" if len(having) == 1 else f"only arms {having} have it"
        )

    for i, event in enumerate(protocol.schedule):
        parent = parents.get(event.id)
        if parent is None or parent[0] not in parents:
            continue
        anchor = parent[0]
        lacking = [
            arm for arm, events in members.items() if event.id in events and anchor not in events
        ]
        if lacking:
            field = "cycle" if event.cycle is not None else "anchor"
            arms = f"arm '{lacking[0]}' does" if len(lacking) == 1 else f"arms {lacking} do"
            yield (
                ("schedule", i, field),
                f"event '{event.id}' hangs from '{anchor}', which {arms} not have "
                f"({owners(anchor)}): restrict '{event.id}' to the arms that have '{anchor}' "
                "(its `arms` field)",
            )

    cycle_starts = {c.id: c.start_event for c in protocol.cycles}
    for i, regimen in enumerate(protocol.regimens):
        if regimen.cycle not in cycle_starts:
            continue
        listing = [arm.id for arm in protocol.arms if regimen.id in arm.regimens]
        start, stop = regimen.anchored_ends(cycle_starts[regimen.cycle])
        ends = (
            ("starts", start, regimen.first_day, regimen.starts is not None),
            ("stops", stop, regimen.last_day, regimen.stops is not None),
        )
        for verb, point, day, anchored in ends:
            if point.anchor not in parents:
                continue  # an unknown anchor is reported by _regimen_anchors
            chain = _chain(parents, point.anchor)
            if anchored:
                location: tuple[str | int, ...] = ("regimens", i, verb, "anchor")
                what = f"{verb} from {_point_text(point)}"
            else:
                location = ("regimens", i, "first_day" if verb == "starts" else "last_day")
                what = f"{verb} on cycle day {day}, counted from '{point.anchor}'"
            for arm_id in listing:
                missing = next((n for n in chain if n not in members[arm_id]), None)
                if missing is None:
                    continue
                hangs = ""
                if missing != point.anchor:
                    path = " → ".join(chain[: chain.index(missing) + 1])
                    hangs = f", which hangs from '{missing}' ({path})"
                yield (
                    location,
                    f"regimen '{regimen.id}' {what}{hangs}, an event that arm '{arm_id}' does "
                    f"not have ({owners(missing)}), yet arm '{arm_id}' lists the regimen: anchor "
                    f"it to an event every arm listing it has, or give arm '{arm_id}' a regimen "
                    "of its own",
                )


def _regimen_order(protocol: Protocol) -> Iterator[Problem]:
    """A regimen stops on or after the day it starts, when both ends hang from the same root.

    (`last_day` before `first_day` is refused by the model itself.)"""
    parents = _parents(protocol)
    cycle_starts = {c.id: c.start_event for c in protocol.cycles}
    for i, regimen in enumerate(protocol.regimens):
        if regimen.cycle not in cycle_starts:
            continue
        start, stop = regimen.anchored_ends(cycle_starts[regimen.cycle])
        start_at = _position(parents, start.anchor)
        stop_at = _position(parents, stop.anchor)
        if start_at is None or stop_at is None or start_at[0] != stop_at[0]:
            continue  # not placed, or dated from different roots: no fixed order to check
        root = start_at[0]
        first, last = start_at[1] + start.offset_days, stop_at[1] + stop.offset_days
        if last >= first:
            continue
        start_text = _point_text(start) if regimen.starts else f"cycle day {regimen.first_day}"
        stop_text = _point_text(stop) if regimen.stops else f"cycle day {regimen.last_day}"
        gap = first - last
        yield (
            ("regimens", i, "stops" if regimen.stops else "last_day"),
            f"regimen '{regimen.id}' stops {gap} day{'s' if gap > 1 else ''} before it starts: "
            f"it starts at {start_text} ('{root}' {first:+d} d) and stops at {stop_text} "
            f"('{root}' {last:+d} d), so every dose would be refused; stop it on or after "
            "its start",
        )


#: The item types an outcome measure may measure (a date is not an outcome value).
MEASURABLE_TYPES = (ItemType.number, ItemType.integer, ItemType.boolean, ItemType.category)
_NUMBER_TYPES = (ItemType.number, ItemType.integer)


def _outcome_measures(protocol: Protocol) -> Iterator[Problem]:
    """Each measure names an entered item of a measurable type, events of the schedule (a
    baseline sharing an arm with its event), an outcome, and a threshold its item can meet."""
    items = {item.name: item for item in protocol.data_items}
    events = {e.id: e for e in protocol.schedule}
    outcomes = {o.id for o in protocol.outcomes}
    for i, measure in enumerate(protocol.outcome_measures):
        at = ("outcome_measures", i)
        who = f"outcome measure '{measure.id}' "
        item = items.get(measure.item)
        if item is None:
            yield (*at, "item"), who + _missing("data item", measure.item, items)
        else:
            yield from (((*at, "item"), who + p) for p in _item_problems(item))
        if measure.event not in events:
            yield (*at, "event"), who + _missing("schedule event", measure.event, events)
        if measure.outcome is not None and measure.outcome not in outcomes:
            yield (*at, "outcome"), who + _missing("outcome", measure.outcome, outcomes)
        yield from _baseline_problems(protocol, measure, item, at)
        if measure.threshold is not None and item is not None:
            problem = _threshold_problem(measure.threshold, item)
            if problem is not None:
                yield (*at, "threshold", "value"), who + problem


def _item_problems(item: DataItem) -> Iterator[str]:
    if item.type not in MEASURABLE_TYPES:
        kinds = ", ".join(t.value for t in MEASURABLE_TYPES)
        yield f"measures '{item.name}', a {item.type.value} item: measure a {kinds} item"
    if item.derived is not None:
        yield (
            f"measures '{item.name}', which is derived from other items: measure an item "
            "entered at the event"
        )
    if item.identifying:
        yield f"measures '{item.name}', which identifies the person: it is never recorded in clear"


def _baseline_problems(
    protocol: Protocol, measure: OutcomeMeasure, item: DataItem | None, at: tuple[str, int]
) -> Iterator[Problem]:
    if measure.derivation != MeasureDerivation.change_from_baseline:
        return
    who = f"outcome measure '{measure.id}' "
    if item is not None and item.type not in _NUMBER_TYPES:
        yield (
            (*at, "derivation"),
            who + f"is a change from baseline of '{item.name}', a {item.type.value} item: a "
            "change needs a number or integer item (use meets_threshold or value)",
        )
    baseline = measure.baseline_event or ""
    events = {e.id: e for e in protocol.schedule}
    if baseline not in events:
        yield (*at, "baseline_event"), who + _missing("schedule event", baseline, events)
        return
    if baseline == measure.event:
        yield (
            (*at, "baseline_event"),
            who + f"has baseline_event '{baseline}', its own event: a change is measured from "
            "an earlier event",
        )
        return
    event = events.get(measure.event)
    if event is None:
        return
    arms = {a.id for a in protocol.arms}
    both = set(event.arms or arms) & set(events[baseline].arms or arms)
    if not both:
        yield (
            (*at, "baseline_event"),
            who + f"has baseline_event '{baseline}' and event '{measure.event}', which no arm "
            "has both of: give a baseline event of the arms that have the event",
        )


def _threshold_problem(threshold: Threshold, item: DataItem) -> str | None:
    """A threshold its item's values can be compared with (None when it fits)."""
    value, comparison = threshold.value, threshold.comparison
    if item.type == ItemType.boolean:
        if not isinstance(value, bool) or comparison not in ("==", "!="):
            return (
                f"has threshold {comparison} {value!r} on '{item.name}', a boolean item: write "
                "`comparison: ==` (or !=) with `value: true` or `false`"
            )
    elif item.type == ItemType.category:
        values = item.values or []
        if not isinstance(value, str) or value not in values or comparison not in ("==", "!="):
            return (
                f"has threshold {comparison} {value!r} on '{item.name}', a category item: write "
                f"`comparison: ==` (or !=) with one of its values {values}"
            )
    elif item.type in _NUMBER_TYPES and isinstance(value, bool | str):
        return (
            f"has threshold {comparison} {value!r} on '{item.name}', a {item.type.value} item: "
            "give a number"
        )
    return None
