"""Her outcome measures: for each measure the protocol declares, the values recorded at its
events and the outcome derived from them (the value, her change from baseline, or whether the
threshold is met), or why there is none yet.

A measure is `derived` once every value it needs is recorded; otherwise its state follows the
first event still lacking a value on her timeline: `not_yet_due` (before its window), `due`
(inside it), `missing` (its window has passed), or `not_applicable` (an event her arm does not
have, or no longer expected after her withdrawal).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from endotrial.outcomes.measures import (
    MeasuredValue,
    derive_measure,
    measure_events,
    measure_item,
)
from endotrial.protocol.models import OutcomeMeasure, Protocol
from endotrial.services._common import readable_participant
from endotrial.services._input import as_id
from endotrial.services.context import Actor, Study, reading
from endotrial.services.measurements import stored_value
from endotrial.services.permissions import Operation
from endotrial.services.reads._records import Records, load_records
from endotrial.services.reads._scope import checked_date
from endotrial.services.reads.timeline import EventState, Timeline, build_timeline
from endotrial.store import Participant


class MeasureState(enum.StrEnum):
    DERIVED = "derived"
    NOT_YET_DUE = "not_yet_due"
    DUE = "due"
    MISSING = "missing"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class MeasuredAt:
    """Her value at one event a measure needs (None: not recorded)."""

    event_id: str
    value: MeasuredValue | None
    measured_on: dt.date | None
    record: str | None
    """The measurement ("measurements #4"), if recorded."""


@dataclass(frozen=True)
class MeasureView:
    """One outcome measure of hers: what it is, her values and the derived outcome."""

    measure_id: str
    label: str
    outcome_id: str | None
    item: str
    unit: str | None
    derivation: str
    """value, change_from_baseline or meets_threshold."""
    event_id: str
    baseline_event: str | None
    threshold: str | None
    """The test of a threshold measure, as text ('== true', '>= 7')."""
    values: tuple[MeasuredAt, ...]
    """Her value at each event the measure needs (baseline first)."""
    result: MeasuredValue | None
    """The value, her change from baseline, or whether the threshold is met; None until
    every value is recorded."""
    state: MeasureState


def outcome_measures(
    study: Study, actor: Actor, participant_id: int, *, on: dt.date | None = None
) -> tuple[MeasureView, ...]:
    """Her outcome measures as of `on` (default: today at her site), in the protocol's order;
    another site's participant is not found."""
    participant_id = as_id(participant_id, "participant_id")
    wanted = checked_date(on)
    with reading(study, actor, Operation.READ_PARTICIPANTS) as tx:
        participant = readable_participant(tx, participant_id)
        records = load_records(tx.session, [participant.id])[participant.id]
        day = wanted or tx.site_today(participant.site_id)
        return measure_views(tx.protocol, participant, records, day)


def measure_views(
    protocol: Protocol, participant: Participant, records: Records, on: dt.date
) -> tuple[MeasureView, ...]:
    """Her measures from her loaded records (no database access)."""
    timeline = build_timeline(protocol, participant, records, on)
    views: list[MeasureView] = []
    for measure in protocol.outcome_measures:
        rows = {
            m.event_id: m
            for m in records.measurements
            if m.item == measure.item and m.event_id in measure_events(measure)
        }
        recorded = {event: stored_value(row) for event, row in rows.items()}
        derived = derive_measure(measure, recorded)
        values = tuple(
            MeasuredAt(
                event, recorded.get(event),
                rows[event].measured_date if event in rows else None,
                f"measurements #{rows[event].id}" if event in rows else None,
            )
            for event in measure_events(measure)
        )  # fmt: skip
        state = _state(timeline, derived.missing, participant.arm, measure)
        views.append(_view(protocol, measure, values, derived.outcome, state))
    return tuple(views)


def _state(
    timeline: Timeline, missing: tuple[str, ...], arm: str | None, measure: OutcomeMeasure
) -> MeasureState:
    if not missing:
        return MeasureState.DERIVED
    events = {e.event_id: e for e in timeline.events}
    if arm is None or not timeline.events:
        return MeasureState.NOT_YET_DUE  # no arm, or her schedule cannot be dated yet
    states = []
    for event_id in missing:
        event = events.get(event_id)
        if event is None or event.state is EventState.NOT_APPLICABLE:
            return MeasureState.NOT_APPLICABLE
        if timeline.on > event.latest:
            states.append(MeasureState.MISSING)
        elif timeline.on >= event.earliest:
            states.append(MeasureState.DUE)
        else:
            states.append(MeasureState.NOT_YET_DUE)
    order = (MeasureState.MISSING, MeasureState.DUE, MeasureState.NOT_YET_DUE)
    return next(s for s in order if s in states)


def _view(
    protocol: Protocol,
    measure: OutcomeMeasure,
    values: tuple[MeasuredAt, ...],
    result: MeasuredValue | None,
    state: MeasureState,
) -> MeasureView:
    item = measure_item(protocol, measure)
    threshold = measure.threshold
    test = None
    if threshold is not None:
        shown = threshold.value
        test = f"{threshold.comparison} {str(shown).lower() if isinstance(shown, bool) else shown}"
    return MeasureView(
        measure.id, measure.label, measure.outcome, item.name, item.unit,
        measure.derivation.value, measure.event, measure.baseline_event, test, values, result,
        state,
    )  # fmt: skip
