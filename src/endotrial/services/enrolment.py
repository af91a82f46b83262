"""Consent, enrolment and (non-random) allocation to an arm."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from endotrial.eligibility import screen_candidate
from endotrial.eligibility.plan import REFERENCE_DATE_ITEM, build_plan
from endotrial.protocol.models import Protocol
from endotrial.services._common import (
    check_not_before_enrolment,
    check_not_future,
    get_row,
    writable_participant,
)
from endotrial.services.errors import RuleViolation
from endotrial.services.permissions import Operation, authorize
from endotrial.services.screening import eligible_arms
from endotrial.store import (
    Allocation,
    Consent,
    Participant,
    Screening,
    ScreeningDecision,
    Site,
    unit_of_work,
)

CONSENTED = "consented"
ENROLLED = "enrolled"
ALLOCATED = "allocated"
WITHDRAWN = "withdrawn"
#: Statuses that count toward the enrolment target (a withdrawal stays enrolled).
COUNTED_STATUSES = (ENROLLED, ALLOCATED, WITHDRAWN)


@dataclass(frozen=True)
class ConsentInput:
    screening_id: int
    form_version: str
    consent_date: dt.date
    taken_by: str


def record_consent(engine: Engine, consent: ConsentInput, *, user: str) -> int:
    """Record a signed consent (inclusion 1); creates the participant on her first consent.

    Returns the participant id.
    """
    _check_consent_input(consent)
    check_not_future(consent_date=consent.consent_date)
    reason = "consent recorded: screening linked to the participant"
    with unit_of_work(engine, user=user, reason=reason) as session:
        authorize(session, user, Operation.RECORD_CONSENT)
        screening = get_row(session, Screening, consent.screening_id)
        participant = _participant_for(session, screening)
        session.add(
            Consent(
                participant_id=participant.id,
                form_version=consent.form_version.strip(),
                consent_date=consent.consent_date,
                taken_by=consent.taken_by.strip(),
            )
        )
        return participant.id


def enrol(
    engine: Engine,
    protocol: Protocol,
    *,
    screening_id: int,
    enrolled_on: dt.date,
    user: str,
) -> int:
    """Enrol the screened candidate on `enrolled_on`; returns the participant id.

    Refused when her latest screening is not eligible, when she would no longer be eligible
    on the enrolment date (the registry's windows, e.g. serology within 6 months, run to
    enrolment), without a signed consent dated on or before it, or when the protocol's
    enrolment target is reached.
    """
    with unit_of_work(engine, user=user, reason="enrolment") as session:
        authorize(session, user, Operation.ENROL)
        screening = _latest_screening(session, get_row(session, Screening, screening_id))
        if screening.decision is not ScreeningDecision.ELIGIBLE:
            raise RuleViolation(
                f"candidate {screening.candidate_ref} is not eligible (latest screening: "
                f"{screening.decision.value}; failed {screening.failed_criteria or 'none'}, "
                f"unknown {screening.unknown_criteria or 'none'}): she cannot be enrolled"
            )
        _check_still_eligible(protocol, screening, enrolled_on)
        participant = _consented_participant(session, screening, enrolled_on)
        _check_target(session, protocol)
        if participant.status in COUNTED_STATUSES:
            raise RuleViolation(f"participant {participant.study_id} is already enrolled")
        participant.status = ENROLLED
        participant.enrolled_on = enrolled_on
        return participant.id


@dataclass(frozen=True)
class AllocationInput:
    participant_id: int
    arm: str
    basis: str
    allocated_on: dt.date


def allocate(engine: Engine, protocol: Protocol, allocation: AllocationInput, *, user: str) -> int:
    """Allocate an enrolled participant to an arm open to her, recording the basis."""
    protocol.arm(allocation.arm)  # an unknown arm raises, naming the known ones
    check_not_future(allocated_on=allocation.allocated_on)
    if not allocation.basis.strip():
        raise RuleViolation("state the basis of the allocation (non-randomized trial)")
    with unit_of_work(engine, user=user, reason="allocation") as session:
        authorize(session, user, Operation.ALLOCATE)
        participant = writable_participant(session, allocation.participant_id)
        if participant.status != ENROLLED:
            raise RuleViolation(
                f"participant {participant.study_id} is '{participant.status}': only an "
                "enrolled participant without an arm can be allocated"
            )
        check_not_before_enrolment(participant, "allocated_on", allocation.allocated_on)
        _check_arm_open(session, protocol, participant, allocation.arm)
        row = Allocation(
            participant_id=participant.id,
            arm=allocation.arm,
            allocated_on=allocation.allocated_on,
            allocation_basis=allocation.basis.strip(),
            allocated_by=user,
        )
        session.add(row)
        participant.arm = allocation.arm
        participant.status = ALLOCATED
        session.flush()
        return row.id


def enrolled_count(session: Session) -> int:
    query = select(func.count()).where(Participant.status.in_(COUNTED_STATUSES))
    return int(session.scalar(query) or 0)


def _check_consent_input(consent: ConsentInput) -> None:
    if not consent.form_version.strip():
        raise RuleViolation("give the consent form's version (e.g. 'v1.2 2025-08-01')")
    if not consent.taken_by.strip():
        raise RuleViolation("give who took the consent (username of the team member)")


def _participant_for(session: Session, screening: Screening) -> Participant:
    """The candidate's participant record, created (status consented) on first consent."""
    linked = session.scalar(
        select(Participant)
        .join(Screening, Screening.participant_id == Participant.id)
        .where(Screening.candidate_ref == screening.candidate_ref)
    )
    if linked is not None:
        return writable_participant(session, linked.id)
    participant = Participant(
        study_id=_next_study_id(session, screening.site_id),
        site_id=_site_id(session, screening),
        status=CONSENTED,
    )
    session.add(participant)
    session.flush()
    for row in _screenings_of(session, screening.candidate_ref):
        row.participant_id = participant.id
    return participant


def _site_id(session: Session, screening: Screening) -> int:
    if screening.site_id is not None:
        return screening.site_id
    site = session.scalars(select(Site).order_by(Site.id)).first()
    if site is None:
        raise RuleViolation("no site exists: add the site before consenting participants")
    return site.id


def _next_study_id(session: Session, site_id: int | None) -> str:
    site = session.get(Site, site_id) if site_id is not None else None
    prefix = site.code if site is not None else "P"
    count = int(session.scalar(select(func.count()).select_from(Participant)) or 0)
    return f"{prefix}-{count + 1:03d}"


def _screenings_of(session: Session, candidate_ref: str) -> list[Screening]:
    query = select(Screening).where(Screening.candidate_ref == candidate_ref)
    return list(session.scalars(query.order_by(Screening.screened_at, Screening.id)))


def _latest_screening(session: Session, screening: Screening) -> Screening:
    return _screenings_of(session, screening.candidate_ref)[-1]


def _consented_participant(
    session: Session, screening: Screening, enrolled_on: dt.date
) -> Participant:
    missing = RuleViolation(
        f"candidate {screening.candidate_ref} has no signed consent on record (inclusion 1): "
        "record the consent before enrolling her"
    )
    if screening.participant_id is None:
        raise missing
    participant = writable_participant(session, screening.participant_id)
    consent = session.scalars(
        select(Consent)
        .where(Consent.participant_id == participant.id)
        .order_by(Consent.consent_date)
    ).first()
    if consent is None:
        raise missing
    if consent.consent_date > enrolled_on:
        raise RuleViolation(
            f"enrolment date {enrolled_on} is before her consent ({consent.consent_date}): "
            "consent comes first; check both dates"
        )
    return participant


def _check_still_eligible(protocol: Protocol, screening: Screening, enrolled_on: dt.date) -> None:
    """Re-run the criteria on her screened values as of the enrolment date."""
    check_not_future(enrolled_on=enrolled_on)
    screened_on = screening.item_values.get(REFERENCE_DATE_ITEM)
    if screened_on is not None and enrolled_on < dt.date.fromisoformat(str(screened_on)):
        raise RuleViolation(
            f"enrolment date {enrolled_on} is before her screening ({screened_on}): check the date"
        )
    values = _as_of(protocol, screening.item_values, enrolled_on)
    result = screen_candidate(protocol, values, today=enrolled_on)
    if result.decision == "eligible":
        return
    lapsed = [criterion for criterion, _ in (*result.failed, *result.unknown)]
    problems = f"; {'; '.join(result.errors)}" if result.errors else ""
    raise RuleViolation(
        f"candidate {screening.candidate_ref} no longer meets {lapsed} on {enrolled_on} "
        f"(screened {screened_on}; the windows run to enrolment){problems}: repeat what has "
        "lapsed and screen her again"
    )


def _as_of(protocol: Protocol, item_values: Mapping[str, Any], on: dt.date) -> dict[str, Any]:
    """Her screened values with the reference date moved to `on`. A typed value that the
    engine can compute from the other values (age from birth date) is dropped, so it is
    recomputed for `on` instead of disagreeing with it (a birthday in between)."""
    values = {**item_values, REFERENCE_DATE_ITEM: on.isoformat()}
    plan = build_plan(protocol)
    for name in plan.derived:
        if all(values.get(i) is not None for i in plan.inputs_of(name)):
            values.pop(name, None)
    return values


def _check_target(session: Session, protocol: Protocol) -> None:
    target = protocol.identity.enrollment_target
    if enrolled_count(session) >= target:
        raise RuleViolation(
            f"the enrolment target of {target} participants is reached: no one more can be "
            "enrolled unless the protocol is amended"
        )


def _check_arm_open(
    session: Session, protocol: Protocol, participant: Participant, arm: str
) -> None:
    screenings = session.scalars(
        select(Screening)
        .where(Screening.participant_id == participant.id)
        .order_by(Screening.screened_at, Screening.id)
    ).all()
    if not screenings:
        raise RuleViolation(f"participant {participant.study_id} has no screening on record")
    open_arms = eligible_arms(protocol, screenings[-1])
    if arm not in open_arms:
        closing = [c for c in screenings[-1].failed_criteria if c]
        raise RuleViolation(
            f"arm '{arm}' is closed to participant {participant.study_id} by criteria "
            f"{closing} (e.g. an iodine allergy rules out the uterine-artery procedure): "
            f"allocate her to one of {list(open_arms)}"
        )
