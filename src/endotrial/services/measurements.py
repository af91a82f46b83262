"""Measurements: the values the protocol's outcome measures ask for at schedule events
(thickness at 3 and 6 months, a niche present or absent, a pain score).

A measurement names her arm's schedule event and the data item measured there; the protocol
must ask for that item at that event (an outcome measure names it, as its event or as its
baseline). The value is typed and checked by its item (type, range, allowed values). Each item
is measured once per participant and event: a wrong value is corrected with a reason
(`correct_measurement`), and the audit trail keeps both. A date outside the event's window
opens a data query, as for a visit.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field
from sqlalchemy import select

from endotrial.outcomes.measures import (
    MeasuredValue,
    items_at,
    measurement_events,
    typed_value,
)
from endotrial.protocol.models import DataItem
from endotrial.services._common import (
    allocated_participant,
    arm_events,
    check_not_before_enrolment,
    check_study_dates,
    check_window,
    get_row,
    meaningful_reason,
)
from endotrial.services._input import Label, Name, OptionalText, RecordId, ServiceInput
from endotrial.services.context import Actor, Study, Tx, writing
from endotrial.services.errors import InvalidInput, RuleViolation
from endotrial.services.permissions import Operation
from endotrial.store import Measurement, Participant

EventId = Annotated[str, Field(min_length=1, max_length=64)]
#: A value as given: a number (number and integer items), true/false (boolean items) or one of
#: the item's codes (category items). Strict: a number given as text is refused.
GivenValue = bool | int | float | Label


class MeasurementInput(ServiceInput):
    """The value of `item` measured at her schedule event `event_id` on `measured_date`."""

    participant_id: RecordId
    event_id: EventId
    """Her arm's schedule event at which the protocol asks for `item` (e.g. 'scan_6m')."""
    item: Name
    """The protocol's data item (e.g. 'thickness_mm'; its name carries its unit)."""
    value: GivenValue
    measured_date: dt.date
    notes: OptionalText = None


class MeasurementCorrection(ServiceInput):
    """A new value or date (or both) for a recorded measurement, and why (said for the audit
    trail). Its event and item are what it is: a value recorded under the wrong ones is
    recorded again under the right ones, and this one queried."""

    measurement_id: RecordId
    value: GivenValue | None = None
    measured_date: dt.date | None = None
    reason: str


def record_measurement(study: Study, actor: Actor, measurement: MeasurementInput) -> int:
    """Record the value of an outcome measure's item at a scheduled event (once); a date
    outside the event's window opens a query."""
    with writing(study, actor, Operation.RECORD_MEASUREMENT) as tx:
        participant = allocated_participant(tx, measurement.participant_id)
        check_study_dates(tx, participant.site_id, measured_date=measurement.measured_date)
        check_not_before_enrolment(participant, "measured_date", measurement.measured_date)
        item = _asked_for(tx, participant, measurement.event_id, measurement.item)
        value = _typed(item, measurement.value, "value")
        _check_once(tx, participant, measurement.event_id, measurement.item)
        row = Measurement(
            participant_id=participant.id,
            event_id=measurement.event_id,
            item=measurement.item,
            measured_date=measurement.measured_date,
            notes=measurement.notes,
            **stored_columns(value),
        )
        tx.session.add(row)
        tx.session.flush()
        check_window(
            tx, participant, row, "measured_date", measurement.event_id, measurement.measured_date
        )
        return row.id


def correct_measurement(study: Study, actor: Actor, correction: MeasurementCorrection) -> None:
    """Correct a measurement's value or date (e.g. answering a query), checked as on entry; the
    reason is audited and the trail keeps the old values. A corrected date outside the event's
    window opens a query."""
    reason = meaningful_reason(correction.reason, "a correction")
    if correction.value is None and correction.measured_date is None:
        raise InvalidInput(
            "input.invalid", field="value", what="MeasurementCorrection",
            problems="give the corrected value, the corrected measured_date, or both",
        )  # fmt: skip
    with writing(study, actor, Operation.CORRECT_MEASUREMENT, reason=reason) as tx:
        row = get_row(tx.session, Measurement, correction.measurement_id)
        participant = allocated_participant(tx, row.participant_id, via=("measurements", row.id))
        changed = False
        if correction.value is not None:
            changed |= _correct_value(tx, row, correction.value)
        on = correction.measured_date
        if on is not None and on != row.measured_date:
            check_study_dates(tx, participant.site_id, measured_date=on)
            check_not_before_enrolment(participant, "measured_date", on)
            row.measured_date = on
            tx.session.flush()
            check_window(tx, participant, row, "measured_date", row.event_id, on)
            changed = True
        if not changed:
            field = "value" if correction.value is not None else "measured_date"
            raise RuleViolation(
                "correction.unchanged", field=field, kind="measurement", row_id=row.id,
                value=row.measured_date if field == "measured_date" else row.typed_value,
            )  # fmt: skip


def _correct_value(tx: Tx, row: Measurement, given: object) -> bool:
    """Set the value typed by its item; False when it is the value already stored."""
    item = next((i for i in tx.protocol.data_items if i.name == row.item), None)
    if item is None:  # the protocol no longer has the item: nothing to type the value by
        raise RuleViolation(
            "measurement.not_asked", field="measurement_id", item=row.item,
            event=row.event_id, asked=[],
        )  # fmt: skip
    value = _typed(item, given, "value")
    old = row.typed_value
    if value == old and type(value) is type(old):
        return False
    for column, new in stored_columns(value).items():
        setattr(row, column, new)
    return True


def stored_columns(value: MeasuredValue) -> dict[str, float | bool | str | None]:
    """The typed columns of a value: exactly one is set (a database check backs it)."""
    return {
        "value_number": value if isinstance(value, float) else None,
        "value_boolean": value if isinstance(value, bool) else None,
        "value_text": value if isinstance(value, str) else None,
    }


def stored_value(row: Measurement) -> MeasuredValue:
    """The value a measurement holds, typed as its item types it."""
    return row.typed_value


def _asked_for(tx: Tx, participant: Participant, event_id: str, item_name: str) -> DataItem:
    """Her arm's event, at which an outcome measure asks for `item_name`."""
    events = arm_events(tx.protocol, participant.arm or "")
    asking = [e for e in measurement_events(tx.protocol) if e in events]
    if event_id not in events:
        raise RuleViolation(
            "measurement.no_such_event", field="event_id", event=event_id, arm=participant.arm,
            study_id=participant.study_id, known=asking,
        )  # fmt: skip
    asked = items_at(tx.protocol, event_id)
    item = asked.get(item_name)
    if item is None:
        raise RuleViolation(
            "measurement.not_asked", field="item", item=item_name, event=event_id,
            asked=list(asked),
        )  # fmt: skip
    return item


def _typed(item: DataItem, value: object, field: str) -> MeasuredValue:
    try:
        return typed_value(item, value)
    except ValueError as error:
        raise InvalidInput(
            "input.invalid", field=field, what=f"the value of {item.name}", problems=str(error)
        ) from None


def _check_once(tx: Tx, participant: Participant, event_id: str, item: str) -> None:
    existing = tx.session.scalar(
        select(Measurement).where(
            Measurement.participant_id == participant.id,
            Measurement.event_id == event_id,
            Measurement.item == item,
        )
    )
    if existing is not None:
        raise RuleViolation(
            "measurement.already", field="item", item=item, event=event_id,
            study_id=participant.study_id, measured_date=existing.measured_date,
            row_id=existing.id,
        )  # fmt: skip
