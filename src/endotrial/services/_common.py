"""Helpers shared by the services: lookups, site and lock checks, dates, schedules, edit checks."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from endotrial.errors import InputError
from endotrial.protocol.models import ProcedureSpec, Protocol
from endotrial.schedule import build_schedule
from endotrial.schedule.engine import ScheduledEvent, procedure_event_id
from endotrial.services.context import Context, Tx
from endotrial.services.errors import (
    InvalidInput,
    LockedError,
    NotFoundError,
    PermissionDenied,
    RuleViolation,
)
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
    Withdrawal,
)
from endotrial.store.audit import audited_models
from endotrial.store.types import utc_now

T = TypeVar("T", bound=Audited)

EDIT_CHECK_PREFIX = "edit_check:"
#: The schedule event kind whose actual date is the recorded embryo transfer.
TRANSFER_EVENT_KIND = "transfer"
#: How long before the protocol's start date a study date may lie (a site may begin early).
EARLIEST_BEFORE_START = dt.timedelta(days=365)


# --------------------------------------------------------------------------- dates and numbers


#: A date checked without knowing its site may be a day ahead of the acting user's (a site
#: east of hers).
UNKNOWN_SITE_GRACE = dt.timedelta(days=1)


def check_study_dates(tx: Tx, site_id: int | None = None, /, **dates: dt.date | None) -> None:
    """Clinical dates record what has happened during the trial: none lies after today at the
    record's site (`site_id`: its calendar day in its time zone, so a site east or west of the
    server is judged by its own day), and none before the trial could have begun (its
    registered start less a year: 1900 is a typing slip). Without the site (a trial-wide
    record), the acting user's day with one day of grace."""
    grace = UNKNOWN_SITE_GRACE if site_id is None else dt.timedelta(0)
    latest = tx.site_today(site_id) + grace
    earliest = tx.protocol.identity.start_date - EARLIEST_BEFORE_START
    for field, on in dates.items():
        if on is None:
            continue
        if on > latest:
            raise RuleViolation("date.future", field=field, date=on)
        if on < earliest:
            start = tx.protocol.identity.start_date
            raise RuleViolation("date.before_trial", field=field, date=on, start=start)


def check_finite(**numbers: float | None) -> None:
    """A measurement is a real number: NaN or infinity (e.g. from a spreadsheet) is refused."""
    for field, value in numbers.items():
        if value is not None and not math.isfinite(value):
            raise RuleViolation("number.not_finite", field=field, value=value)


def check_not_negative(unit: str, **numbers: float | None) -> None:
    for field, value in numbers.items():
        if value is not None and value < 0:
            raise RuleViolation("number.negative", field=field, value=value, unit=unit)


def check_moments(
    tx: Tx,
    started_at: dt.datetime | None,
    ended_at: dt.datetime | None,
    site_id: int | None = None,
) -> None:
    """Times of day carry their time zone, have happened (by the day at the record's site),
    and end after they start."""
    zone = tx.site_zone(site_id)
    for field, moment in (("started_at", started_at), ("ended_at", ended_at)):
        if moment is None:
            continue
        if moment.tzinfo is None:
            raise RuleViolation("date.no_time_zone", field=field, moment=moment)
        check_study_dates(tx, site_id, **{field: moment.astimezone(zone).date()})
    if started_at is not None and ended_at is not None and ended_at < started_at:
        raise RuleViolation(
            "date.end_before_start",
            field="ended_at",
            end_field="ended_at",
            end=ended_at,
            start_field="started_at",
            start=started_at,
        )


def check_not_before_enrolment(participant: Participant, field: str, on: dt.date) -> None:
    """Study steps follow enrolment (her consent came before it)."""
    if participant.enrolled_on is not None and on < participant.enrolled_on:
        raise RuleViolation(
            "date.before_enrolment",
            field=field,
            date=on,
            study_id=participant.study_id,
            enrolled_on=participant.enrolled_on,
        )


_WORD = re.compile(r"[^\W\d_]{2,}")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_EMPTY_WORDS = frozenset(
    [
        "ok",
        "okay",
        "yes",
        "no",
        "na",
        "none",
        "nil",
        "null",
        "override",
        "overridden",
        "test",
        "testing",
        "fix",
        "fixed",
        "done",
        "error",
        "reason",
        "change",
        "changed",
        "update",
        "updated",
        "asdf",
        "qwerty",
        "xxx",
        "see",
    ]
)


def meaningful_reason(text: str | None, what: str, field: str = "reason") -> str:
    """A reason that says something: two words or more (four Chinese characters), not only
    filler such as 'ok', 'fixed' or 'override'. Returns it stripped."""
    cleaned = (text or "").strip() if isinstance(text, str) else ""
    words = [w.casefold() for w in _WORD.findall(cleaned)]
    says_something = (
        len(_CJK.findall(cleaned)) >= 4
        or len([w for w in words if w not in _EMPTY_WORDS]) >= 2
        or (len(words) >= 2 and sum(map(len, words)) >= 12 and set(words) - _EMPTY_WORDS)
    )
    if not says_something or len(cleaned) > 2000:
        raise InvalidInput("input.reason_required", field=field, what=what, given=cleaned[:40])
    return cleaned


# --------------------------------------------------------------------------- records and sites


def get_row(session: Session, model: type[T], row_id: int) -> T:
    """The record `row_id` of `model`, or a NotFoundError naming the table."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFoundError("record.not_found", table=model.__tablename__, row_id=row_id)
    return row


def site_codes(session: Session, ctx: Context) -> str:
    """Her sites' codes ('(all)' for central staff)."""
    sites = ctx.site_ids
    if sites is None:
        return "(all)"
    codes = [site.code if (site := session.get(Site, i)) else str(i) for i in sorted(sites)]
    return ", ".join(codes)


def check_site(tx: Tx, site_id: int | None, what: str) -> None:
    """A team member of sites works on those sites' data only; one attached to no site (e.g.
    a central monitor) works on every site's. A record of no site (made before sites were
    required) is central staff's only."""
    if tx.ctx.may_access(site_id):
        return
    site = tx.session.get(Site, site_id) if site_id is not None else None
    raise PermissionDenied(
        "auth.other_site",
        username=tx.ctx.username,
        their_sites=site_codes(tx.session, tx.ctx),
        what=what,
        site=site.code if site is not None else "(none)",
    )


def own_site(tx: Tx, site_id: int | None, what: str) -> int:
    """The site a record belongs to: the one given (which she must work at), else her only
    site; central staff, and a member of several sites, say which."""
    if site_id is not None:
        get_row(tx.session, Site, site_id)
        check_site(tx, site_id, what)
        return site_id
    sites = tx.ctx.site_ids
    if sites is None:
        raise PermissionDenied(
            "auth.site_required", field="site_id", what=what, username=tx.ctx.username
        )
    if len(sites) > 1:
        raise InvalidInput(
            "auth.which_site", field="site_id", what=what, username=tx.ctx.username,
            their_sites=site_codes(tx.session, tx.ctx),
        )  # fmt: skip
    (only,) = sites
    return only


def readable_participant(
    tx: Tx, participant_id: int, *, via: tuple[str, int] | None = None
) -> Participant:
    """The participant, refused (as not found) when she is another site's: her existence is
    not another site's business (see `writable_participant` for `via`)."""
    participant = tx.session.get(Participant, participant_id)
    if participant is None or not tx.ctx.may_access(participant.site_id):
        table, row_id = via or ("participants", participant_id)
        raise NotFoundError("record.not_found", table=table, row_id=row_id)
    return participant


def writable_participant(
    tx: Tx, participant_id: int, *, via: tuple[str, int] | None = None
) -> Participant:
    """The participant, refused when an investigator has locked her data. Another site's
    participant is "not found", as a missing one is (her existence, her study id and her
    site are not another site's business); `via` names the record the user asked for (a
    scan, a transfer), which is then what is not found."""
    participant = tx.session.get(Participant, participant_id)
    if participant is None or not tx.ctx.may_access(participant.site_id):
        table, row_id = via or ("participants", participant_id)
        raise NotFoundError("record.not_found", table=table, row_id=row_id)
    lock = tx.session.scalar(
        select(ParticipantLock).where(ParticipantLock.participant_id == participant_id)
    )
    if lock is not None and lock.locked:
        raise LockedError(
            "record.locked",
            record=f"participants #{participant.id}",
            study_id=participant.study_id,
            locked_by=lock.locked_by,
            locked_on=lock.locked_at.date(),
        )
    return participant


def trial_table(entity: str) -> type[Audited]:
    """The audited model stored in table `entity`, or a RuleViolation naming the tables."""
    models = audited_models()
    model = models.get(entity) if isinstance(entity, str) else None
    if model is None:
        raise RuleViolation("record.no_table", field="entity", entity=entity, tables=list(models))
    return model


def participant_of_record(session: Session, record: Audited) -> int | None:
    """The participant a record belongs to (None for site-level records such as users)."""
    if isinstance(record, Participant):
        return record.id
    if isinstance(record, TransferredEmbryo):
        return get_row(session, EmbryoTransfer, record.transfer_id).participant_id
    participant_id = getattr(record, "participant_id", None)
    return int(participant_id) if participant_id is not None else None


#: Her status once withdrawn (she still counts as enrolled for the analysis).
WITHDRAWN = "withdrawn"


def allocated_participant(
    tx: Tx,
    participant_id: int,
    *,
    treatment: bool = False,
    via: tuple[str, int] | None = None,
) -> Participant:
    """A writable participant who has an arm; refused before allocation. After her withdrawal
    nothing of the trial is given to her any more (`treatment`: a cycle, a drug, a procedure,
    a transfer), and nothing more is recorded when she refused further use of her data."""
    participant = writable_participant(tx, participant_id, via=via)
    if participant.arm is None:
        raise RuleViolation("record.no_arm", study_id=participant.study_id)
    if participant.status == WITHDRAWN:
        withdrawal = tx.session.scalar(
            select(Withdrawal).where(Withdrawal.participant_id == participant.id)
        )
        if treatment or (withdrawal is not None and not withdrawal.data_use_allowed):
            raise RuleViolation(
                "record.withdrawn",
                study_id=participant.study_id,
                withdrawn_on=withdrawal.withdrawn_on if withdrawal else "(unknown)",
            )
    return participant


def require_role(tx: Tx, role: Role, doing: str) -> None:
    """Refused unless the acting user has `role`."""
    if tx.ctx.role is not role:
        raise PermissionDenied(
            "auth.needs_role", doing=doing, role=role.value, username=tx.ctx.username
        )


# --------------------------------------------------------------------------- the protocol


def protocol_ids(protocol: Protocol, kind: str) -> list[str]:
    sections: dict[str, list[str]] = {
        "arm": [a.id for a in protocol.arms],
        "cycle": [c.id for c in protocol.cycles],
        "regimen": [r.id for r in protocol.regimens],
        "procedure": [p.id for p in protocol.procedures],
    }
    return sections[kind]


def check_protocol_id(protocol: Protocol, kind: str, name: object, field: str) -> str:
    """Refuse an arm, cycle, regimen or procedure id the protocol does not define."""
    known = protocol_ids(protocol, kind)
    if name not in known:
        raise RuleViolation(
            "protocol.unknown",
            field=field,
            protocol=protocol.protocol_id,
            kind=kind,
            name=name,
            known=known,
        )
    return str(name)


# --------------------------------------------------------------------------- her schedule


def cycle_of(session: Session, participant_id: int, cycle_id: str) -> Cycle | None:
    """Her cycle of the protocol's cycle `cycle_id` (a cycle starts once)."""
    query = select(Cycle).where(Cycle.participant_id == participant_id, Cycle.kind == cycle_id)
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
    day, a cycle's start event or a procedure's administration (a repeat's, `<id>@<cycle>`,
    in its cycle; None for an event outside every cycle)."""
    events = {e.id: e for e in protocol.schedule}
    starts = {c.start_event: c.id for c in protocol.cycles}
    procedures = {
        procedure_event_id(p, cycle): cycle
        for p in protocol.procedures
        for cycle in p.cycles_given()
    }
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


@dataclass(frozen=True)
class Administration:
    """The administration of a procedure a stored procedure record fulfils."""

    event_id: str
    """Its schedule event: the procedure's own id in its first cycle, `<id>@<cycle>` in a
    repeat cycle."""
    spec: ProcedureSpec | None
    """None for a procedure id the protocol no longer defines (its id is then the event's)."""
    cycle: str | None
    """The protocol cycle it is given in (None with no spec)."""


def administration(
    protocol: Protocol, arm: str | None, procedure_id: str, cycle: str | None
) -> Administration | None:
    """The administration a procedure record fulfils, by the protocol cycle it is filed under
    (`cycle`): a repeat cycle's own, else the first (a record stored before cycles were kept,
    or under a cycle the protocol does not give it in). '' marks a record stored before its
    procedure's id was kept: her arm's first procedure (None when her arm has none)."""
    if not procedure_id:
        procedures = next((a.procedures for a in protocol.arms if a.id == arm), [])
        if not procedures:
            return None
        procedure_id = procedures[0]
    spec = next((p for p in protocol.procedures if p.id == procedure_id), None)
    if spec is None:
        return Administration(procedure_id, None, None)
    given_in = cycle if cycle in spec.repeat_cycles else spec.cycle
    return Administration(procedure_event_id(spec, given_in), spec, given_in)


def actual_dates(
    session: Session, protocol: Protocol, participant: Participant
) -> dict[str, dt.date]:
    """The dates already recorded that anchor her schedule, under the protocol's event ids:
    each cycle's start event, each administration of a procedure (by the cycle its record is
    filed under, whichever is recorded first), and the event of kind 'transfer'."""
    dates: dict[str, dt.date] = {}
    for cycle in protocol.cycles:
        row = cycle_of(session, participant.id, cycle.id)
        if row is not None:
            dates[cycle.start_event] = row.start_date
    rows = session.execute(
        select(Procedure.procedure_id, Cycle.kind, Procedure.procedure_date)
        .outerjoin(Cycle, Procedure.cycle_id == Cycle.id)
        .where(Procedure.participant_id == participant.id)
        .order_by(Procedure.procedure_date, Procedure.id)
    )
    for procedure_id, cycle_kind, procedure_date in rows:
        given = administration(protocol, participant.arm, procedure_id, cycle_kind)
        if given is not None:
            dates.setdefault(given.event_id, procedure_date)
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


def arm_events(protocol: Protocol, arm: str) -> dict[str, str]:
    """Her arm's schedule events, id → kind, whatever her dates (the schedule built from a
    placeholder date for its roots): what an `event_id` given with a record is checked against."""
    roots = {e.id: protocol.identity.start_date for e in protocol.schedule if e.anchor is None}
    try:
        schedule = build_schedule(protocol, arm, roots)
    except InputError:
        return {}
    return {event.id: event.kind for event in schedule.events}


def named_event(
    tx: Tx, participant: Participant, event_id: str | None, kinds: tuple[str, ...], field: str
) -> str | None:
    """The schedule event a record says it fulfils, refused unless it is an event of her arm's
    schedule of one of `kinds` (a scan fulfils an ultrasound visit, not the transfer)."""
    if event_id is None:
        return None
    events = arm_events(tx.protocol, participant.arm or "")
    fitting = sorted(e for e, kind in events.items() if kind in kinds)
    kind = events.get(event_id)
    if kind is None or kind not in kinds:
        raise RuleViolation(
            "visit.not_in_schedule" if kind is None else "visit.wrong_kind",
            field=field, event=event_id, kind=kind, kinds=list(kinds), arm=participant.arm,
            study_id=participant.study_id, known=fitting,
        )  # fmt: skip
    return event_id


def event_in_schedule(protocol: Protocol, participant: Participant, event_id: str) -> str | None:
    """`event_id` when her arm's schedule has it (what a record found by rule is stored as)."""
    return event_id if event_id in arm_events(protocol, participant.arm or "") else None


def event_around(
    tx: Tx, participant: Participant, kinds: tuple[str, ...], on: dt.date
) -> str | None:
    """The one event of `kinds` in her dated schedule whose window holds `on` (None when none
    or several do, or her schedule cannot be dated yet): an unnamed scan's visit."""
    events = arm_events(tx.protocol, participant.arm or "")
    candidates = [e for e, kind in events.items() if kind in kinds]
    dated = scheduled_events(tx.session, tx.protocol, participant, *candidates)
    holding = [e.id for e in dated if e is not None and e.earliest <= on <= e.latest]
    return holding[0] if len(holding) == 1 else None


# --------------------------------------------------------------------------- edit checks


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
    tx: Tx,
    participant: Participant,
    row: Audited,
    field: str,
    event_id: str,
    on: dt.date,
    where: str = "",
) -> DataQuery | None:
    """Open a query when `on` lies outside the window of the scheduled event `event_id`
    (`where` follows its label in the text, e.g. ' in the placement_2 cycle')."""
    (event,) = scheduled_events(tx.session, tx.protocol, participant, event_id)
    if event is None or event.earliest <= on <= event.latest:
        return None
    text = (
        f"{field} {on} is outside the window of '{event.label}'{where} "
        f"({event.earliest} to {event.latest}): confirm the date or record a deviation"
    )
    return open_edit_query(tx.session, row, field, text, "visit_window")
