"""Consent, enrolment and (non-random) allocation to an arm."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from endotrial.eligibility import screen_candidate
from endotrial.eligibility.plan import REFERENCE_DATE_ITEM, build_plan
from endotrial.errors import InputError
from endotrial.protocol.models import Protocol
from endotrial.services._common import (
    WITHDRAWN,
    check_not_before_enrolment,
    check_protocol_id,
    check_study_dates,
    get_row,
    writable_participant,
)
from endotrial.services._input import Label, RecordId, ServiceInput, Text
from endotrial.services.context import Actor, Study, Tx, account_by_name, writing
from endotrial.services.errors import NotFoundError, RuleViolation
from endotrial.services.identity import CANDIDATE_REF, shown_ref, tx_keys, unsealed_values
from endotrial.services.permissions import PERMISSIONS, Operation
from endotrial.services.screening import candidate_screenings, eligible_arms
from endotrial.store import (
    Allocation,
    Consent,
    Participant,
    Screening,
    ScreeningDecision,
    Site,
    SiteMembership,
    User,
)

CONSENTED = "consented"
ENROLLED = "enrolled"
ALLOCATED = "allocated"
#: Statuses that count toward the enrolment target (a withdrawal stays enrolled).
COUNTED_STATUSES = (ENROLLED, ALLOCATED, WITHDRAWN)


class ConsentInput(ServiceInput):
    screening_id: RecordId
    form_version: Annotated[Label, Field(max_length=32)]
    consent_date: dt.date
    taken_by: Annotated[Label, Field(max_length=64)]
    """The username of the team member who took the consent (an account of her site)."""


class EnrolmentInput(ServiceInput):
    screening_id: RecordId
    enrolled_on: dt.date


class AllocationInput(ServiceInput):
    participant_id: RecordId
    arm: Annotated[Label, Field(max_length=32)]
    basis: Text
    allocated_on: dt.date


def record_consent(study: Study, actor: Actor, consent: ConsentInput) -> int:
    """Record a signed consent (inclusion 1); creates the participant on her first consent.

    Returns the participant id.
    """
    reason = "consent recorded: screening linked to the participant"
    with writing(study, actor, Operation.RECORD_CONSENT, reason=reason) as tx:
        screening = _screening(tx, consent.screening_id)
        check_study_dates(tx, screening.site_id, consent_date=consent.consent_date)
        taken_by = _consent_taker(tx, screening, consent.taken_by)
        participant = _participant_for(tx, screening)
        tx.session.add(
            Consent(
                participant_id=participant.id,
                form_version=consent.form_version,
                consent_date=consent.consent_date,
                taken_by=taken_by,
            )
        )
        return participant.id


def enrol(study: Study, actor: Actor, enrolment: EnrolmentInput) -> int:
    """Enrol the screened candidate on `enrolled_on`; returns the participant id.

    Refused when her latest screening (at her site) is not eligible, when she would no longer
    be eligible on the enrolment date (the registry's windows, e.g. serology within 6 months,
    run to enrolment), without a signed consent dated on or before it, or when the protocol's
    enrolment target is reached (counted under the write lock, and each enrolment takes a
    unique place number, so two saved at once cannot both take the last place).
    """
    with writing(study, actor, Operation.ENROL, reason="enrolment") as tx:
        first = _screening(tx, enrolment.screening_id)
        check_study_dates(tx, first.site_id, enrolled_on=enrolment.enrolled_on)
        screening = candidate_screenings(tx.session, first.site_id, first.candidate_ref)[-1]
        if screening.decision is not ScreeningDecision.ELIGIBLE:
            raise RuleViolation(
                "enrolment.not_eligible",
                field="screening_id",
                candidate=_shown(tx, screening),
                decision=screening.decision.value,
                failed=screening.failed_criteria,
                unknown=screening.unknown_criteria,
            )
        _check_still_eligible(tx, screening, enrolment.enrolled_on)
        participant = _consented_participant(tx, screening, enrolment.enrolled_on)
        if participant.status in COUNTED_STATUSES:
            raise RuleViolation("enrolment.already", study_id=participant.study_id)
        participant.enrolment_number = _next_place(tx.session, tx.protocol)
        participant.status = ENROLLED
        participant.enrolled_on = enrolment.enrolled_on
        return participant.id


def allocate(study: Study, actor: Actor, allocation: AllocationInput) -> int:
    """Allocate an enrolled participant to an arm open to her, recording the basis."""
    arm = check_protocol_id(study.protocol, "arm", allocation.arm, "arm")
    with writing(study, actor, Operation.ALLOCATE, reason="allocation") as tx:
        participant = writable_participant(tx, allocation.participant_id)
        check_study_dates(tx, participant.site_id, allocated_on=allocation.allocated_on)
        if participant.status != ENROLLED:
            raise RuleViolation(
                "allocation.not_enrolled", study_id=participant.study_id, status=participant.status
            )
        check_not_before_enrolment(participant, "allocated_on", allocation.allocated_on)
        check_arm_open(tx, participant, arm)
        row = Allocation(
            participant_id=participant.id,
            arm=arm,
            allocated_on=allocation.allocated_on,
            allocation_basis=allocation.basis,
            allocated_by=tx.ctx.username,
        )
        tx.session.add(row)
        participant.arm = arm
        participant.status = ALLOCATED
        tx.session.flush()
        return row.id


def enrolled_count(session: Session) -> int:
    query = select(func.count()).where(Participant.status.in_(COUNTED_STATUSES))
    return int(session.scalar(query) or 0)


def _screening(tx: Tx, screening_id: int) -> Screening:
    """The screening, refused when it is another site's."""
    screening = tx.session.get(Screening, screening_id)
    if screening is None or not tx.ctx.may_access(screening.site_id):
        raise NotFoundError("record.not_found", table="screenings", row_id=screening_id)
    return screening


def _consent_taker(tx: Tx, screening: Screening, taken_by: str) -> str:
    """Consent is taken by a member of the study team at her site (delegated by the
    investigator): an active account there, named by its username."""
    account = account_by_name(tx.session, taken_by)
    if (
        account is None
        or not account.active
        or account.role not in PERMISSIONS[Operation.RECORD_CONSENT]
        or not _works_at(tx.session, account, screening.site_id)
    ):
        raise RuleViolation("consent.taker", field="taken_by", taken_by=taken_by)
    return account.username


def _works_at(session: Session, account: User, site_id: int | None) -> bool:
    """Central staff work at every site; a site's member at her home site and memberships."""
    if account.site_id is None or account.site_id == site_id:
        return True
    membership = select(SiteMembership.id).where(
        SiteMembership.user_id == account.id, SiteMembership.site_id == site_id
    )
    return session.scalar(membership) is not None


def _participant_for(tx: Tx, screening: Screening) -> Participant:
    """The candidate's participant record at her site, created (status consented) on first
    consent; her screenings at that site are linked to it."""
    screenings = candidate_screenings(tx.session, screening.site_id, screening.candidate_ref)
    linked = next((s.participant_id for s in screenings if s.participant_id is not None), None)
    if linked is not None:
        return writable_participant(tx, linked)
    if screening.site_id is None:
        raise RuleViolation("consent.no_site", candidate=_shown(tx, screening))
    participant = Participant(
        study_id=_next_study_id(tx.session, screening.site_id),
        site_id=screening.site_id,
        status=CONSENTED,
    )
    tx.session.add(participant)
    tx.session.flush()
    for row in screenings:
        row.participant_id = participant.id
    return participant


def _next_study_id(session: Session, site_id: int) -> str:
    """The site's next study id (GZ6-001, GZ6-002, ...), read under the write lock."""
    site = get_row(session, Site, site_id)
    count = int(session.scalar(select(func.count()).where(Participant.site_id == site_id)) or 0)
    while True:
        count += 1
        study_id = f"{site.code}-{count:03d}"
        if session.scalar(select(Participant.id).where(Participant.study_id == study_id)) is None:
            return study_id


def _next_place(session: Session, protocol: Protocol) -> int:
    target = protocol.identity.enrollment_target
    taken = int(session.scalar(select(func.max(Participant.enrolment_number))) or 0)
    place = max(taken, enrolled_count(session)) + 1
    if place > target:
        raise RuleViolation("enrolment.target_reached", target=target)
    return place


def _consented_participant(tx: Tx, screening: Screening, enrolled_on: dt.date) -> Participant:
    if screening.participant_id is None:
        raise RuleViolation("enrolment.no_consent", candidate=_shown(tx, screening))
    participant = writable_participant(tx, screening.participant_id)
    consent = tx.session.scalars(
        select(Consent)
        .where(Consent.participant_id == participant.id)
        .order_by(Consent.consent_date)
    ).first()
    if consent is None:
        raise RuleViolation("enrolment.no_consent", candidate=_shown(tx, screening))
    if consent.consent_date > enrolled_on:
        raise RuleViolation(
            "enrolment.before_consent",
            field="enrolled_on",
            enrolled_on=enrolled_on,
            consent_date=consent.consent_date,
        )
    return participant


def _shown(tx: Tx, screening: Screening) -> str:
    return shown_ref(tx.session, tx_keys(tx), screening)


def _screened_values(tx: Tx, screening: Screening) -> dict[str, Any]:
    """Her screened values, with the identifying ones (her birth date) unsealed again."""
    sealed = unsealed_values(tx.session, tx_keys(tx), screening.person_id)
    sealed.pop(CANDIDATE_REF, None)
    return {**screening.item_values, **sealed}


def _check_still_eligible(tx: Tx, screening: Screening, enrolled_on: dt.date) -> None:
    """Re-run the criteria on her screened values as of the enrolment date."""
    protocol = tx.protocol
    screened_on = screening.item_values.get(REFERENCE_DATE_ITEM)
    if screened_on is not None and enrolled_on < dt.date.fromisoformat(str(screened_on)):
        raise RuleViolation(
            "enrolment.before_screening",
            field="enrolled_on",
            enrolled_on=enrolled_on,
            screened_on=screened_on,
        )
    values = _as_of(protocol, _screened_values(tx, screening), enrolled_on)
    try:
        result = screen_candidate(protocol, values, today=enrolled_on)
    except InputError as error:
        raise RuleViolation(
            "enrolment.unreadable", candidate=_shown(tx, screening), problem=str(error)
        ) from None
    if result.decision == "eligible":
        return
    raise RuleViolation(
        "enrolment.lapsed",
        field="enrolled_on",
        candidate=_shown(tx, screening),
        lapsed=[criterion for criterion, _ in (*result.failed, *result.unknown)],
        enrolled_on=enrolled_on,
        screened_on=screened_on,
        problems="; ".join(result.errors) or "none",
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


def check_arm_open(tx: Tx, participant: Participant, arm: str) -> None:
    """The arm must be open to her by her latest screening: an arm whose own criterion is
    failed or still unknown (an iodine allergy not recorded) stays closed, and an ineligible
    re-screening closes every arm. Checked at allocation and again before the procedure:
    an allergy found after allocation stops the infusion."""
    screenings = tx.session.scalars(
        select(Screening)
        .where(Screening.participant_id == participant.id)
        .order_by(Screening.screened_at, Screening.id)
    ).all()
    if not screenings:
        raise RuleViolation("allocation.no_screening", study_id=participant.study_id)
    latest = screenings[-1]
    open_arms = eligible_arms(tx.protocol, latest)
    if arm not in open_arms:
        closing = [c.id for c in tx.protocol.criteria if c.arms and arm in c.arms]
        raise RuleViolation(
            "allocation.arm_closed",
            field="arm",
            arm=arm,
            study_id=participant.study_id,
            closing=[c for c in closing if c in (*latest.failed_criteria, *latest.unknown_criteria)]
            or closing,
            open_arms=list(open_arms),
        )
