"""Locking a participant's data with an investigator's sign-off; unlocking needs a reason."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from endotrial.services._common import (
    meaningful_reason,
    readable_participant,
)
from endotrial.services._input import as_id
from endotrial.services.context import Actor, Study, reading, writing
from endotrial.services.errors import RuleViolation
from endotrial.services.permissions import Operation
from endotrial.services.queries import unresolved_queries
from endotrial.store import Participant, ParticipantLock
from endotrial.store.types import utc_now


def lock_participant(study: Study, actor: Actor, participant_id: int) -> None:
    """Freeze the participant's data; every later write is refused until unlocked."""
    participant_id = as_id(participant_id, "participant_id")
    reason = "investigator sign-off: data locked"
    with writing(study, actor, Operation.LOCK, reason=reason) as tx:
        participant = readable_participant(tx, participant_id)
        lock = _lock_of(tx.session, participant_id)
        if lock is not None and lock.locked:
            raise RuleViolation("lock.already", study_id=participant.study_id)
        _check_queries_resolved(tx.session, participant)
        if lock is None:
            lock = ParticipantLock(participant_id=participant_id)
            tx.session.add(lock)
        lock.locked = True
        lock.locked_by = tx.ctx.username
        lock.locked_at = utc_now()


def unlock_participant(study: Study, actor: Actor, participant_id: int, *, reason: str) -> None:
    """Reopen a locked participant's data for correction (audited with the reason)."""
    participant_id = as_id(participant_id, "participant_id")
    why = meaningful_reason(reason, "unlocking a participant's data")
    with writing(study, actor, Operation.UNLOCK, reason=f"unlocked: {why}") as tx:
        participant = readable_participant(tx, participant_id)
        lock = _lock_of(tx.session, participant_id)
        if lock is None or not lock.locked:
            raise RuleViolation("lock.not_locked", study_id=participant.study_id)
        lock.locked = False
        lock.locked_by = tx.ctx.username
        lock.locked_at = utc_now()


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
