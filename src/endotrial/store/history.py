"""One field's history as a coordinator asks for it: table and field checked by name.

`field_history` answers any (table, row, field) with a list, empty when nothing matches; a user
typing a table or field name needs a misspelling refused (with the names that exist) and an
empty history told apart from a record the trail has never seen.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlalchemy import Engine, exists, select

from endotrial.errors import InputError
from endotrial.store import models as _models  # noqa: F401  (maps every audited table)
from endotrial.store.audit import (
    AuditEntry,
    FieldChange,
    audited_fields,
    audited_models,
    field_history,
)


@dataclass(frozen=True)
class RecordFieldHistory:
    """The changes of one field of one record, oldest first, and whether the trail knows the
    record at all (a wrong id and an unchanged field both give no changes)."""

    entity: str
    row_id: str
    field: str
    changes: tuple[FieldChange, ...]
    record_known: bool


def _fields_by_table() -> dict[str, tuple[str, ...]]:
    """Each audited table with the fields its trail records, tables sorted by name."""
    return {name: tuple(audited_fields(model)) for name, model in audited_models().items()}


def record_field_history(
    engine: Engine, entity: str, row_id: int | str, field: str
) -> RecordFieldHistory:
    """The history of `entity` #`row_id` `field`; an unknown table or field is refused with the
    names that exist (and the closest one), a row id that is not a number too."""
    tables = _fields_by_table()
    if entity not in tables:
        raise InputError(
            f"no audited table '{entity}'{_did_you_mean(entity, tables)}: the tables are "
            + ", ".join(tables)
        )
    fields = tables[entity]
    if field not in fields:
        raise InputError(
            f"table {entity} has no field '{field}'{_did_you_mean(field, fields)}: its fields "
            "are " + ", ".join(fields)
        )
    row = str(row_id).strip()
    if not row.isdigit():
        raise InputError(f"row id '{row_id}' is not a record id: give the number, e.g. 12")
    row = str(int(row))
    changes = tuple(field_history(engine, entity, row, field))
    known = bool(changes) or _record_in_trail(engine, entity, row)
    return RecordFieldHistory(entity, row, field, changes, known)


def _record_in_trail(engine: Engine, entity: str, row_id: str) -> bool:
    query = select(exists().where(AuditEntry.entity == entity, AuditEntry.row_id == row_id))
    with engine.connect() as connection:
        return bool(connection.scalar(query))


def _did_you_mean(name: str, choices: tuple[str, ...] | dict[str, tuple[str, ...]]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
