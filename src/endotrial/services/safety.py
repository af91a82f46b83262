"""Adverse events (with the expedited-report clock), protocol deviations and withdrawals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from endotrial.protocol.models import Protocol
from endotrial.services._common import check_not_future, writable_participant
from endotrial.services.enrolment import COUNTED_STATUSES, WITHDRAWN
from endotrial.services.errors import RuleViolation
from endotrial.services.permissions import Operation, authorize
from endotrial.store import (
    AdverseEvent,
    Participant,
    ProtocolDeviation,
    Relatedness,
    Withdrawal,
    unit_of_work,
)

REPORT_HOURS_SETTING = "serious_ae_report_hours"


@dataclass(frozen=True)
class AdverseEventInput:
    participant_id: int
    term: str
    ctcae_grade: int
    serious: bool
    onset_date: dt.date
    related_procedure: Relatedness = Relatedness.NOT_RELATED
    related_cells: Relatedness = Relatedness.NOT_RELATED
    related_hrt: Relatedness = Relatedness.NOT_RELATED
    onset_at: dt.datetime | None = None
    """The moment of onset when known (aware UTC); else the start of the onset date (UTC)."""
    resolution_date: dt.date | None = None
    outcome: str | None = None
    action_taken: str | None = None


def report_adverse_event(
    engine: Engine, protocol: Protocol, event: AdverseEventInput, *, user: str
) -> int:
    """Record an AE; a serious one gets its expedited report due `serious_ae_report_hours`
    after onset, and `expected` is set from the protocol's list of expected events."""
    _check_ae(event)
    check_not_future(onset_date=event.onset_date, resolution_date=event.resolution_date)
    with unit_of_work(engine, user=user) as session:
        authorize(session, user, Operation.REPORT_ADVERSE_EVENT)
        writable_participant(session, event.participant_id)
        row = AdverseEvent(
            participant_id=event.participant_id,
            term=event.term.strip(),
            ctcae_grade=event.ctcae_grade,
            serious=event.serious,
            related_procedure=event.related_procedure,
            related_cells=event.related_cells,
            related_hrt=event.related_hrt,
            expected=is_expected(protocol, event.term),
            onset_date=event.onset_date,
            resolution_date=event.resolution_date,
            outcome=event.outcome,
            action_taken=event.action_taken,
            expedited_report_due_at=report_due_at(protocol, event) if event.serious else None,
        )
        session.add(row)
        session.flush()
        return row.id


def report_due_at(protocol: Protocol, event: AdverseEventInput) -> dt.datetime:
    """Onset plus the protocol's expedited-reporting time (e.g. 24 h)."""
    hours = float(protocol.setting(REPORT_HOURS_SETTING).value)
    onset = event.onset_at or dt.datetime.combine(event.onset_date, dt.time(), tzinfo=dt.UTC)
    return onset.astimezone(dt.UTC) + dt.timedelta(hours=hours)


def is_expected(protocol: Protocol, term: str) -> bool:
    wanted = term.strip().casefold()
    return any(
        wanted in (e.term.casefold(), e.ctcae_term.casefold())
        for e in protocol.expected_adverse_events
    )


def _check_ae(event: AdverseEventInput) -> None:
    if not event.term.strip():
        raise RuleViolation("give the adverse event's term (CTCAE v5)")
    if not 1 <= event.ctcae_grade <= 5:
        raise RuleViolation(f"ctcae_grade {event.ctcae_grade} must be 1-5 (CTCAE v5)")
    if event.ctcae_grade >= 4 and not event.serious:
        raise RuleViolation(
            f"a grade {event.ctcae_grade} event is life-threatening or fatal: mark it serious"
        )
    if event.onset_at is not None and event.onset_at.tzinfo is None:
        raise RuleViolation("onset_at has no time zone: give it in UTC")
    if event.resolution_date is not None and event.resolution_date < event.onset_date:
        raise RuleViolation("resolution_date is before onset_date: correct one of them")


@dataclass(frozen=True)
class DeviationInput:
    occurred_on: dt.date
    category: str
    description: str
    participant_id: int | None = None
    site_id: int | None = None
    major: bool = False


def record_deviation(engine: Engine, deviation: DeviationInput, *, user: str) -> int:
    """Record a protocol deviation of a participant or of a site."""
    if not deviation.description.strip() or not deviation.category.strip():
        raise RuleViolation("a deviation needs a category and a description")
    check_not_future(occurred_on=deviation.occurred_on)
    with unit_of_work(engine, user=user) as session:
        authorize(session, user, Operation.RECORD_DEVIATION)
        if deviation.participant_id is not None:
            writable_participant(session, deviation.participant_id)
        row = ProtocolDeviation(
            participant_id=deviation.participant_id,
            site_id=deviation.site_id,
            occurred_on=deviation.occurred_on,
            category=deviation.category.strip(),
            major=deviation.major,
            description=deviation.description.strip(),
            reported_by=user,
        )
        session.add(row)
        session.flush()
        return row.id


WITHDRAWAL_INITIATORS = ("participant", "investigator", "sponsor")


@dataclass(frozen=True)
class WithdrawalInput:
    participant_id: int
    withdrawn_on: dt.date
    initiated_by: str
    reason: str
    data_use_allowed: bool = True


def withdraw(engine: Engine, withdrawal: WithdrawalInput, *, user: str) -> int:
    """Withdraw an enrolled participant (she still counts as enrolled for the analysis)."""
    if withdrawal.initiated_by not in WITHDRAWAL_INITIATORS:
        raise RuleViolation(f"initiated_by must be one of {list(WITHDRAWAL_INITIATORS)}")
    if not withdrawal.reason.strip():
        raise RuleViolation("a withdrawal needs its reason")
    check_not_future(withdrawn_on=withdrawal.withdrawn_on)
    with unit_of_work(engine, user=user, reason=f"withdrawal: {withdrawal.reason}") as session:
        authorize(session, user, Operation.WITHDRAW)
        participant = writable_participant(session, withdrawal.participant_id)
        _check_withdrawable(participant)
        row = Withdrawal(
            participant_id=participant.id,
            withdrawn_on=withdrawal.withdrawn_on,
            initiated_by=withdrawal.initiated_by,
            reason=withdrawal.reason.strip(),
            data_use_allowed=withdrawal.data_use_allowed,
        )
        session.add(row)
        participant.status = WITHDRAWN
        session.flush()
        return row.id


def _check_withdrawable(participant: Participant) -> None:
    if participant.status not in COUNTED_STATUSES or participant.status == WITHDRAWN:
        raise RuleViolation(
            f"participant {participant.study_id} is '{participant.status}': only an enrolled "
            "participant can be withdrawn (once)"
        )
