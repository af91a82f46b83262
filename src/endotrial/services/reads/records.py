"""Every record kept on a participant, field by field: what a monitor checks against the source
documents and raises a query on (a query names a table, a record and a field)."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import BindParameter, Executable, Integer, Select, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from endotrial.services._common import readable_participant
from endotrial.services._input import as_id
from endotrial.services.context import Actor, Study, reading
from endotrial.services.permissions import Operation
from endotrial.store import (
    AdverseEvent,
    Allocation,
    Audited,
    Consent,
    Cycle,
    EmbryoTransfer,
    Measurement,
    MedicationRecord,
    Participant,
    PregnancyOutcome,
    Procedure,
    ProtocolDeviation,
    TransferredEmbryo,
    Ultrasound,
    Visit,
    Withdrawal,
)
from endotrial.store.audit import AuditEntry, audited_fields

#: Her tables, in the order of her course through the trial. Not shown: who she is (identity
#: tables), her screening (the screening log shows it), queries and the lock (shown apart).
RECORD_TABLES: tuple[type[Audited], ...] = (
    Participant,
    Consent,
    Allocation,
    Cycle,
    MedicationRecord,
    Ultrasound,
    Procedure,
    Visit,
    Measurement,
    EmbryoTransfer,
    TransferredEmbryo,
    PregnancyOutcome,
    AdverseEvent,
    ProtocolDeviation,
    Withdrawal,
)
#: Links between records, not data anyone enters or checks.
_LINK_FIELDS = frozenset({"participant_id", "person_id", "screening_id", "site_id"})


@dataclass(frozen=True)
class FieldChangeView:
    """One step of a field's audit history: who, when, what (old and new value) and why."""

    occurred_at: dt.datetime
    username: str
    action: str
    """insert, update or delete."""
    old_value: str | None
    new_value: str | None
    reason: str | None


@dataclass(frozen=True)
class FieldValue:
    name: str
    value: str | None
    """As text: a date in ISO form, a coded value by its code; None when not recorded."""
    history: tuple[FieldChangeView, ...] = ()
    """Its audit trail, oldest first (filled by `participant_records`)."""


@dataclass(frozen=True)
class RecordView:
    entity: str
    """The table (what a query names)."""
    row_id: int
    fields: tuple[FieldValue, ...]


def participant_records(study: Study, actor: Actor, participant_id: int) -> tuple[RecordView, ...]:
    """Her records, table by table in RECORD_TABLES order, oldest first within a table;
    another site's participant is not found."""
    participant_id = as_id(participant_id, "participant_id")
    with reading(study, actor, Operation.READ_PARTICIPANTS) as tx:
        readable_participant(tx, participant_id)
        return records_with_history(tx.session, participant_id)


def records_with_history(session: Session, participant_id: int) -> tuple[RecordView, ...]:
    """Her records, each field with its changes from the trail."""
    return with_history(session, records_of(session, participant_id))


def with_history(session: Session, records: tuple[RecordView, ...]) -> tuple[RecordView, ...]:
    """These records, each field with its changes from the trail."""
    histories = _histories(session, records)
    return tuple(
        replace(r, fields=tuple(
            replace(f, history=histories.get((r.entity, str(r.row_id), f.name), ()))
            for f in r.fields
        ))
        for r in records
    )  # fmt: skip


def _histories(
    session: Session, records: tuple[RecordView, ...]
) -> dict[tuple[str, str, str], tuple[FieldChangeView, ...]]:
    """The trail's entries on her records' fields, read in one statement whatever the number
    of her records and tables (columns only: no ORM objects to build for each entry)."""
    found: dict[tuple[str, str, str], list[FieldChangeView]] = {}
    by_table: dict[str, list[str]] = {}
    for record in records:
        by_table.setdefault(record.entity, []).append(str(record.row_id))
    if not by_table:
        return {}
    query = _trail_of(tuple(by_table))
    ids = {f"ids_{n}": row_ids for n, row_ids in enumerate(by_table.values())}
    for entity, row_id, field, on, username, action, old, new, reason in session.execute(
        query, ids
    ):
        change = FieldChangeView(on, username, action, _trail_text(old), _trail_text(new), reason)
        found.setdefault((entity, row_id, str(field)), []).append(change)
    return {key: tuple(changes) for key, changes in found.items()}


@functools.lru_cache(maxsize=256)
def _trail_of(tables: tuple[str, ...]) -> Executable:
    """The trail's field entries on rows of `tables`, each table's row ids bound as
    `ids_<its place>`: built once per set of tables, as building it costs more than running
    it (a participant's tables are one of a few sets)."""
    whose = or_(*(
        and_(AuditEntry.entity == entity, AuditEntry.row_id.in_(_ids(f"ids_{n}")))
        for n, entity in enumerate(tables)
    ))  # fmt: skip
    return (
        select(*_TRAIL_COLUMNS).where(AuditEntry.field.is_not(None), whose).order_by(AuditEntry.seq)
    )


def _ids(name: str) -> BindParameter[Any]:
    return bindparam(name, expanding=True)


_TRAIL_COLUMNS = (
    AuditEntry.entity, AuditEntry.row_id, AuditEntry.field, AuditEntry.occurred_at,
    AuditEntry.username, AuditEntry.action, AuditEntry.old_value, AuditEntry.new_value,
    AuditEntry.reason,
)  # fmt: skip


def _trail_text(encoded: str | None) -> str | None:
    """A value as the trail holds it (JSON), as text like the record's own."""
    if encoded is None:
        return None
    value = json.loads(encoded)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return None if value is None else str(value)


def records_of(session: Session, participant_id: int) -> tuple[RecordView, ...]:
    return views_of_rows(her_rows(session, participant_id))


def her_rows(session: Session, participant_id: int) -> tuple[Audited, ...]:
    """Her rows of every table of RECORD_TABLES, in its order, oldest first within a table:
    what her page reads once and shows as records, counts, timeline and outcomes."""
    rows: list[Audited] = []
    for model in RECORD_TABLES:
        if model is Participant:  # read already by whoever checked she may be read
            rows += [session.get_one(Participant, participant_id)]
        else:
            rows += session.scalars(_rows_of(model), {"participant_id": participant_id})
    return tuple(rows)


def views_of_rows(rows: Sequence[Audited]) -> tuple[RecordView, ...]:
    return tuple(_view(row) for row in rows)


def records_digest(session: Session, participant_id: int) -> str:
    """SHA-256 of her records as shown (canonical JSON): what an electronic signature is bound
    to, so anyone can check that what was signed is what is there."""
    return digest_of(records_of(session, participant_id))


def digest_of(records: Sequence[RecordView]) -> str:
    """SHA-256 of these records' values (their histories are not part of what is signed)."""
    canonical = [[r.entity, r.row_id, [[f.name, f.value] for f in r.fields]] for r in records]
    text = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def _rows_of(model: type[Audited]) -> Select[Any]:
    """Her rows of `model` (built once per table: building a statement costs more than
    running it on one participant), the participant's id bound as `participant_id`."""
    participant_id = bindparam("participant_id", type_=Integer())
    if model is TransferredEmbryo:
        transfers = select(EmbryoTransfer.id).where(EmbryoTransfer.participant_id == participant_id)
        return (
            select(TransferredEmbryo)
            .where(TransferredEmbryo.transfer_id.in_(transfers))
            .order_by(TransferredEmbryo.id)
        )
    owner = model.__table__.c.participant_id
    return select(model).where(owner == participant_id).order_by(model.__table__.c.id)


def _view(row: Audited) -> RecordView:
    fields = tuple(
        FieldValue(name, _as_text(getattr(row, name)))
        for name in audited_fields(type(row))
        if name not in _LINK_FIELDS and name not in row.__audit_redacted__
    )
    return RecordView(entity=type(row).__tablename__, row_id=int(row.id), fields=fields)


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.datetime):  # stored in UTC (naive where the database drops zones)
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
