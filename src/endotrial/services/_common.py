"""Helpers shared by the services: lookups, the lock check, roles, schedules and edit checks."""

from __future__ import annotations

import datetime as dt
import math
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from endotrial.errors import InputError
from endotrial.protocol.models import Protocol
from endotrial.schedule import build_schedule
from endotrial.schedule.engine import ScheduledEvent
from endotrial.services.errors import LockedError, NotFoundError, PermissionDenied, RuleViolation
from endotrial.store import (
    Audited,
    Cycle,
    DataQuery,
    EmbryoTransfer,
    Participant,
    ParticipantLock,
    Procedure,
    QueryStatus,
    Role,
    Site,
    TransferredEmbryo,
    User,
)
from endotrial.store.audit import USER_KEY, audited_models
from endotrial.store.types import utc_now

T = TypeVar("T", bound=Audited)

EDIT_CHECK_PREFIX = "edit_check:"
#: The schedule event kind whose actual date is the recorded embryo transfer.
TRANSFER_EVENT_KIND = "transfer"


def check_not_future(**dates: dt.date | None) -> None:
    """Clinical dates record what has happened: none may lie after today. One day of grace,
    since a site east of the server's time zone is already on the next date."""
    latest = dt.date.today() + dt.timedelta(days=1)
    for field, on in dates.items():
        if on is not None and on > latest:
            raise RuleViolation(
                f"{field} {on} is in the future: record it once it has happened (check the year)"
            )


def check_finite(**numbers: float | None) -> None:
    """A measurement is a real number: NaN or infinity (e.g. from a spreadsheet) is refused."""
    for field, value in numbers.items():
        if value is not None and not math.isfinite(value):
            raise RuleViolation(f"{field} {value} is not a number: enter the measured value")


def check_moments(started_at: dt.datetime | None, ended_at: dt.datetime | None) -> None:
    """Times of day carry their time zone, have happened, and end after they start."""
    for field, moment in (("started_at", started_at), ("ended_at", ended_at)):
        if moment is None:
            continue
        if moment.tzinfo is None:
            raise RuleViolation(
                f"{field} {moment} has no time zone: give it (e.g. +08:00) so it is stored right"
            )
        check_not_future(**{field: moment.date()})
    if started_at is not None and ended_at is not None and ended_at < started_at:
        raise RuleViolation(f"ended_at {ended_at} is before started_at {started_at}: check both")


def check_not_before_enrolment(participant: Participant, field: str, on: dt.date) -> None:
    """Study steps follow enrolment (her consent came before it)."""
    if participant.enrolled_on is not None and on < participant.enrolled_on:
        raise RuleViolation(
            f"{field} {on} is before participant {participant.study_id} was enrolled "
            f"({participant.enrolled_on}): check the date"
        )


def get_row(session: Session, model: type[T], row_id: int) -> T:
    """The record `row_id` of `model`, or a NotFoundError naming the table."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFoundError(f"no {model.__tablename__} record #{row_id}: check the id and retry")
    return row


def check_site(session: Session, site_id: int | None, what: str) -> None:
    """A team member attached to a site works on that site's data only; one attached to no
    site (e.g. a central monitor) works on every site's."""
    username = session.info.get(USER_KEY, "")
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.site_id is None or site_id is None or user.site_id == site_id:
        return
    theirs, hers = session.get(Site, user.site_id), session.get(Site, site_id)
    raise PermissionDenied(
        f"'{username}' works at site {theirs.code if theirs else user.site_id} and may not "
        f"change {what} of site {hers.code if hers else site_id}: ask that site's team"
    )


def writable_participant(session: Session, participant_id: int) -> Participant:
    """The participant, refused when an investigator has locked her data or when the acting
    user belongs to another site."""
    participant = get_row(session, Participant, participant_id)
    check_site(session, participant.site_id, f"participant {participant.study_id}")
    lock = session.scalar(
        select(ParticipantLock).where(ParticipantLock.participant_id == participant_id)
    )
    if lock is not None and lock.locked:
        raise LockedError(
            f"participant {participant.study_id} is locked (signed off by {lock.locked_by} on "
            f"{lock.locked_at:%Y-%m-%d}): ask an investigator to unlock her data, with a reason"
        )
    return participant


def trial_table(entity: str) -> type[Audited]:
    """The audited model stored in table `entity`, or a RuleViolation naming the tables."""
    models = audited_models()
    model = models.get(entity)
    if model is None:
        raise RuleViolation(f"no trial table '{entity}': use one of {list(models)}")
    return model


def participant_of_record(session: Session, record: Audited) -> int | None:
    """The participant a record belongs to (None for site-level records such as users)."""
    if isinstance(record, Participant):
        return record.id
    if isinstance(record, TransferredEmbryo):
        return get_row(session, EmbryoTransfer, record.transfer_id).participant_id
    participant_id = getattr(record, "participant_id", None)
    return int(participant_id) if participant_id is not None else None


def allocated_participant(session: Session, participant_id: int) -> Participant:
    """A writable participant who has an arm; refused before allocation."""
    participant = writable_participant(session, participant_id)
    if participant.arm is None:
        raise RuleViolation(
            f"participant {participant.study_id} has no arm yet: enrol and allocate her first"
        )
    return participant


def require_role(session: Session, username: str, role: Role, doing: str) -> User:
    """The active user `username`, refused unless she has `role`."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or user.role is not role:
        raise PermissionDenied(f"{doing} needs an active {role.value}; '{username}' is not one")
    return user


def cycle_of(session: Session, participant_id: int, cycle_id: str) -> Cycle | None:
    """Her latest cycle of the protocol's cycle `cycle_id`."""
    query = (
        select(Cycle)
        .where(Cycle.participant_id == participant_id, Cycle.kind == cycle_id)
        .order_by(Cycle.start_date.desc(), Cycle.id.desc())
    )
    return session.scalars(query).first()


def cycle_on(session: Session, participant_id: int, on: dt.date) -> Cycle | None:
    """The cycle she was in on `on`: the latest one started by then."""
    query = (
        select(Cycle)
        .where(Cycle.participant_id == participant_id, Cycle.start_date <= on)
        .order_by(Cycle.start_date.desc(), Cycle.id.desc())
    )
    return session.scalars(query).first()


def event_cycle(protocol: Protocol, event_id: str) -> str | None:
    """The protocol cycle an event falls in, found by following its anchors back to a cycle
    day, a cycle's start event or a procedure (None for an event outside every cycle)."""
    events = {e.id: e for e in protocol.schedule}
    starts = {c.start_event: c.id for c in protocol.cycles}
    procedures = {p.id: p.cycle for p in protocol.procedures}
    seen: set[str] = set()
    current: str | None = event_id
    while current is not None and current not in seen:
        seen.add(current)
        if current in starts:
            return starts[current]
        if current in procedures:
            return procedures[current]
        event = events.get(current)
        if event is None:
            return None
        if event.cycle is not None:
            return event.cycle
        current = event.anchor
    return None


def transfer_event(protocol: Protocol) -> str | None:
    """The protocol's embryo-transfer event (its schedule event of kind 'transfer')."""
    return next((e.id for e in protocol.schedule if e.kind == TRANSFER_EVENT_KIND), None)


def check_protocol_cycle(protocol: Protocol, cycle_id: str) -> None:
    """Refuse a cycle id the protocol does not define, naming those it does."""
    known = [c.id for c in protocol.cycles]
    if cycle_id not in known:
        raise RuleViolation(
            f"protocol {protocol.protocol_id} has no cycle '{cycle_id}': use one of {known}"
        )


def actual_dates(
    session: Session, protocol: Protocol, participant: Participant
) -> dict[str, dt.date]:
    """The dates already recorded that anchor her schedule, under the protocol's event ids:
    each cycle's start event, her arm's procedure, and the event of kind 'transfer'."""
    dates: dict[str, dt.date] = {}
    for cycle in protocol.cycles:
        row = cycle_of(session, participant.id, cycle.id)
        if row is not None:
            dates[cycle.start_event] = row.start_date
    arm = protocol.arm(participant.arm or "")
    procedure = session.scalar(select(Procedure).where(Procedure.participant_id == participant.id))
    if procedure is not None and arm.procedures:
        dates[arm.procedures[0]] = procedure.procedure_date
    transfer = session.scalar(
        select(EmbryoTransfer).where(
            EmbryoTransfer.participant_id == participant.id, EmbryoTransfer.cancelled.is_(False)
        )
    )
    transfer_id = transfer_event(protocol)
    if transfer is not None and transfer_id is not None:
        dates[transfer_id] = transfer.transfer_date
    return dates


def scheduled_events(
    session: Session, protocol: Protocol, participant: Participant, *event_ids: str
) -> tuple[ScheduledEvent | None, ...]:
    """Her events, dated from her recorded anchors by one build of her schedule; None for each
    before she has an arm, before the schedule's root date is recorded, or when her arm has no
    such event."""
    if participant.arm is None:
        return (None,) * len(event_ids)
    try:
        schedule = build_schedule(
            protocol, participant.arm, actual_dates(session, protocol, participant)
        )
    except InputError:
        return (None,) * len(event_ids)  # a root anchor (the first cycle's start) is not yet
    by_id = {event.id: event for event in schedule.events}
    return tuple(by_id.get(event_id) for event_id in event_ids)


def open_edit_query(session: Session, row: Audited, field: str, text: str, check: str) -> DataQuery:
    """Open a query on one field of one record, raised by the named edit check (once: an
    unresolved query of the same check on the same field is reused)."""
    session.flush()
    existing = session.scalar(
        select(DataQuery).where(
            DataQuery.entity == row.__tablename__,
            DataQuery.row_id == str(row.id),
            DataQuery.field == field,
            DataQuery.opened_by == f"{EDIT_CHECK_PREFIX}{check}",
            DataQuery.status != QueryStatus.CLOSED,
        )
    )
    if existing is not None:
        return existing
    query = DataQuery(
        entity=row.__tablename__,
        row_id=str(row.id),
        field=field,
        text=text,
        status=QueryStatus.OPEN,
        opened_by=f"{EDIT_CHECK_PREFIX}{check}",
        opened_at=utc_now(),
    )
    session.add(query)
    return query


def check_window(
    session: Session,
    protocol: Protocol,
    participant: Participant,
    row: Audited,
    field: str,
    event_id: str,
    on: dt.date,
) -> DataQuery | None:
    """Open a query when `on` lies outside the window of the scheduled event `event_id`."""
    (event,) = scheduled_events(session, protocol, participant, event_id)
    if event is None or event.earliest <= on <= event.latest:
        return None
    text = (
        f"{field} {on} is outside the window of '{event.label}' "
        f"({event.earliest} to {event.latest}): confirm the date or record a deviation"
    )
    return open_edit_query(session, row, field, text, "visit_window")


def now_utc() -> dt.datetime:
    return utc_now()
