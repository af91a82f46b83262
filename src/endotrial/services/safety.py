"""Adverse events (with the expedited-report clock), protocol deviations and withdrawals."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import select

from endotrial.protocol.models import Protocol
from endotrial.protocol.settings import SERIOUS_AE_REPORT_HOURS
from endotrial.services._common import (
    WITHDRAWN,
    check_not_before_enrolment,
    check_study_dates,
    own_site,
    writable_participant,
)
from endotrial.services._input import Label, RecordId, ServiceInput, Text
from endotrial.services.context import Actor, Study, Tx, writing
from endotrial.services.enrolment import COUNTED_STATUSES
from endotrial.services.errors import RuleViolation
from endotrial.services.permissions import Operation
from endotrial.store import (
    AdverseEvent,
    Consent,
    Participant,
    ProtocolDeviation,
    Relatedness,
    Withdrawal,
)

#: The setting giving the expedited-report time (default 24 h when the file leaves it out).
REPORT_HOURS_SETTING = SERIOUS_AE_REPORT_HOURS.name


class AdverseEventInput(ServiceInput):
    participant_id: RecordId
    term: Label
    ctcae_grade: Annotated[int, Field(ge=1, le=5)]
    serious: bool
    onset_date: dt.date
    related_procedure: Relatedness = Relatedness.NOT_RELATED
    related_cells: Relatedness = Relatedness.NOT_RELATED
    related_hrt: Relatedness = Relatedness.NOT_RELATED
    onset_at: dt.datetime | None = None
    """The moment of onset when known (with its time zone); else the start of the onset date
    (UTC)."""
    resolution_date: dt.date | None = None
    outcome: Annotated[Label, Field(max_length=64)] | None = None
    action_taken: Label | None = None


def report_adverse_event(study: Study, actor: Actor, event: AdverseEventInput) -> int:
    """Record an AE; a serious one gets its expedited report due `serious_ae_report_hours`
    after onset, and `expected` is set from the protocol's list of expected events. An event
    before her consent is medical history, not an AE of the trial, and is refused."""
    _check_ae(event)
    with writing(study, actor, Operation.REPORT_ADVERSE_EVENT) as tx:
        participant = writable_participant(tx, event.participant_id)
        check_study_dates(
            tx, participant.site_id, onset_date=event.onset_date,
            resolution_date=event.resolution_date,
        )  # fmt: skip
        _check_after_consent(tx, participant, event.onset_date)
        row = AdverseEvent(
            participant_id=participant.id,
            term=event.term,
            ctcae_grade=event.ctcae_grade,
            serious=event.serious,
            related_procedure=event.related_procedure,
            related_cells=event.related_cells,
            related_hrt=event.related_hrt,
            expected=is_expected(tx.protocol, event.term),
            onset_date=event.onset_date,
            resolution_date=event.resolution_date,
            outcome=event.outcome,
            action_taken=event.action_taken,
            expedited_report_due_at=report_due_at(tx.protocol, event) if event.serious else None,
        )
        tx.session.add(row)
        tx.session.flush()
        return row.id


def report_due_at(protocol: Protocol, event: AdverseEventInput) -> dt.datetime:
    """Onset plus the protocol's expedited-reporting time (24 h unless the file says)."""
    hours = SERIOUS_AE_REPORT_HOURS.number(protocol)
    onset = event.onset_at or dt.datetime.combine(event.onset_date, dt.time(), tzinfo=dt.UTC)
    return onset.astimezone(dt.UTC) + dt.timedelta(hours=hours)


def is_expected(protocol: Protocol, term: str) -> bool:
    wanted = term.strip().casefold()
    return any(
        wanted in (e.term.casefold(), e.ctcae_term.casefold())
        for e in protocol.expected_adverse_events
    )


def _check_ae(event: AdverseEventInput) -> None:
    if event.ctcae_grade >= 4 and not event.serious:
        raise RuleViolation("ae.grade_serious", field="serious", grade=event.ctcae_grade)
    if event.ctcae_grade == 5 and (event.outcome or "fatal").strip().casefold() != "fatal":
        raise RuleViolation("ae.fatal_outcome", field="outcome", outcome=event.outcome)
    if event.onset_at is not None and event.onset_at.tzinfo is None:
        raise RuleViolation("date.no_time_zone", field="onset_at", moment=event.onset_at)
    if event.onset_at is not None and event.onset_at.date() != event.onset_date:
        onset_day = event.onset_at.date()
        if abs((onset_day - event.onset_date).days) > 1:  # a day apart across time zones
            raise RuleViolation(
                "ae.onset_moment", field="onset_at", onset_at=event.onset_at,
                onset_date=event.onset_date,
            )  # fmt: skip
    if event.resolution_date is not None and event.resolution_date < event.onset_date:
        raise RuleViolation(
            "date.end_before_start",
            field="resolution_date",
            end_field="resolution_date",
            end=event.resolution_date,
            start_field="onset_date",
            start=event.onset_date,
        )


def _check_after_consent(tx: Tx, participant: Participant, onset: dt.date) -> None:
    first_consent = tx.session.scalar(
        select(Consent.consent_date)
        .where(Consent.participant_id == participant.id)
        .order_by(Consent.consent_date)
        .limit(1)
    )
    if first_consent is not None and onset < first_consent:
        raise RuleViolation(
            "date.before_consent",
            field="onset_date",
            date=onset,
            study_id=participant.study_id,
            consent_date=first_consent,
        )


class DeviationInput(ServiceInput):
    occurred_on: dt.date
    category: Annotated[Label, Field(max_length=64)]
    description: Text
    participant_id: RecordId | None = None
    site_id: RecordId | None = None
    major: bool = False


def record_deviation(study: Study, actor: Actor, deviation: DeviationInput) -> int:
    """Record a protocol deviation of a participant, of a site, or (central staff) of the
    whole trial."""
    with writing(study, actor, Operation.RECORD_DEVIATION) as tx:
        site_id = deviation.site_id
        if deviation.participant_id is not None:
            participant = writable_participant(tx, deviation.participant_id)
            if site_id is not None and site_id != participant.site_id:
                raise RuleViolation("deviation.site_mismatch", field="site_id")
            site_id = participant.site_id
        elif site_id is not None or tx.ctx.site_ids is not None:
            # a site's team records its own site's deviations (several sites: say which)
            site_id = own_site(tx, site_id, "deviation")
        check_study_dates(tx, site_id, occurred_on=deviation.occurred_on)
        row = ProtocolDeviation(
            participant_id=deviation.participant_id,
            site_id=site_id,
            occurred_on=deviation.occurred_on,
            category=deviation.category,
            major=deviation.major,
            description=deviation.description,
            reported_by=tx.ctx.username,
        )
        tx.session.add(row)
        tx.session.flush()
        return row.id


WITHDRAWAL_INITIATORS = ("participant", "investigator", "sponsor")


class WithdrawalInput(ServiceInput):
    participant_id: RecordId
    withdrawn_on: dt.date
    initiated_by: Literal["participant", "investigator", "sponsor"]
    reason: Text
    data_use_allowed: bool = True


def withdraw(study: Study, actor: Actor, withdrawal: WithdrawalInput) -> int:
    """Withdraw an enrolled participant (she still counts as enrolled for the analysis)."""
    reason = f"withdrawal: {withdrawal.reason}"
    with writing(study, actor, Operation.WITHDRAW, reason=reason) as tx:
        participant = writable_participant(tx, withdrawal.participant_id)
        check_study_dates(tx, participant.site_id, withdrawn_on=withdrawal.withdrawn_on)
        if participant.status not in COUNTED_STATUSES or participant.status == WITHDRAWN:
            raise RuleViolation(
                "withdrawal.not_enrolled", study_id=participant.study_id, status=participant.status
            )
        check_not_before_enrolment(participant, "withdrawn_on", withdrawal.withdrawn_on)
        row = Withdrawal(
            participant_id=participant.id,
            withdrawn_on=withdrawal.withdrawn_on,
            initiated_by=withdrawal.initiated_by,
            reason=withdrawal.reason,
            data_use_allowed=withdrawal.data_use_allowed,
        )
        tx.session.add(row)
        participant.status = WITHDRAWN
        tx.session.flush()
        return row.id
