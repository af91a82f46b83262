"""Data queries: opened by edit checks or by a monitor, answered by the site, then closed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from endotrial.services._common import get_row
from endotrial.services.errors import RuleViolation
from endotrial.store import DataQuery, QueryStatus, unit_of_work
from endotrial.store.types import utc_now


@dataclass(frozen=True)
class QueryInput:
    entity: str
    row_id: int
    field: str
    text: str


def open_query(engine: Engine, query: QueryInput, *, user: str) -> int:
    """Open a query on one field of one record (e.g. a monitor's source-data check)."""
    if not query.text.strip():
        raise RuleViolation("a query needs its question text")
    with unit_of_work(engine, user=user) as session:
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
        row = get_row(session, DataQuery, query_id)
        if row.status is not QueryStatus.OPEN:
            raise RuleViolation(f"query #{query_id} is {row.status.value}: only open ones")
        row.answer = answer.strip()
        row.answered_by = user
        row.answered_at = utc_now()
        row.status = QueryStatus.ANSWERED


def close_query(engine: Engine, query_id: int, *, user: str, note: str = "resolved") -> None:
    """Close an answered query (or an open one the opener withdraws)."""
    with unit_of_work(engine, user=user, reason=f"query closed: {note}") as session:
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
