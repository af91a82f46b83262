"""Locking a participant's data with the investigator's electronically signed sign-off
(21 CFR Part 11: her password again, the signature's meaning, bound to a digest of what she
signed); unlocking needs a reason and voids the signature."""

from __future__ import annotations

import enum

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from endotrial.services import _rehearsal
from endotrial.services._common import (
    meaningful_reason,
    readable_participant,
)
from endotrial.services._input import RecordId, ServiceInput, as_id
from endotrial.services.context import (
    Actor,
    Study,
    Tx,
    clear_password_attempts,
    count_password_attempt,
    reading,
    writing,
)
from endotrial.services.errors import InvalidInput, PermissionDenied, RuleViolation
from endotrial.services.permissions import Operation
from endotrial.services.queries import unresolved_queries
from endotrial.services.reads.records import records_digest
from endotrial.store import Participant, ParticipantLock, User, verify_password
from endotrial.store.types import utc_now


class SignatureMeaning(enum.StrEnum):
    """What the investigator's signature means (21 CFR 11.50(a)(3)), shown with it."""

    APPROVAL = "approval"
    REVIEW = "review"


#: The meanings as the signature shows them (in English; the web translates them).
MEANING_TEXT = {
    SignatureMeaning.APPROVAL: "I approve these data as complete and accurate",
    SignatureMeaning.REVIEW: "I have reviewed these data",
}


class SignOffInput(ServiceInput):
    """The investigator's sign-off: her password asked again (11.200: the signing is hers,
    not only her open session's) and what her signature means."""

    participant_id: RecordId
    password: str = Field(max_length=1000, repr=False)
    meaning: SignatureMeaning = SignatureMeaning.APPROVAL


def lock_participant(study: Study, actor: Actor, sign_off: SignOffInput) -> None:
    """Sign her data off and freeze them: every later write is refused until unlocked. The
    investigator signs with her password again; a wrong one counts as a failed sign-in (so a
    session left open cannot be used to guess it) and signs nothing."""
    if not isinstance(sign_off, SignOffInput):
        raise InvalidInput(
            "input.wrong_type", what="sign_off", expected="SignOffInput",
            given=type(sign_off).__name__,
        )  # fmt: skip
    reason = f"investigator sign-off: data locked ({sign_off.meaning.value})"
    # A dry run rehearses the rules (queries still open, a lock already there) but never the
    # password: it counts no attempt, and so must tell nothing about the password either.
    rehearsed = _rehearsal.current() is not None
    if not rehearsed:
        count_password_attempt(study, actor)
    signed_by: str | None = None  # her username once her password proved right
    try:
        with writing(study, actor, Operation.LOCK, reason=reason) as tx:
            signer = tx.session.get_one(User, tx.ctx.user_id)
            if not rehearsed:
                _check_password(signer, sign_off.password)
                signed_by = signer.username
            _sign(tx, signer, sign_off)
    finally:
        # The right password clears the attempt counted, even when the sign-off is refused
        # for another reason (queries still open): only wrong passwords build up a block.
        if signed_by is not None:
            clear_password_attempts(study, signed_by)


def _sign(tx: Tx, signer: User, sign_off: SignOffInput) -> None:
    participant = readable_participant(tx, sign_off.participant_id)
    lock = _lock_of(tx.session, participant.id)
    if lock is not None and lock.locked:
        raise RuleViolation("lock.already", study_id=participant.study_id)
    _check_queries_resolved(tx.session, participant)
    if lock is None:
        lock = ParticipantLock(participant_id=participant.id)
        tx.session.add(lock)
    now = utc_now()
    lock.locked, lock.locked_by, lock.locked_at = True, signer.username, now
    lock.signed_by, lock.signer_name, lock.signed_at = signer.username, signer.full_name, now
    lock.meaning = sign_off.meaning.value
    lock.records_sha256 = records_digest(tx.session, participant.id)
    lock.voided_by, lock.voided_at, lock.void_reason = None, None, None


def _check_password(signer: User, password: str) -> None:
    if not verify_password(signer.password_hash, password):
        raise PermissionDenied("signature.password", field="password", username=signer.username)


def unlock_participant(study: Study, actor: Actor, participant_id: int, *, reason: str) -> None:
    """Reopen a locked participant's data for correction: her signature is voided (kept, with
    who voided it, when and why) and she must be signed off again."""
    participant_id = as_id(participant_id, "participant_id")
    why = meaningful_reason(reason, "unlocking a participant's data")
    with writing(study, actor, Operation.UNLOCK, reason=f"unlocked, signature voided: {why}") as tx:
        participant = readable_participant(tx, participant_id)
        lock = _lock_of(tx.session, participant_id)
        if lock is None or not lock.locked:
            raise RuleViolation("lock.not_locked", study_id=participant.study_id)
        now = utc_now()
        lock.locked, lock.locked_by, lock.locked_at = False, tx.ctx.username, now
        lock.voided_by, lock.voided_at, lock.void_reason = tx.ctx.username, now, why


def is_locked(study: Study, actor: Actor, participant_id: int) -> bool:
    """Whether the participant's data are signed off (locked)."""
    participant_id = as_id(participant_id, "participant_id")
    with reading(study, actor, Operation.READ_TRIAL_DATA) as tx:
        readable_participant(tx, participant_id)
        lock = _lock_of(tx.session, participant_id)
        return lock is not None and lock.locked


def _check_queries_resolved(session: Session, participant: Participant) -> None:
    """Data are signed off only once every query on them is closed."""
    pending = unresolved_queries(session, participant.id)
    if pending:
        listed = [f"#{q.id} ({q.entity}.{q.field}, {q.status.value})" for q in pending]
        raise RuleViolation("lock.open_queries", study_id=participant.study_id, queries=listed)


def _lock_of(session: Session, participant_id: int) -> ParticipantLock | None:
    return session.scalar(
        select(ParticipantLock).where(ParticipantLock.participant_id == participant_id)
    )
