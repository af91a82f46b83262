"""Every record kept on a participant, field by field: what a monitor checks against the source
documents and raises a query on (a query names a table, a record and a field)."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
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
from endotrial.store.audit import audited_fields

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
class FieldValue:
    name: str
    value: str | None
    """As text: a date in ISO form, a coded value by its code; None when not recorded."""


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
        return records_of(tx.session, participant_id)


def records_of(session: Session, participant_id: int) -> tuple[RecordView, ...]:
    views: list[RecordView] = []
    for model in RECORD_TABLES:
        views += [_view(row) for row in session.scalars(_rows_of(model, participant_id))]
    return tuple(views)


def records_digest(session: Session, participant_id: int) -> str:
    """SHA-256 of her records as shown (canonical JSON): what an electronic signature is bound
    to, so anyone can check that what was signed is what is there."""
    canonical = [
        [r.entity, r.row_id, [[f.name, f.value] for f in r.fields]]
        for r in records_of(session, participant_id)
    ]
    text = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _rows_of(model: type[Audited], participant_id: int) -> Select[Any]:
    if model is Participant:
        return select(Participant).where(Participant.id == participant_id)
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
