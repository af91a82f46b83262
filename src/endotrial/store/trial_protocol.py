"""The protocol a trial database runs, as recorded in it (`TrialProtocol`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Table, inspect, select
from sqlalchemy.orm import Session

from endotrial.store.models import TrialProtocol

_TABLE: Table = TrialProtocol.__table__  # type: ignore[assignment]


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
