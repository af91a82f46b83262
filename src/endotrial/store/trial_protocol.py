"""The protocol a trial database runs, as recorded in it (`TrialProtocol`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import Connection, Table, inspect, select
from sqlalchemy.orm import Session

from endotrial.protocol.models import Protocol
from endotrial.store.models import TrialProtocol

_TABLE: Table = TrialProtocol.__table__  # type: ignore[assignment]


def protocol_sha256(protocol: Protocol) -> str:
    """The sha256 of the validated protocol's canonical form: its values that differ from the
    model's defaults, as JSON with sorted keys. Re-indenting the YAML, reordering its keys or
    editing its comments leaves it as it is; so does a later endotrial that adds an optional
    field (whose default the file does not set). What the database records, and what the
    services and the report compare with it."""
    values = protocol.model_dump(mode="json", exclude_defaults=True)
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class RecordedProtocol:
    """The protocol the database runs: the highest sequence recorded (1 = as set up)."""

    sequence: int
    protocol_id: str
    format_version: int
    content_sha256: str
    recorded_at: dt.datetime

    def __str__(self) -> str:
        return (
            f"protocol {self.protocol_id} (format {self.format_version}, content sha256 "
            f"{self.content_sha256[:16]}…, recorded {self.recorded_at:%Y-%m-%d %H:%M} UTC)"
        )


def recorded_protocol(connection: Connection | Session) -> RecordedProtocol | None:
    """The protocol recorded in the database, or None when none is (a database set up before
    revision 0005 until its first write, or one without the table: an older revision)."""
    bind = connection.connection() if isinstance(connection, Session) else connection
    if not inspect(bind).has_table(_TABLE.name):
        return None
    row = connection.execute(
        select(
            _TABLE.c.sequence,
            _TABLE.c.protocol_id,
            _TABLE.c.format_version,
            _TABLE.c.content_sha256,
            _TABLE.c.recorded_at,
        )
        .order_by(_TABLE.c.sequence.desc())
        .limit(1)
    ).first()
    return None if row is None else RecordedProtocol(*row)
