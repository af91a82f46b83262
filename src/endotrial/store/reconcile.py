"""Reconcile the trial's tables with the audit trail: a value changed, a row added or a row
removed by raw SQL (outside the application, so never audited) shows up here.

The chain check (`verify_audit_chain`) proves the trail itself is untouched; this check proves
the data still equal what the trail says was entered. Together they make an edit anywhere
visible.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from endotrial.store.audit import (
    REDACTED,
    AuditChainHead,
    AuditEntry,
    audited_columns,
    audited_models,
    audited_value,
    canonical_json,
)
from endotrial.store.base import Audited

_Key = tuple[str, str]  # (table, row id)


@dataclass(frozen=True)
class Mismatch:
    entity: str
    row_id: str
    field: str | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.entity} #{self.row_id}" + (f" {self.field}" if self.field else "")
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class Reconciliation:
    rows_checked: int
    mismatches: tuple[Mismatch, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def __str__(self) -> str:
        if self.ok:
            return f"data match the audit trail ({self.rows_checked} records)"
        shown = "\n".join(f"  {m}" for m in self.mismatches[:20])
        more = len(self.mismatches) - 20
        tail = f"\n  ... and {more} more" if more > 0 else ""
        return (
            f"data differ from the audit trail in {len(self.mismatches)} place(s), changed "
            f"outside the application:\n{shown}{tail}"
        )


def reconcile_with_trail(engine: Engine) -> Reconciliation:
    """Replay the trail to the values it says each record holds, and compare with the tables."""
    expected = _replayed(engine)
    mismatches: list[Mismatch] = []
    rows_checked = 0
    for model in audited_models().values():
        for key, record in _records(engine, model):
            rows_checked += 1
            recorded = expected.pop(key, None)
            if isinstance(record, str):
                problem = f"holds a value the application cannot read ({record}): changed outside"
                mismatches.append(Mismatch(*key, None, problem))
            else:
                mismatches.extend(_compare(key, recorded, record))
    for (entity, row_id), _fields in sorted(expected.items()):
        problem = "entered through the application but no longer in the table (deleted outside)"
        mismatches.append(Mismatch(entity, row_id, None, problem))
    return Reconciliation(rows_checked, tuple(mismatches))


_UNREADABLE = (LookupError, ValueError, TypeError, StatementError)


def _records(engine: Engine, model: type[Audited]) -> Iterator[tuple[_Key, Audited | str]]:
    """Every record of the table, or for one the ORM cannot load (a value no column type
    accepts, put there by raw SQL) the reason, instead of stopping the whole check."""
    entity = model.__tablename__
    try:
        with Session(engine) as session:
            records = list(session.scalars(select(model)))
    except _UNREADABLE:
        yield from _records_one_by_one(engine, model)
        return
    for record in records:
        yield (entity, str(record.id)), record


def _records_one_by_one(
    engine: Engine, model: type[Audited]
) -> Iterator[tuple[_Key, Audited | str]]:
    with engine.connect() as connection:
        ids = [row[0] for row in connection.execute(select(model.__table__.c.id))]
    for row_id in ids:
        key = (model.__tablename__, str(row_id))
        try:
            with Session(engine) as session:
                record = session.get(model, row_id)
        except _UNREADABLE as error:
            yield key, _reason(error)
            continue
        if record is not None:
            yield key, record


def _reason(error: Exception) -> str:
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__


def _replayed(engine: Engine) -> dict[_Key, dict[str, Any]]:
    """Each live record's fields as the trail last recorded them (decoded JSON)."""
    records: dict[_Key, dict[str, Any]] = {}
    table = cast(Table, AuditEntry.__table__)
    head = cast(Table, AuditChainHead.__table__)
    query = (
        select(table.c.action, table.c.entity, table.c.row_id, table.c.field, table.c.new_value)
        # Only entries up to the recorded tip: rows past it are not the trail (verify names
        # them); a forger appending "corrections" there would otherwise whitewash the data.
        .where(table.c.seq <= select(head.c.last_seq).scalar_subquery())
        .order_by(table.c.seq)
    )
    with engine.connect() as connection:
        for action, entity, row_id, field, new_value in connection.execute(
            query.execution_options(yield_per=5000)
        ):
            key = (entity, row_id)
            if action == "delete":
                records.pop(key, None)
            elif field is not None:
                records.setdefault(key, {})[field] = _decoded(new_value)
    return records


def _compare(key: _Key, recorded: dict[str, Any] | None, record: Audited) -> Iterator[Mismatch]:
    entity, row_id = key
    if recorded is None:
        problem = "not in the audit trail: added outside the application"
        yield Mismatch(entity, row_id, None, problem)
        return
    for name in audited_columns(record):
        actual = _decoded(_encoded(record, name))
        if name in recorded and not _same(recorded[name], actual):
            problem = f"the trail says {recorded[name]!r}, the table holds {actual!r}"
            yield Mismatch(entity, row_id, name, problem)


def _encoded(record: Audited, name: str) -> str | None:
    """The value as the trail encodes it (a redacted column as a digest of its value)."""
    value = audited_value(record, name, getattr(record, name))
    return None if value is None else canonical_json(value)


def _same(recorded: Any, actual: Any) -> bool:
    """Equal values; a bare redaction marker (trails written before digests were recorded)
    cannot be compared, so it is taken as equal."""
    if recorded == REDACTED and isinstance(actual, str) and actual.startswith(REDACTED):
        return True
    return bool(recorded == actual)


def _decoded(text: str | None) -> Any:
    """Compare decoded values, so 6 and 6.0 (an int stored in a float column) are equal."""
    return None if text is None else json.loads(text)
