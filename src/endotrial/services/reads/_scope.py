"""What every read shares: the reader's sites, her date, and the checks of a read's arguments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import ColumnElement, Select, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from endotrial.services.context import Context, Tx
from endotrial.services.errors import InvalidInput
from endotrial.store import Participant, Site

#: How far ahead "visits due" looks by default (a week of a site's planning).
DEFAULT_HORIZON_DAYS = 7
MAX_HORIZON_DAYS = 366


def of_her_sites(
    column: InstrumentedAttribute[int] | InstrumentedAttribute[int | None], ctx: Context
) -> ColumnElement[bool]:
    """The condition limiting `column` (a site id) to the reader's sites (none for central
    staff, who read every site's)."""
    sites = ctx.site_ids
    return true() if sites is None else column.in_(sorted(sites))


def her_participants(ctx: Context) -> Select[Participant]:
    """Her sites' participants, in study-id order."""
    return (
        select(Participant)
        .where(of_her_sites(Participant.site_id, ctx))
        .order_by(Participant.study_id, Participant.id)
    )


def site_codes(session: Session, ctx: Context) -> dict[int, str]:
    """Her sites' codes by id."""
    query = select(Site.id, Site.code).where(of_her_sites(Site.id, ctx)).order_by(Site.code)
    return {site_id: code for site_id, code in session.execute(query)}


def site_days(tx: Tx, on: dt.date | None) -> Callable[[int], dt.date]:
    """The day a read is as of at each site: the one asked for, else that site's today in its
    time zone (two sites of a reader may be a day apart)."""
    if on is not None:
        return lambda _site_id: on
    days: dict[int, dt.date] = {}

    def day(site_id: int) -> dt.date:
        if site_id not in days:
            days[site_id] = tx.site_today(site_id)
        return days[site_id]

    return day


def checked_date(on: object) -> dt.date | None:
    """`on` checked before any transaction opens (None: the reader's today)."""
    if on is None:
        return None
    if isinstance(on, dt.datetime) or not isinstance(on, dt.date):
        raise InvalidInput(
            "input.invalid", field="on", what="on", problems="give a date (YYYY-MM-DD)"
        )
    return on


def checked_horizon(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_HORIZON_DAYS:
        raise InvalidInput(
            "input.invalid",
            field="within_days",
            what="within_days",
            problems=f"give a whole number of days from 0 to {MAX_HORIZON_DAYS}",
        )
    return days
