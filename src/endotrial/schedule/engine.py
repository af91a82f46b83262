"""One participant's calendar: the protocol's anchors, offsets and windows turned into dates.

The engine is a pure function of the protocol, the arm and the dates the site knows. Every dated
activity is a node hanging from one anchor by an offset in days; the root nodes (cycle starts the
site chooses) must be given, and any other node may be given too when it actually happened on
another day, so that everything after it moves with it. The protocol file lists visits and labs
under `schedule`; medication starts and stops, procedures, their pre-checks and the end of their
observation are derived from `regimens` and `procedures`, so they are written once in the file.
A procedure given in several cycles (`repeat_cycles`) is in each, with its own pre-checks and
observation there: the first keeps the procedure's event ids, a repeat's are `<id>@<cycle>`.
"""

from __future__ import annotations

import datetime as dt
import graphlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from endotrial.errors import InputError, ProtocolError
from endotrial.protocol.models import Arm, DrugRegimen, ProcedureSpec, Protocol, ScheduleEvent

Source = Literal["schedule", "regimen", "procedure", "pre_check", "observation"]
#: Where in the protocol file a node comes from (section, index, field...), for load errors.
Origin = tuple[str | int, ...]
#: A problem that keeps an arm's schedule from being built, with the field it comes from.
BuildProblem = tuple[Origin, str]
#: Joins a procedure's event id to a repeat cycle's id: `scaffold_placement@placement_2` (an
#: id in a protocol file may hold it too: a clash is refused when the schedule is built).
REPEAT_SEPARATOR = "@"


@dataclass(frozen=True)
class ScheduledEvent:
    """One dated activity of one participant.

    `date` is the actual date when `actual` is true, otherwise the target. The window
    (`earliest`..`latest`) is always around the planned date, so an actual date can be checked
    against it (`in_window`).
    """

    id: str
    label: str
    kind: str
    source: Source
    date: dt.date
    planned_date: dt.date
    earliest: dt.date
    latest: dt.date
    actual: bool
    anchor: str | None
    offset_days: int
    cycle: str | None = None
    cycle_day: int | None = None
    condition: str | None = None
    note: str | None = None

    @property
    def in_window(self) -> bool:
        return self.earliest <= self.date <= self.latest


@dataclass(frozen=True)
class Schedule:
    """The calendar of one participant in one arm, sorted by date."""

    protocol_id: str
    arm_id: str
    arm_label: str
    events: tuple[ScheduledEvent, ...]

    def __iter__(self) -> Iterator[ScheduledEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def event(self, event_id: str) -> ScheduledEvent:
        """The event with this id; an `InputError` names the known ids otherwise."""
        for event in self.events:
            if event.id == event_id:
                return event
        known = ", ".join(e.id for e in self.events)
        raise InputError(f"no event '{event_id}' in the schedule of arm '{self.arm_id}': {known}")


@dataclass(frozen=True)
class _Node:
    """An event before it has a date: what it hangs from and how far after."""

    id: str
    label: str
    kind: str
    source: Source
    anchor: str | None
    offset_days: int
    window_before_days: int = 0
    window_after_days: int = 0
    cycle: str | None = None
    condition: str | None = None
    note: str | None = None
    origin: Origin = ()


def build_schedule(protocol: Protocol, arm_id: str, anchors: Mapping[str, dt.date]) -> Schedule:
    """Date every event of `arm_id` from the given anchor dates (roots and any actual dates)."""
    arm = _arm(protocol, arm_id)
    nodes = _nodes(protocol, arm)
    given = _checked_anchors(nodes, anchors, arm_id)
    order = _order(nodes, arm_id)
    planned: dict[str, dt.date] = {}
    dates: dict[str, dt.date] = {}
    for node_id in order:
        node = nodes[node_id]
        if node.anchor is None:
            planned[node_id] = given[node_id]
        else:
            planned[node_id] = _shifted(dates[node.anchor], node.offset_days, node_id)
        dates[node_id] = given.get(node_id, planned[node_id])
    cycles = _cycle_membership(nodes, order)
    rank = {node_id: index for index, node_id in enumerate(order)}
    events = [
        _dated(protocol, nodes[i], dates, planned[i], i in given, cycles.get(i)) for i in order
    ]
    events.sort(key=lambda e: (e.date, rank[e.id]))
    return Schedule(protocol.protocol_id, arm.id, arm.label, tuple(events))


def _shifted(day: dt.date, days: int, event_id: str) -> dt.date:
    """`day` moved by `days`; a calendar past the dates Python can hold (years 1 to 9999) is a
    date given with a wrong year, refused rather than an OverflowError."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        edge = "after 9999-12-31" if days > 0 else "before 0001-01-01"
        raise InputError(
            f"event '{event_id}' would fall {edge} ({days:+d} days from {day.isoformat()}): "
            "check the year of the dates given"
        ) from None


def _arm(protocol: Protocol, arm_id: str) -> Arm:
    for arm in protocol.arms:
        if arm.id == arm_id:
            return arm
    known = ", ".join(a.id for a in protocol.arms)
    raise InputError(f"protocol {protocol.protocol_id} has no arm '{arm_id}': use one of {known}")


def _nodes(protocol: Protocol, arm: Arm) -> dict[str, _Node]:
    """Every event of the arm, listed or derived; a derived id clashing with another is refused."""
    nodes: dict[str, _Node] = {}
    for node in _candidates(protocol, arm):
        if node.id in nodes:
            raise ProtocolError(_clash(protocol, arm, nodes[node.id], node))
        nodes[node.id] = node
    return nodes


def _candidates(protocol: Protocol, arm: Arm) -> list[_Node]:
    regimens = {r.id: i for i, r in enumerate(protocol.regimens)}
    procedures = {p.id: i for i, p in enumerate(protocol.procedures)}
    return [
        *(
            _listed(protocol, e, i)
            for i, e in enumerate(protocol.schedule)
            if e.arms is None or arm.id in e.arms
        ),
        *(
            n
            for r in arm.regimens
            for n in _regimen_nodes(protocol, protocol.regimen(r), regimens[r])
        ),
        *(
            n
            for p in arm.procedures
            for n in _procedure_nodes(protocol, protocol.procedure(p), procedures[p])
        ),
    ]


def _what(node: _Node) -> str:
    what = {
        "schedule": "a schedule event",
        "regimen": "a regimen's start or stop",
        "procedure": "a procedure",
        "pre_check": "a procedure's pre-check",
        "observation": "a procedure's observation end",
    }[node.source]
    return f"{what} given again in a repeat cycle" if "repeat_cycles" in node.origin else what


def _clash(protocol: Protocol, arm: Arm, first: _Node, second: _Node) -> str:
    return (
        f"protocol {protocol.protocol_id}: two events of arm '{arm.id}' have the id "
        f"'{second.id}': {_what(first)} and {_what(second)} (the events of regimens, "
        "procedures, pre-checks and observations are derived from their ids, in a repeat "
        f"cycle as <id>{REPEAT_SEPARATOR}<cycle>), so the arm's schedule cannot be built: "
        "rename one in the file"
    )


def schedule_problems(protocol: Protocol) -> list[BuildProblem]:
    """What keeps the schedule of any arm from being built (two events with one id, an
    anchor outside the arm, a loop), each with the field of the file it comes from; the
    loader reports them. Expects a protocol whose references resolve (checked before)."""
    found: dict[Origin, str] = {}
    for arm in protocol.arms:
        for origin, message in _arm_problems(protocol, arm):
            found.setdefault(origin, message)
    return list(found.items())


def _arm_problems(protocol: Protocol, arm: Arm) -> list[BuildProblem]:
    nodes: dict[str, _Node] = {}
    problems: list[BuildProblem] = []
    for node in _candidates(protocol, arm):
        if node.id in nodes:
            problems.append((node.origin, _clash(protocol, arm, nodes[node.id], node)))
        else:
            nodes[node.id] = node
    if problems:
        return problems
    try:
        _order(nodes, arm.id)
    except ProtocolError as error:
        stray = next((n for n in nodes.values() if n.anchor and n.anchor not in nodes), None)
        origin = stray.origin if stray is not None else ("schedule",)
        problems.append((origin, f"arm '{arm.id}': {error}"))
    return problems


def _listed(protocol: Protocol, event: ScheduleEvent, index: int = 0) -> _Node:
    """A `schedule` event; `cycle` + `cycle_day` means the cycle's start + (day - 1)."""
    anchor, offset = event.anchor, event.offset_days
    if event.cycle is not None and event.cycle_day is not None:
        anchor, offset = protocol.cycle(event.cycle).start_event, event.cycle_day - 1
    starts = [c.id for c in protocol.cycles if c.start_event == event.id]
    return _Node(
        id=event.id,
        label=event.label,
        kind=event.kind,
        source="schedule",
        anchor=anchor,
        offset_days=offset,
        window_before_days=event.window_before_days,
        window_after_days=event.window_after_days,
        cycle=event.cycle or (starts[0] if starts else None),
        condition=event.condition,
        origin=("schedule", index, "id"),
    )


def _regimen_nodes(protocol: Protocol, regimen: DrugRegimen, index: int = 0) -> list[_Node]:
    """The first and last day of a drug, each a dated event the participant must be told:
    a cycle day counts from the cycle's start; an event-relative end follows its event."""
    start, stop = regimen.anchored_ends(protocol.cycle(regimen.cycle).start_event)
    what = f"{_lower_first(regimen.drug)} {regimen.dose:g} {regimen.unit} {regimen.frequency}"
    nodes = []
    for verb, point in (("Start", start), ("Stop", stop)):
        nodes.append(
            _Node(
                id=f"{regimen.id}_{verb.lower()}",
                label=f"{verb} {what}",
                kind="medication",
                source="regimen",
                anchor=point.anchor,
                offset_days=point.offset_days,
                cycle=regimen.cycle,
                note=regimen.note,
                origin=("regimens", index, "id"),
            )
        )
    return nodes


def procedure_event_id(procedure: ProcedureSpec, cycle: str, event_id: str | None = None) -> str:
    """The id of one of a procedure's events (the procedure itself by default, a pre-check, its
    observation end) in one of its cycles: as written in its first cycle, `<id>@<cycle>` in a
    repeat cycle, so the first administration keeps the ids records already name."""
    base = procedure.id if event_id is None else event_id
    return base if cycle == procedure.cycle else f"{base}{REPEAT_SEPARATOR}{cycle}"


def observation_event_id(procedure: ProcedureSpec, cycle: str | None = None) -> str:
    """The end of the procedure's observation, in `cycle` (default: its first)."""
    return procedure_event_id(
        procedure, cycle or procedure.cycle, f"{procedure.id}_observation_end"
    )


def _procedure_nodes(protocol: Protocol, procedure: ProcedureSpec, index: int = 0) -> list[_Node]:
    """The procedure on its cycle day in each cycle it is given in, each time with its
    pre-checks before it and its observation after it."""
    cycles = procedure.cycles_given()
    return [
        node
        for number, cycle in enumerate(cycles)
        for node in _administration_nodes(protocol, procedure, index, cycle, number)
    ]


def _administration_nodes(
    protocol: Protocol, procedure: ProcedureSpec, index: int, cycle: str, number: int
) -> list[_Node]:
    """One administration (`number` 0 is the first, in `procedure.cycle`)."""
    times = len(procedure.cycles_given())
    which = f"{number + 1} of {times}" if times > 1 else ""
    origin: Origin = (
        ("procedures", index, "id")
        if number == 0
        else ("procedures", index, "repeat_cycles", number - 1)
    )
    event_id = procedure_event_id(procedure, cycle)
    nodes = [
        _Node(
            id=event_id,
            label=f"{procedure.name} ({which})" if which else procedure.name,
            kind="procedure",
            source="procedure",
            anchor=protocol.cycle(cycle).start_event,
            offset_days=procedure.cycle_day - 1,
            window_before_days=procedure.window_before_days,
            window_after_days=procedure.window_after_days,
            cycle=cycle,
            note=procedure.frequency,
            origin=origin,
        )
    ]
    for check_number, check in enumerate(procedure.pre_checks):
        goes_ahead = f"{procedure.name} goes ahead only if {' or '.join(check.passes)}"
        nodes.append(
            _Node(
                id=procedure_event_id(procedure, cycle, check.id),
                label=f"{check.label} ({which})" if which else check.label,
                kind="pre_check",
                source="pre_check",
                anchor=event_id,
                offset_days=check.offset_days,
                cycle=cycle,
                note=goes_ahead,
                origin=(
                    ("procedures", index, "pre_checks", check_number, "id")
                    if number == 0
                    else origin
                ),
            )
        )
    if procedure.observation_hours > 0:
        nodes.append(_observation_node(procedure, index, cycle, which, origin))
    return nodes


def _observation_node(
    procedure: ProcedureSpec, index: int, cycle: str, which: str, origin: Origin
) -> _Node:
    """Observation ends whole days after the procedure; a part day may spill to the next date."""
    days, hours_left = divmod(procedure.observation_hours, 24)
    what = f"{procedure.name}, {which}" if which else procedure.name
    return _Node(
        id=observation_event_id(procedure, cycle),
        label=f"{procedure.observation_hours} h observation ends ({what})",
        kind="observation",
        source="observation",
        anchor=procedure_event_id(procedure, cycle),
        offset_days=days,
        window_after_days=1 if hours_left else 0,
        cycle=cycle,
        origin=("procedures", index, "observation_hours") if cycle == procedure.cycle else origin,
    )


def _lower_first(name: str) -> str:
    """'Estradiol valerate' → 'estradiol valerate', but 'hBMSC' and 'HRT' stay as written."""
    if len(name) > 1 and name[0].isupper() and name[1].islower():
        return name[0].lower() + name[1:]
    return name


def _checked_anchors(
    nodes: Mapping[str, _Node], anchors: Mapping[str, dt.date], arm_id: str
) -> dict[str, dt.date]:
    """The given dates, refused whole when one names no event or a root is missing."""
    unknown = sorted(set(anchors) - set(nodes))
    if unknown:
        raise InputError(
            f"dates given for {unknown}, which are not events of arm '{arm_id}': "
            f"give dates for events of this arm ({', '.join(sorted(nodes))})"
        )
    roots = [n.id for n in nodes.values() if n.anchor is None]
    missing = [r for r in roots if r not in anchors]
    if missing:
        labels = "; ".join(f"{r} ({nodes[r].label})" for r in missing)
        raise InputError(
            f"missing anchor date for {labels}: every other date of arm '{arm_id}' hangs from "
            f"it; give it (e.g. {missing[0]}=YYYY-MM-DD)"
        )
    return {k: v.date() if isinstance(v, dt.datetime) else v for k, v in anchors.items()}


def _order(nodes: Mapping[str, _Node], arm_id: str) -> list[str]:
    """Anchors before their dependents; an anchor outside the arm is a protocol error."""
    for node in nodes.values():
        if node.anchor is not None and node.anchor not in nodes:
            raise ProtocolError(
                f"event '{node.id}' of arm '{arm_id}' hangs from '{node.anchor}', which is not "
                f"part of that arm: restrict '{node.id}' to the arms of '{node.anchor}' "
                "(its `arms` field)"
            )
    graph = {n.id: {n.anchor} if n.anchor else set() for n in nodes.values()}
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:  # the loader refuses these; kept for built protocols
        raise ProtocolError(f"the schedule's anchors form a cycle: {error.args[1]}") from None


def _cycle_membership(nodes: Mapping[str, _Node], order: list[str]) -> dict[str, tuple[str, bool]]:
    """Event → (cycle, stated): stated in the file, else inherited from the anchor."""
    found: dict[str, tuple[str, bool]] = {}
    for node_id in order:
        node = nodes[node_id]
        if node.cycle is not None:
            found[node_id] = (node.cycle, True)
        elif node.anchor is not None and node.anchor in found:
            found[node_id] = (found[node.anchor][0], False)
    return found


def _dated(
    protocol: Protocol,
    node: _Node,
    dates: Mapping[str, dt.date],
    planned: dt.date,
    actual: bool,
    cycle: tuple[str, bool] | None,
) -> ScheduledEvent:
    date = dates[node.id]
    cycle_id, cycle_day = _cycle_day(protocol, dates, date, cycle)
    return ScheduledEvent(
        id=node.id,
        label=node.label,
        kind=node.kind,
        source=node.source,
        date=date,
        planned_date=planned,
        earliest=_shifted(planned, -node.window_before_days, node.id),
        latest=_shifted(planned, node.window_after_days, node.id),
        actual=actual,
        anchor=node.anchor,
        offset_days=node.offset_days,
        cycle=cycle_id,
        cycle_day=cycle_day,
        condition=node.condition,
        note=node.note,
    )


def _cycle_day(
    protocol: Protocol,
    dates: Mapping[str, dt.date],
    date: dt.date,
    cycle: tuple[str, bool] | None,
) -> tuple[str | None, int | None]:
    """Day 1 is the cycle's start date; an inherited cycle counts only within its length."""
    if cycle is None:
        return None, None
    cycle_id, stated = cycle
    spec = protocol.cycle(cycle_id)
    start = dates.get(spec.start_event)
    if start is None:
        return None, None
    day = (date - start).days + 1
    if stated or 1 <= day <= spec.length_days:
        return cycle_id, day
    return None, None
