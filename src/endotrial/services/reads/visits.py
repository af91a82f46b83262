"""The visits due across the reader's sites: every event of every participant's timeline that
is due, overdue, or opens within the days ahead."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from endotrial.protocol.models import Protocol
from endotrial.services.context import Actor, Context, Study, reading
from endotrial.services.permissions import Operation
from endotrial.services.reads._records import load_records
from endotrial.services.reads._scope import (
    DEFAULT_HORIZON_DAYS,
    checked_date,
    checked_horizon,
    her_participants,
    site_codes,
    site_days,
)
from endotrial.services.reads.timeline import EventState, Timeline, timelines

#: A withdrawn participant or one whose data are signed off has no visits due.
_FOLLOWED = ("allocated", "enrolled")


@dataclass(frozen=True)
class VisitDue:
    participant_id: int
    study_id: str
    site_id: int
    site_code: str
    event_id: str
    label: str
    kind: str
    date: dt.date
    earliest: dt.date
    latest: dt.date
    state: EventState
    """due, overdue, or not_yet_due (opening within the days asked for)."""
    condition: str | None


def visits_due(
    study: Study,
    actor: Actor,
    *,
    within_days: int = DEFAULT_HORIZON_DAYS,
    on: dt.date | None = None,
) -> tuple[VisitDue, ...]:
    """Events due or overdue on `on` (default: each site's today, in its time zone), and those
    whose window opens within `within_days` after it, by date then study id."""
    horizon = checked_horizon(within_days)
    wanted = checked_date(on)
    with reading(study, actor, Operation.READ_VISITS_DUE) as tx:
        day_at = site_days(tx, wanted)
        codes = site_codes(tx.session, tx.ctx)
        found = followed_timelines(tx.session, tx.ctx, tx.protocol, day_at)
        ahead = dt.timedelta(days=horizon)
        return tuple(
            sorted(
                (v for t in found for v in _due(t, codes, day_at(t.site_id) + ahead)),
                key=lambda v: (v.date, v.study_id, v.event_id),
            )
        )


def followed_timelines(
    session: Session, ctx: Context, protocol: Protocol, day_at: Callable[[int], dt.date]
) -> list[Timeline]:
    """The timelines of her sites' participants still followed (allocated, enrolled), each as
    of her site's day."""
    rows = [p for p in session.scalars(her_participants(ctx)) if p.status in _FOLLOWED]
    return timelines(protocol, rows, load_records(session, [p.id for p in rows]), day_at)


def _due(timeline: Timeline, codes: dict[int, str], until: dt.date) -> list[VisitDue]:
    return [
        VisitDue(
            participant_id=timeline.participant_id,
            study_id=timeline.study_id,
            site_id=timeline.site_id,
            site_code=codes.get(timeline.site_id, str(timeline.site_id)),
            event_id=event.event_id,
            label=event.label,
            kind=event.kind,
            date=event.date,
            earliest=event.earliest,
            latest=event.latest,
            state=event.state,
            condition=event.condition,
        )
        for event in timeline.events
        if event.state in (EventState.DUE, EventState.OVERDUE)
        or (event.state is EventState.NOT_YET_DUE and event.earliest <= until)
    ]
