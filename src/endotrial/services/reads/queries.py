"""Data queries as their readers see them: typed views, limited to the reader's sites.

A query names a table and a row; whose it is (participant, site) is read for all queries of a
table at once, so a site's list costs a few queries whatever its length.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    cast,
    null,
    or_,
    select,
)
from sqlalchemy.orm import Session

from endotrial.services._common import readable_participant
from endotrial.services._input import as_id
from endotrial.services.context import Actor, Context, Study, Tx, reading
from endotrial.services.errors import InvalidInput
from endotrial.services.permissions import Operation
from endotrial.store import (
    DataQuery,
    EmbryoTransfer,
    Participant,
    QueryStatus,
    Site,
    TransferredEmbryo,
)
from endotrial.store.audit import audited_models

Owner = tuple[int | None, int | None]
"""(participant id, site id) of the record a query is on; (None, None) when it names none."""


@dataclass(frozen=True)
class QueryView:
    """A query as its readers see it."""

    query_id: int
    entity: str
    row_id: str
    field: str
    text: str
    status: QueryStatus
    opened_by: str
    opened_at: dt.datetime
    answer: str | None
    answered_by: str | None
    answered_at: dt.datetime | None
    closed_at: dt.datetime | None
    participant_id: int | None
    site_id: int | None


def data_queries(
    study: Study,
    actor: Actor,
    *,
    status: QueryStatus | None = None,
    entity: str | None = None,
    participant_id: int | None = None,
) -> tuple[QueryView, ...]:
    """The queries on records of the reader's sites, oldest first; optionally of one status,
    one table and one participant (another site's participant is not found)."""
    wanted = checked_status(status)
    if entity is not None and not isinstance(entity, str):
        raise InvalidInput("input.invalid", field="entity", what="entity", problems="give a table")
    if participant_id is not None:
        participant_id = as_id(participant_id, "participant_id")
    with reading(study, actor, Operation.READ_QUERIES) as tx:
        if participant_id is None:
            return queries_of(tx, status=wanted, entity=entity)
        participant = readable_participant(tx, participant_id)
        return her_queries(tx.session, participant, status=wanted, entity=entity)


def queries_of(
    tx: Tx, *, status: QueryStatus | None = None, entity: str | None = None
) -> tuple[QueryView, ...]:
    """The queries the reader may see, filtered as `data_queries` describes."""
    views = views_of(tx.session, list(tx.session.scalars(_filtered(status, entity))))
    return tuple(v for v in views if visible(tx.ctx, v))


def her_queries(
    session: Session,
    participant: Participant,
    *,
    status: QueryStatus | None = None,
    entity: str | None = None,
) -> tuple[QueryView, ...]:
    """The queries on her records (a participant the reader may read), in one statement: the
    database picks them out, not this process from every query of the trial."""
    statement = (
        _all_hers()
        if status is None and entity is None
        else _filtered(status, entity).where(_on_records_of_hers())
    )
    owner = (participant.id, participant.site_id)
    found = session.scalars(statement, {"participant_id": participant.id})
    return tuple(view(q, owner) for q in found)


def _filtered(status: QueryStatus | None, entity: str | None) -> Select[DataQuery]:
    statement = select(DataQuery).order_by(DataQuery.id)
    if status is not None:
        statement = statement.where(DataQuery.status == status)
    if entity is not None:
        statement = statement.where(DataQuery.entity == entity[:64])
    return statement


@functools.cache
def _all_hers() -> Select[DataQuery]:
    """Every query on her records (her page's): one statement object, so its cache key is
    made once."""
    return _filtered(None, None).where(_on_records_of_hers())


@functools.cache
def _on_records_of_hers() -> ColumnElement[bool]:
    """A query is on a record of hers (her id bound as `participant_id`): the record's table
    holds her id, as `owners_of` reads whose a record is; built once, as it names every
    table."""
    hers = bindparam("participant_id", type_=Integer())
    tables: list[ColumnElement[bool]] = [
        and_(DataQuery.entity == Participant.__tablename__, DataQuery.row_id == cast(hers, String))
    ]
    for name, model in audited_models().items():
        table = model.__table__
        if model is TransferredEmbryo:
            ids = (
                select(cast(table.c.id, String))
                .join(EmbryoTransfer, EmbryoTransfer.id == TransferredEmbryo.transfer_id)
                .where(EmbryoTransfer.participant_id == hers)
            )
        elif "participant_id" in table.c:
            ids = select(cast(table.c.id, String)).where(table.c.participant_id == hers)
        else:
            continue
        tables.append(and_(DataQuery.entity == name, DataQuery.row_id.in_(ids)))
    return or_(*tables)


def checked_status(status: object) -> QueryStatus | None:
    if status is None:
        return None
    try:
        return QueryStatus(str(status))
    except ValueError:
        known = [s.value for s in QueryStatus]
        raise InvalidInput(
            "input.invalid", field="status", what="status", problems=f"use one of {known}"
        ) from None


def visible(ctx: Context, view: QueryView) -> bool:
    """Central staff see every query; site staff those on their site's records."""
    return ctx.site_ids is None or (view.site_id is not None and ctx.may_access(view.site_id))


def views_of(session: Session, rows: Sequence[DataQuery]) -> list[QueryView]:
    owners = owners_of(session, [(q.entity, q.row_id) for q in rows])
    return [view(q, owners.get((q.entity, q.row_id), (None, None))) for q in rows]


def view(query: DataQuery, owner: Owner) -> QueryView:
    return QueryView(
        query_id=query.id,
        entity=query.entity,
        row_id=query.row_id,
        field=query.field,
        text=query.text,
        status=query.status,
        opened_by=query.opened_by,
        opened_at=query.opened_at,
        answer=query.answer,
        answered_by=query.answered_by,
        answered_at=query.answered_at,
        closed_at=query.closed_at,
        participant_id=owner[0],
        site_id=owner[1],
    )


def owners_of(session: Session, records: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Owner]:
    """Whose each (table, row id) is, read table by table: the participant's site for a
    participant's record, the record's own site otherwise (a site, an account, a screening
    before consent)."""
    by_table: defaultdict[str, set[int]] = defaultdict(set)
    for entity, row_id in records:
        if row_id.isdigit():
            by_table[entity].add(int(row_id))
    models = audited_models()
    found: dict[tuple[str, str], Owner] = {}
    for entity, ids in by_table.items():
        model = models.get(entity)
        if model is not None:
            for number, participant_id, site_id in _owner_rows(session, model, sorted(ids)):
                found[(entity, str(number))] = (participant_id, site_id)
    sites = _participant_sites(session, {p for p, _ in found.values() if p is not None})
    return {
        record: (participant_id, sites.get(participant_id) if participant_id else site_id)
        for record, (participant_id, site_id) in found.items()
    }


def _owner_rows(
    session: Session, model: type, ids: list[int]
) -> Iterable[tuple[int, int | None, int | None]]:
    """(row id, participant id, site id) of each existing row of `model`."""
    table = model.__table__  # type: ignore[attr-defined]
    query: Select[Any, Any, Any]
    if model is Participant:
        query = select(Participant.id, Participant.id, Participant.site_id)
    elif model is TransferredEmbryo:
        query = select(TransferredEmbryo.id, EmbryoTransfer.participant_id, null()).join(
            EmbryoTransfer, EmbryoTransfer.id == TransferredEmbryo.transfer_id
        )
    elif model is Site:
        query = select(Site.id, null(), Site.id)
    else:
        participant = table.c.get("participant_id")
        site = table.c.get("site_id")
        query = select(
            table.c.id,
            participant if participant is not None else null(),
            site if site is not None else null(),
        )
    for row_id, participant_id, site_id in session.execute(query.where(table.c.id.in_(ids))):
        yield int(row_id), _int(participant_id), _int(site_id)


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


def _participant_sites(session: Session, ids: set[int]) -> dict[int, int]:
    if not ids:
        return {}
    query = select(Participant.id, Participant.site_id).where(Participant.id.in_(sorted(ids)))
    return {pid: site_id for pid, site_id in session.execute(query)}


def pending_queries(session: Session, participant_ids: Sequence[int]) -> list[QueryView]:
    """Queries not yet closed on any record of these participants, oldest first."""
    wanted = set(participant_ids)
    rows = list(
        session.scalars(
            select(DataQuery).where(DataQuery.status != QueryStatus.CLOSED).order_by(DataQuery.id)
        )
    )
    return [v for v in views_of(session, rows) if v.participant_id in wanted]


def pending_query_counts(session: Session, participant_ids: Sequence[int]) -> Counter[int]:
    return Counter(
        v.participant_id
        for v in pending_queries(session, participant_ids)
        if v.participant_id is not None
    )
