"""Data queries: opened by edit checks or by a monitor, answered by the site, then closed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.services._common import (
    get_row,
    participant_of_record,
    trial_table,
    writable_participant,
)
from endotrial.services.errors import RuleViolation
from endotrial.services.permissions import Operation, authorize
from endotrial.store import DataQuery, QueryStatus, unit_of_work
from endotrial.store.types import utc_now


@dataclass(frozen=True)
class QueryInput:
    entity: str
    row_id: int
    field: str
    text: str


def open_query(engine: Engine, query: QueryInput, *, user: str) -> int:
    """Open a query on one field of one record (e.g. a monitor's source-data check).

    The record and field must exist, and the participant's data must not be locked.
    """
    if not query.text.strip():
        raise RuleViolation("a query needs its question text")
    with unit_of_work(engine, user=user) as session:
        authorize(session, user, Operation.OPEN_QUERY)
        _check_queried_field(session, query.entity, query.row_id, query.field)
        row = DataQuery(
            entity=query.entity,
            row_id=str(query.row_id),
            field=query.field,
            text=query.text.strip(),
            status=QueryStatus.OPEN,
            opened_by=user,
            opened_at=utc_now(),
        )
        session.add(row)
        session.flush()
        return row.id


def answer_query(engine: Engine, query_id: int, *, answer: str, user: str) -> None:
    """Answer an open query (the site's response)."""
    if not answer.strip():
        raise RuleViolation("an answer cannot be empty")
    with unit_of_work(engine, user=user, reason="query answered") as session:
        authorize(session, user, Operation.ANSWER_QUERY)
        row = get_row(session, DataQuery, query_id)
        if row.status is not QueryStatus.OPEN:
            raise RuleViolation(f"query #{query_id} is {row.status.value}: only open ones")
        _writable_record(session, row.entity, int(row.row_id))
        row.answer = answer.strip()
        row.answered_by = user
        row.answered_at = utc_now()
        row.status = QueryStatus.ANSWERED


def close_query(engine: Engine, query_id: int, *, user: str, note: str = "resolved") -> None:
    """Close an answered query (or an open one the opener withdraws)."""
    with unit_of_work(engine, user=user, reason=f"query closed: {note}") as session:
        authorize(session, user, Operation.CLOSE_QUERY)
        row = get_row(session, DataQuery, query_id)
        if row.status is QueryStatus.CLOSED:
            raise RuleViolation(f"query #{query_id} is already closed")
        row.status = QueryStatus.CLOSED
        row.closed_at = utc_now()


def list_queries(
    engine: Engine, *, status: QueryStatus | None = None, entity: str | None = None
) -> list[DataQuery]:
    """Queries, oldest first, optionally of one status and one table."""
    with unit_of_work(engine, user="reader") as session:
        statement = select(DataQuery).order_by(DataQuery.id)
        if status is not None:
            statement = statement.where(DataQuery.status == status)
        if entity is not None:
            statement = statement.where(DataQuery.entity == entity)
        return list(session.scalars(statement))


def participant_queries(engine: Engine, participant_id: int) -> list[DataQuery]:
    """The participant's queries not yet closed (they must be closed before sign-off)."""
    with unit_of_work(engine, user="reader") as session:
        return unresolved_queries(session, participant_id)


def unresolved_queries(session: Session, participant_id: int) -> list[DataQuery]:
    """Open or answered (not yet closed) queries on any record of the participant."""
    pending = session.scalars(
        select(DataQuery).where(DataQuery.status != QueryStatus.CLOSED).order_by(DataQuery.id)
    )
    return [q for q in pending if _participant_of(session, q.entity, q.row_id) == participant_id]


def _participant_of(session: Session, entity: str, row_id: str) -> int | None:
    """Whose record the query is on; None when it names no trial record (e.g. a query stored
    before queries had to name a real table), so it cannot hold up anyone's sign-off."""
    try:
        record = session.get(trial_table(entity), int(row_id))
    except (RuleViolation, ValueError):
        return None
    return None if record is None else participant_of_record(session, record)


def _check_queried_field(session: Session, entity: str, row_id: int, field: str) -> None:
    model = trial_table(entity)
    if field not in model.__table__.columns:
        columns = sorted(c.name for c in model.__table__.columns)
        raise RuleViolation(f"table '{entity}' has no field '{field}': use one of {columns}")
    _writable_record(session, entity, row_id)


def _writable_record(session: Session, entity: str, row_id: int) -> None:
    """The queried record exists and its participant (if any) is not locked."""
    record = get_row(session, trial_table(entity), row_id)
    participant_id = participant_of_record(session, record)
    if participant_id is not None:
        writable_participant(session, participant_id)
