"""Scheduled visits no other record fulfils: a safety visit after the procedure, the pregnancy
follow-ups. Without a record of them her timeline would show them overdue for ever.

A visit names its schedule event (one per participant and event); one she did not attend is
recorded with `attended` False (the timeline shows it `missed`, not overdue).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field
from sqlalchemy import select

from endotrial.services._common import (
    allocated_participant,
    arm_events,
    check_not_before_enrolment,
    check_study_dates,
    check_window,
)
from endotrial.services._input import OptionalText, RecordId, ServiceInput
from endotrial.services.context import Actor, Study, Tx, writing
from endotrial.services.errors import RuleViolation
from endotrial.services.permissions import Operation
from endotrial.store import Participant, Visit

#: The schedule event kinds a visit record fulfils: those no other service records.
VISIT_KINDS = ("visit", "follow_up")
#: The service that records each other kind of schedule event (what a refusal points to).
RECORDED_BY = {
    "ultrasound": "record_ultrasound (a pregnancy scan: record_outcome)",
    "transfer": "record_transfer",
    "procedure": "record_procedure",
    "pre_check": "record_procedure (its pre-checks)",
    "observation": "record_procedure (its observation)",
    "medication": "record_medication",
    "cycle_start": "start_cycle",
    "anchor": "start_cycle",
    "lab": "record_outcome (the beta-hCG)",
}
EventId = Annotated[str, Field(min_length=1, max_length=64)]


class VisitInput(ServiceInput):
    """A scheduled visit held on `visit_date`, or (attended False) found missed that day."""

    participant_id: RecordId
    event_id: EventId
    """Her arm's schedule event of kind 'visit' or 'follow_up' (e.g. 'post_procedure_visit')."""
    visit_date: dt.date
    attended: bool = True
    notes: OptionalText = None


def record_visit(study: Study, actor: Actor, visit: VisitInput) -> int:
    """Record a scheduled visit (once per event); one held outside its window opens a query."""
    with writing(study, actor, Operation.RECORD_VISIT) as tx:
        participant = allocated_participant(tx, visit.participant_id)
        check_study_dates(tx, participant.site_id, visit_date=visit.visit_date)
        check_not_before_enrolment(participant, "visit_date", visit.visit_date)
        _check_event(tx, participant, visit.event_id)
        _check_once(tx, participant, visit.event_id)
        row = Visit(
            participant_id=participant.id,
            event_id=visit.event_id,
            visit_date=visit.visit_date,
            attended=visit.attended,
            notes=visit.notes,
        )
        tx.session.add(row)
        tx.session.flush()
        if visit.attended:  # a missed visit has no date to be in its window
            check_window(tx, participant, row, "visit_date", visit.event_id, visit.visit_date)
        return row.id


def _check_event(tx: Tx, participant: Participant, event_id: str) -> None:
    """Her arm's event of a kind only a visit records; another kind names its service."""
    events = arm_events(tx.protocol, participant.arm or "")
    kind = events.get(event_id)
    if kind is None:
        raise RuleViolation(
            "visit.no_such_event", field="event_id", event=event_id, arm=participant.arm,
            study_id=participant.study_id, known=visit_events(events),
        )  # fmt: skip
    if kind not in VISIT_KINDS:
        raise RuleViolation(
            "visit.recorded_elsewhere", field="event_id", event=event_id, kind=kind,
            service=RECORDED_BY.get(kind, "the service of that kind of record"),
            known=visit_events(events),
        )  # fmt: skip


def visit_events(events: dict[str, str]) -> list[str]:
    """The events (of an arm's schedule, id → kind) a visit record fulfils."""
    return sorted(e for e, kind in events.items() if kind in VISIT_KINDS)


def _check_once(tx: Tx, participant: Participant, event_id: str) -> None:
    existing = tx.session.scalar(
        select(Visit).where(Visit.participant_id == participant.id, Visit.event_id == event_id)
    )
    if existing is not None:
        raise RuleViolation(
            "visit.already", field="event_id", event=event_id, study_id=participant.study_id,
            visit_date=existing.visit_date, row_id=existing.id,
        )  # fmt: skip
