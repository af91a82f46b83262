"""Data queries: opened by edit checks or by a monitor, answered by the site, then closed.

A query is on one field of one record; whoever works on that record's site may see and act on
it, no one else (a monitor of site B cannot close site A's queries).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from endotrial.services._common import (
    get_row,
    meaningful_reason,
    participant_of_record,
    readable_participant,
    trial_table,
    writable_participant,
)
from endotrial.services._input import Name, RecordId, ServiceInput, Text, as_id
from endotrial.services.context import Actor, Context, Study, Tx, reading, writing
from endotrial.services.errors import NotFoundError, RuleViolation
from endotrial.services.permissions import Operation
from endotrial.services.reads.queries import (
    QueryView,
    data_queries,
    pending_queries,
    views_of,
    visible,
)
from endotrial.services.reads.records import RECORD_TABLES
from endotrial.store import Audited, DataQuery, Participant, QueryStatus, Screening, Site
from endotrial.store.types import utc_now

#: What a data query may be raised on: a participant's trial records (as her page lists them)
#: and her screening; never an account, a site, who she is, or a query or lock itself.
QUERYABLE_TABLES = frozenset(
    {model.__tablename__ for model in RECORD_TABLES} | {Screening.__tablename__}
)


class QueryInput(ServiceInput):
    entity: Name
    row_id: RecordId
    field: Name
    text: Text


class QueryAnswer(ServiceInput):
    query_id: RecordId
    answer: Text


class QueryClosure(ServiceInput):
    query_id: RecordId
    note: Text = "resolved"


def open_query(study: Study, actor: Actor, query: QueryInput) -> int:
    """Open a query on one field of one record (e.g. a monitor's source-data check).

    The record and field must exist, be of a site the monitor works on, and the participant's
    data must not be locked.
    """
    with writing(study, actor, Operation.OPEN_QUERY) as tx:
        model = trial_table(query.entity)
        if query.field not in model.__table__.columns:
            fields = sorted(c.name for c in model.__table__.columns)
            raise RuleViolation(
                "record.no_field",
                field="field",
                entity=query.entity,
                name=query.field,
                fields=fields,
            )
        _writable_record(tx, query.entity, query.row_id)
        row = DataQuery(
            entity=query.entity,
            row_id=str(query.row_id),
            field=query.field,
            text=query.text,
            status=QueryStatus.OPEN,
            opened_by=tx.ctx.username,
            opened_at=utc_now(),
        )
        tx.session.add(row)
        tx.session.flush()
        return row.id


def answer_query(study: Study, actor: Actor, answer: QueryAnswer) -> None:
    """Answer an open query (the site's response)."""
    with writing(study, actor, Operation.ANSWER_QUERY, reason="query answered") as tx:
        row = _query(tx, answer.query_id)
        if row.status is not QueryStatus.OPEN:
            raise RuleViolation("query.not_open", query_id=answer.query_id, status=row.status.value)
        _writable_record(tx, row.entity, int(row.row_id))
        row.answer = answer.answer
        row.answered_by = tx.ctx.username
        row.answered_at = utc_now()
        row.status = QueryStatus.ANSWERED


def close_query(study: Study, actor: Actor, closure: QueryClosure) -> None:
    """Close an answered query (or an open one the opener withdraws), saying why."""
    reason = f"query closed: {closure.note}"
    with writing(study, actor, Operation.CLOSE_QUERY, reason=reason) as tx:
        row = _query(tx, closure.query_id)
        if row.status is QueryStatus.CLOSED:
            raise RuleViolation("query.closed", query_id=closure.query_id)
        if row.status is QueryStatus.OPEN:
            _check_withdrawal(tx, row, closure.note)
        row.status = QueryStatus.CLOSED
        row.closed_at = utc_now()


def list_queries(
    study: Study,
    actor: Actor,
    *,
    status: QueryStatus | None = None,
    entity: str | None = None,
) -> list[QueryView]:
    """The queries on records of the reader's sites, oldest first, optionally of one status
    and one table (`reads.data_queries`, as a list)."""
    return list(data_queries(study, actor, status=status, entity=entity))


def participant_queries(study: Study, actor: Actor, participant_id: int) -> list[QueryView]:
    """The participant's queries not yet closed (they must be closed before sign-off)."""
    participant_id = as_id(participant_id, "participant_id")
    with reading(study, actor, Operation.READ_QUERIES) as tx:
        readable_participant(tx, participant_id)
        return pending_queries(tx.session, [participant_id])


def unresolved_queries(session: Session, participant_id: int) -> list[DataQuery]:
    """Open or answered (not yet closed) queries on any record of the participant (the rows,
    for the services that act on them)."""
    pending = list(
        session.scalars(
            select(DataQuery).where(DataQuery.status != QueryStatus.CLOSED).order_by(DataQuery.id)
        )
    )
    views = views_of(session, pending)
    return [
        row
        for row, view in zip(pending, views, strict=True)
        if view.participant_id == participant_id
    ]


def _check_withdrawal(tx: Tx, row: DataQuery, note: str) -> None:
    """A query not yet answered is closed only by whoever raised it, withdrawing it with a
    reason; an edit check's query is answered by the site first (it asks about the data)."""
    if row.opened_by != tx.ctx.username:
        raise RuleViolation(
            "query.unanswered", field="query_id", query_id=row.id, opened_by=row.opened_by
        )
    meaningful_reason(note, "withdrawing a query", field="note")


def _query(tx: Tx, query_id: int) -> DataQuery:
    """The query, refused (as not found) when it is on another site's record."""
    row = tx.session.get(DataQuery, query_id)
    if row is None or not _visible(tx.ctx, _view(tx.session, row)):
        raise NotFoundError("record.not_found", table="data_queries", row_id=query_id)
    return row


def _visible(ctx: Context, view: QueryView) -> bool:
    return visible(ctx, view)


def _view(session: Session, query: DataQuery) -> QueryView:
    return views_of(session, [query])[0]


def _site_of(session: Session, record: Audited) -> int | None:
    participant_id = participant_of_record(session, record)
    if participant_id is not None:
        participant = session.get(Participant, participant_id)
        return participant.site_id if participant is not None else None
    if isinstance(record, Site):
        return record.id
    site_id = getattr(record, "site_id", None)
    return int(site_id) if site_id is not None else None


def _writable_record(tx: Tx, entity: str, row_id: int) -> None:
    """The queried record exists, is of a site the user works on, and its participant (if
    any) is not locked."""
    if entity not in QUERYABLE_TABLES:  # accounts, sites, identity, the trail's own tables
        raise RuleViolation(
            "record.no_table", field="entity", entity=entity, tables=sorted(QUERYABLE_TABLES)
        )
    record = get_row(tx.session, trial_table(entity), row_id)
    participant_id = participant_of_record(tx.session, record)
    if participant_id is not None:
        writable_participant(tx, participant_id, via=(entity, row_id))
        return
    site_id = _site_of(tx.session, record)
    if not tx.ctx.may_access(site_id) or (site_id is None and tx.ctx.site_id is not None):
        raise NotFoundError("record.not_found", table=entity, row_id=row_id)
