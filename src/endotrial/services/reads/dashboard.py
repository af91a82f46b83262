"""The dashboard: the counts a study team watches, for the reader's sites only.

Enrolment by arm and site against the trial's target, screening decisions, visits due and
overdue, data queries not yet closed, and the serious adverse events whose expedited report
clock runs (the store does not yet record the report's submission, so every serious event
with a due time is listed, past due ones with a negative time left).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from endotrial.services._common import WITHDRAWN
from endotrial.services.context import Actor, Context, Study, reading
from endotrial.services.enrolment import COUNTED_STATUSES
from endotrial.services.permissions import Operation
from endotrial.services.reads._scope import checked_date, of_her_sites, site_codes, site_days
from endotrial.services.reads.queries import views_of, visible
from endotrial.services.reads.safety import (
    AdverseEventView,
    checked_moment,
    event_view,
    events_query,
)
from endotrial.services.reads.timeline import EventState
from endotrial.services.reads.visits import followed_timelines
from endotrial.store import (
    DataQuery,
    Participant,
    QueryStatus,
    Screening,
)

#: The arm of an enrolled participant not yet allocated.
NOT_ALLOCATED = "(not allocated)"


@dataclass(frozen=True)
class ArmCount:
    arm: str
    count: int


@dataclass(frozen=True)
class SiteCounts:
    site_id: int
    site_code: str
    screened: int
    eligible: int
    enrolled: int
    enrolled_by_arm: tuple[ArmCount, ...]
    withdrawn: int
    visits_due: int
    visits_overdue: int
    open_queries: int
    answered_queries: int
    adverse_events: int
    serious_adverse_events: int


@dataclass(frozen=True)
class Dashboard:
    on: dt.date
    enrolment_target: int
    """The whole trial's target (the counts are of the reader's sites)."""
    enrolled: int
    enrolled_by_arm: tuple[ArmCount, ...]
    sites: tuple[SiteCounts, ...]
    serious_awaiting_report: tuple[AdverseEventView, ...]
    """Serious events with an expedited-report deadline, soonest due first."""

    def total(self, name: str) -> int:
        """A count summed over her sites ('screened', 'visits_overdue', ...)."""
        return sum(int(getattr(site, name)) for site in self.sites)


def dashboard(
    study: Study, actor: Actor, *, on: dt.date | None = None, now: dt.datetime | None = None
) -> Dashboard:
    """The counts of the reader's sites as of `on` (default: each site's today, in its time
    zone; `Dashboard.on` is then the reader's) and `now` (the SAE clock; default: this
    moment)."""
    wanted = checked_date(on)
    moment = checked_moment(now)
    with reading(study, actor, Operation.READ_DASHBOARD) as tx:
        day = wanted or tx.ctx.today()
        day_at = site_days(tx, wanted)
        session, ctx = tx.session, tx.ctx
        codes = site_codes(session, ctx)
        arms = [a.id for a in tx.protocol.arms]
        enrolled = _enrolled(session, ctx)
        visits = Counter(
            (t.site_id, e.state)
            for t in followed_timelines(session, ctx, tx.protocol, day_at)
            for e in t.events
        )
        queries = _queries(session, ctx)
        screened = _screened(session, ctx)
        events = [
            event_view(r, s, site, moment) for r, s, site in session.execute(events_query(ctx))
        ]
        sites = tuple(
            SiteCounts(
                site_id=site_id,
                site_code=code,
                screened=sum(n for (s, _), n in screened.items() if s == site_id),
                eligible=screened[(site_id, "eligible")],
                enrolled=sum(n for (s, arm, st), n in enrolled.items() if s == site_id),
                enrolled_by_arm=_by_arm(enrolled, arms, site_id),
                withdrawn=sum(
                    n for (s, _, st), n in enrolled.items() if s == site_id and st == WITHDRAWN
                ),
                visits_due=visits[(site_id, EventState.DUE)],
                visits_overdue=visits[(site_id, EventState.OVERDUE)],
                open_queries=queries[(site_id, QueryStatus.OPEN)],
                answered_queries=queries[(site_id, QueryStatus.ANSWERED)],
                adverse_events=sum(e.site_id == site_id for e in events),
                serious_adverse_events=sum(e.site_id == site_id and e.serious for e in events),
            )
            for site_id, code in sorted(codes.items(), key=lambda item: item[1])
        )
        awaiting = sorted(
            (e for e in events if e.serious and e.report_time_left is not None),
            key=lambda e: (e.expedited_report_due_at or moment, e.adverse_event_id),
        )
        return Dashboard(
            on=day,
            enrolment_target=tx.protocol.identity.enrollment_target,
            enrolled=sum(site.enrolled for site in sites),
            enrolled_by_arm=_by_arm(enrolled, arms, None),
            sites=sites,
            serious_awaiting_report=tuple(awaiting),
        )


def _enrolled(session: Session, ctx: Context) -> Counter[tuple[int, str, str]]:
    """Participants counted as enrolled, by (site, arm, status)."""
    query = (
        select(Participant.site_id, Participant.arm, Participant.status, func.count())
        .where(of_her_sites(Participant.site_id, ctx), Participant.status.in_(COUNTED_STATUSES))
        .group_by(Participant.site_id, Participant.arm, Participant.status)
    )
    return Counter(
        {(site, arm or NOT_ALLOCATED, status): n for site, arm, status, n in session.execute(query)}
    )


def _by_arm(
    enrolled: Counter[tuple[int, str, str]], arms: list[str], site_id: int | None
) -> tuple[ArmCount, ...]:
    per_arm: Counter[str] = Counter({arm: 0 for arm in arms})
    for (site, arm, _status), n in enrolled.items():
        if site_id is None or site == site_id:
            per_arm[arm] += n
    return tuple(
        ArmCount(arm, per_arm[arm]) for arm in (*arms, NOT_ALLOCATED) if arm in arms or per_arm[arm]
    )


def _screened(session: Session, ctx: Context) -> Counter[tuple[int, str]]:
    query = (
        select(Screening.site_id, Screening.decision, func.count())
        .where(of_her_sites(Screening.site_id, ctx), Screening.site_id.is_not(None))
        .group_by(Screening.site_id, Screening.decision)
    )
    return Counter({(site or 0, decision.value): n for site, decision, n in session.execute(query)})


def _queries(session: Session, ctx: Context) -> Counter[tuple[int | None, QueryStatus]]:
    rows = list(session.scalars(select(DataQuery).where(DataQuery.status != QueryStatus.CLOSED)))
    return Counter((v.site_id, v.status) for v in views_of(session, rows) if visible(ctx, v))
