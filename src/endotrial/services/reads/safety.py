"""Adverse events of the reader's sites, with the expedited-report clock of the serious ones."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, select

from endotrial.services._common import readable_participant
from endotrial.services._input import as_id
from endotrial.services.context import Actor, Context, Study, reading
from endotrial.services.errors import InvalidInput
from endotrial.services.permissions import Operation
from endotrial.services.reads._scope import of_her_sites
from endotrial.store import AdverseEvent, Participant, Relatedness
from endotrial.store.types import utc_now


@dataclass(frozen=True)
class AdverseEventView:
    adverse_event_id: int
    participant_id: int
    study_id: str
    site_id: int
    term: str
    ctcae_grade: int
    serious: bool
    expected: bool
    related_procedure: Relatedness
    related_cells: Relatedness
    related_hrt: Relatedness
    onset_date: dt.date
    resolution_date: dt.date | None
    outcome: str | None
    action_taken: str | None
    expedited_report_due_at: dt.datetime | None
    report_time_left: dt.timedelta | None
    """Until the expedited report is due, from the moment read (negative: past due); None
    for an event that needs no expedited report."""


def adverse_events(
    study: Study,
    actor: Actor,
    *,
    participant_id: int | None = None,
    serious_only: bool = False,
    now: dt.datetime | None = None,
) -> tuple[AdverseEventView, ...]:
    """The adverse events of the reader's sites (or of one participant), by onset."""
    if participant_id is not None:
        participant_id = as_id(participant_id, "participant_id")
    moment = checked_moment(now)
    with reading(study, actor, Operation.READ_ADVERSE_EVENTS) as tx:
        if participant_id is not None:
            readable_participant(tx, participant_id)
        query = events_query(tx.ctx)
        if participant_id is not None:
            query = query.where(AdverseEvent.participant_id == participant_id)
        if serious_only:
            query = query.where(AdverseEvent.serious.is_(True))
        return tuple(
            event_view(row, study_id, site_id, moment)
            for row, study_id, site_id in tx.session.execute(query)
        )


def events_query(ctx: Context) -> Select[AdverseEvent, str, int]:
    return (
        select(AdverseEvent, Participant.study_id, Participant.site_id)
        .join(Participant, Participant.id == AdverseEvent.participant_id)
        .where(of_her_sites(Participant.site_id, ctx))
        .order_by(AdverseEvent.onset_date, AdverseEvent.id)
    )


def checked_moment(now: object) -> dt.datetime:
    if now is None:
        return utc_now()
    if not isinstance(now, dt.datetime) or now.tzinfo is None:
        raise InvalidInput(
            "input.invalid", field="now", what="now", problems="give a moment with its time zone"
        )
    return now


def event_view(
    row: AdverseEvent, study_id: str, site_id: int, now: dt.datetime
) -> AdverseEventView:
    due = row.expedited_report_due_at
    if due is not None and due.tzinfo is None:  # SQLite hands back naive UTC moments
        due = due.replace(tzinfo=dt.UTC)
    return AdverseEventView(
        adverse_event_id=row.id,
        participant_id=row.participant_id,
        study_id=study_id,
        site_id=site_id,
        term=row.term,
        ctcae_grade=row.ctcae_grade,
        serious=row.serious,
        expected=row.expected,
        related_procedure=row.related_procedure,
        related_cells=row.related_cells,
        related_hrt=row.related_hrt,
        onset_date=row.onset_date,
        resolution_date=row.resolution_date,
        outcome=row.outcome,
        action_taken=row.action_taken,
        expedited_report_due_at=due,
        report_time_left=due - now if due is not None else None,
    )
