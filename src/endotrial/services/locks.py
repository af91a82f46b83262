"""Locking a participant's data with an investigator's sign-off; unlocking needs a reason."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.services._common import check_site, get_row
from endotrial.services.errors import RuleViolation
from endotrial.services.permissions import Operation, authorize
from endotrial.services.queries import unresolved_queries
from endotrial.store import Participant, ParticipantLock, unit_of_work
from endotrial.store.types import utc_now


def lock_participant(engine: Engine, participant_id: int, *, user: str) -> None:
    """Freeze the participant's data; every later write is refused until unlocked."""
    with unit_of_work(engine, user=user, reason="investigator sign-off: data locked") as session:
        authorize(session, user, Operation.LOCK)
        participant = get_row(session, Participant, participant_id)
        check_site(session, participant.site_id, f"participant {participant.study_id}")
        lock = _lock_of(session, participant_id)
        if lock is not None and lock.locked:
            raise RuleViolation(f"participant {participant.study_id} is already locked")
        _check_queries_resolved(session, participant)
        if lock is None:
            lock = ParticipantLock(participant_id=participant_id)
            session.add(lock)
        lock.locked = True
        lock.locked_by = user
        lock.locked_at = utc_now()


def unlock_participant(engine: Engine, participant_id: int, *, reason: str, user: str) -> None:
    """Reopen a locked participant's data for correction (audited with the reason)."""
    if not reason.strip():
        raise RuleViolation("unlocking needs a reason (e.g. 'late lab result to enter')")
    with unit_of_work(engine, user=user, reason=f"unlocked: {reason.strip()}") as session:
        authorize(session, user, Operation.UNLOCK)
        participant = get_row(session, Participant, participant_id)
        check_site(session, participant.site_id, f"participant {participant.study_id}")
        lock = _lock_of(session, participant_id)
        if lock is None or not lock.locked:
            raise RuleViolation(f"participant {participant.study_id} is not locked")
        lock.locked = False
        lock.locked_by = user
        lock.locked_at = utc_now()


def is_locked(engine: Engine, participant_id: int) -> bool:
    with unit_of_work(engine, user="reader") as session:
        lock = _lock_of(session, participant_id)
        return lock is not None and lock.locked


def _check_queries_resolved(session: Session, participant: Participant) -> None:
    """Data are signed off only once every query on them is closed."""
    pending = unresolved_queries(session, participant.id)
    if pending:
        listed = ", ".join(f"#{q.id} ({q.entity}.{q.field}, {q.status.value})" for q in pending)
        raise RuleViolation(
            f"participant {participant.study_id} has unresolved queries {listed}: "
            "answer and close them before signing off her data"
        )


def _lock_of(session: Session, participant_id: int) -> ParticipantLock | None:
    return session.scalar(
        select(ParticipantLock).where(ParticipantLock.participant_id == participant_id)
    )
