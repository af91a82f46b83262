"""The audit trail: who changed what, when, from what to what, and why, for every trial-data write.

It is written by session events, not by services, so no code path can forget it: `before_flush`
checks the rules (a reason for any change to data already entered; audit rows never edited) and
captures old values; `after_flush` (when new rows have their ids) appends one audit row per field.
Rows are hash-chained (sha256 of previous hash + canonical JSON of the row), and appends are
serialized through the single `audit_chain_head` row, so concurrent transactions cannot fork the
chain and any edit, removal or reordering done outside the application is detectable.
"""

import enum
import hashlib
import json
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final, cast

from sqlalchemy import (
    BigInteger,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    event,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, SessionTransaction, mapped_column
from sqlalchemy.orm.state import InstanceState
from sqlalchemy.sql import Delete, Insert, Update

from endotrial.store.base import Audited, Base
from endotrial.store.errors import AuditError, ReasonRequiredError
from endotrial.store.types import UTCDateTime, utc_now

GENESIS_HASH: Final = "0" * 64
REDACTED: Final = "<redacted>"
USER_KEY: Final = "endotrial.user"
#: The acting account's id (0 while the first account is being set up).
USER_ID_KEY: Final = "endotrial.user_id"
REASON_KEY: Final = "endotrial.reason"
#: The sessions `unit_of_work` opened, with their proven acting user: the only sessions that
#: write trial data. Kept here, not in `session.info`, which any caller can set.
_WRITERS: weakref.WeakKeyDictionary[Session, str] = weakref.WeakKeyDictionary()
#: Set by `read_session`: nothing at all may be written.
READ_ONLY_KEY: Final = "endotrial.read_only"
#: The trial's keys (store.keys.TrialKeys), set by `unit_of_work`: every entry gets its MAC.
KEYS_KEY: Final = "endotrial.keys"
#: (seq, hash) of the last entry this transaction appended: signed as a checkpoint on commit.
APPENDED_KEY: Final = "endotrial.appended"
_PENDING_KEY: Final = "endotrial.audit_pending"
_ENTERED_KEY: Final = "endotrial.entered_here"
_TIP_KEY: Final = "endotrial.chain_tip"
#: (table, id) of the existing records the flush in progress updates or deletes (named on conflict).
TOUCHED_KEY: Final = "endotrial.touched"
_SKIPPED_COLUMNS: Final = frozenset({"id", "version"})


class AuditEntry(Base):
    """One changed field of one record (or one whole-record event). Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity_row", "entity", "row_id", "field"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(8))
    entity: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str | None] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    #: HMAC of the hash with the trial's key (kept outside the database): only its holder can
    #: extend the chain. None on entries written before revision 0004 introduced the keys.
    mac: Mapped[str | None] = mapped_column(String(64))


class TrailKeys(Base):
    """Which keys the trail is bound to (public parts only: the keys are in the key file)."""

    __tablename__ = "trail_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    database_id: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str] = mapped_column(String(64))
    first_keyed_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditChainHead(Base):
    """The single row holding the chain's tip; locking it serializes appends across connections."""

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


_AUDIT_LOG = cast(Table, AuditEntry.__table__)
_CHAIN_HEAD = cast(Table, AuditChainHead.__table__)

# Built once: constructing statements per flush is a measurable part of the trail's cost.
_INSERT_ENTRIES = insert(_AUDIT_LOG)
_LOCK_HEAD = (
    update(_CHAIN_HEAD)
    .where(_CHAIN_HEAD.c.id == 1)
    .values(last_seq=_CHAIN_HEAD.c.last_seq)
    .returning(_CHAIN_HEAD.c.last_seq, _CHAIN_HEAD.c.last_hash)
)
_MOVE_HEAD = (
    update(_CHAIN_HEAD)
    .where(_CHAIN_HEAD.c.id == 1)
    .values(last_seq=bindparam("new_seq"), last_hash=bindparam("new_hash"))
)

_READ_HEAD = select(_CHAIN_HEAD.c.last_seq, _CHAIN_HEAD.c.last_hash).where(_CHAIN_HEAD.c.id == 1)


def trail_tip(session: Session) -> tuple[int, str] | None:
    """The chain's tip as committed (read, not locked): its last entry's number and hash, a
    digest of every audited change so far (None before the first). Every audited write moves
    it in its own transaction, under the lock all writers queue for."""
    row = session.execute(_READ_HEAD).first()
    return None if row is None else (int(row[0]), str(row[1]))


# --------------------------------------------------------------------------- canonical values


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # the table keeps UTC, so the trail records UTC too
            value = value.astimezone(UTC)
        return value.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot put a {type(value).__name__} in the audit trail")


def canonical_json(value: Any) -> str:
    """One text per value (sorted keys, no spaces, UTF-8), so hashes are reproducible."""
    return json.dumps(
        value, default=_json_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def _encode(value: Any) -> str | None:
    return None if value is None else canonical_json(value)


def entry_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """sha256 of the previous hash followed by the canonical JSON of the row's own content."""
    content = {k: row[k] for k in _HASHED_FIELDS}
    content["occurred_at"] = row["occurred_at"].isoformat(timespec="microseconds")
    return hashlib.sha256((prev_hash + canonical_json(content)).encode()).hexdigest()


_HASHED_FIELDS: Final = (
    "seq",
    "occurred_at",
    "username",
    "action",
    "entity",
    "row_id",
    "field",
    "old_value",
    "new_value",
    "reason",
)


# --------------------------------------------------------------------------- capturing changes


@dataclass
class _Change:
    """A change seen before the flush; insert ids are only known after it."""

    action: str
    obj: Audited
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)
    row_id: str = ""


def audited_models() -> dict[str, type[Audited]]:
    """Every audited table's model, by table name (sorted): the tables the trail covers."""
    models = {
        m.class_.__tablename__: m.class_
        for m in Audited.registry.mappers
        if issubclass(m.class_, Audited)
    }
    return dict(sorted(models.items()))


def audited_fields(model: type[Audited]) -> list[str]:
    """The columns the trail records for a table (not the id or the version counter)."""
    return [a.key for a in inspect(model).column_attrs if a.key not in _SKIPPED_COLUMNS]


def audited_columns(obj: Audited) -> list[str]:
    """The columns the trail records for a record."""
    return audited_fields(type(obj))


def audited_value(obj: Audited, key: str, value: Any) -> Any:
    """The value as the trail records it. A redacted column (a password hash) is recorded as a
    short digest of its value: never the value, yet a swap outside the application shows."""
    if value is None or key not in obj.__audit_redacted__:
        return value
    return f"{REDACTED} sha256:{hashlib.sha256(str(value).encode()).hexdigest()[:16]}"


def _identity(obj: Audited) -> str:
    return f"{obj.__tablename__} #{obj.id}"


def _updated_fields(obj: Audited) -> list[tuple[str, Any, Any]]:
    state: InstanceState[Any] = inspect(obj)
    changed = []
    for key in audited_columns(obj):
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old != new:
            changed.append((key, audited_value(obj, key, old), audited_value(obj, key, new)))
    return changed


def _deleted_fields(obj: Audited) -> list[tuple[str, Any, Any]]:
    return [(key, audited_value(obj, key, getattr(obj, key)), None) for key in audited_columns(obj)]


def _require_reason(session: Session, change: _Change) -> None:
    """Data already entered (in an earlier transaction) may only change with a stated reason."""
    entered_here: set[tuple[str, int]] = session.info.setdefault(_ENTERED_KEY, set())
    if (change.obj.__tablename__, change.obj.id) in entered_here:
        return
    if not (session.info.get(REASON_KEY) or "").strip():
        what = ", ".join(name for name, _, _ in change.fields) or "the whole record"
        raise ReasonRequiredError(
            f"{change.action} of {_identity(change.obj)} ({what}) needs a reason: data already "
            "entered can only be changed or deleted with a reason for the audit trail; "
            "give one (e.g. 'transcription error, source document p.3') and save again"
        )


def _refuse_audit_edits(session: Session) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEntry | AuditChainHead | TrailKeys):
            raise AuditError("audit trail entries are append-only and cannot be changed")
    for obj in session.new:
        if isinstance(obj, AuditEntry | AuditChainHead | TrailKeys):
            raise AuditError("audit trail entries are written by the store only, never added")


def _refuse_unchecked_writes(session: Session) -> None:
    """Trial data change only in a unit of work (a signed-in user, through the services); a
    read session changes nothing at all."""
    pending = (*session.new, *session.dirty, *session.deleted)
    if session.info.get(READ_ONLY_KEY) and pending:
        raise AuditError("this session only reads: nothing may be written through it")
    if session not in _WRITERS and any(isinstance(o, Audited) for o in pending):
        raise AuditError(
            "trial data are written only through the services (endotrial.services), by a "
            "signed-in team member: nothing was written"
        )


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    """Check the rules and capture old values while every attribute can still be loaded."""
    _refuse_audit_edits(session)
    _refuse_unchecked_writes(session)
    changes: list[_Change] = [_Change("insert", o) for o in session.new if isinstance(o, Audited)]
    for obj in session.dirty:
        if isinstance(obj, Audited) and session.is_modified(obj, include_collections=False):
            change = _Change("update", obj, _updated_fields(obj))
            if change.fields:
                _require_reason(session, change)
                changes.append(change)
    for obj in session.deleted:
        if isinstance(obj, Audited):
            change = _Change("delete", obj, _deleted_fields(obj))
            _require_reason(session, change)
            changes.append(change)

    touched = [(c.obj.__tablename__, c.obj.id) for c in changes if c.action != "insert"]
    for change in changes:
        if change.action != "insert":
            change.row_id = str(change.obj.id)
    session.info[TOUCHED_KEY] = touched
    session.info[_PENDING_KEY] = changes


def _after_flush(session: Session, _context: Any) -> None:
    """Append the captured changes to the chain, now that new rows have their ids."""
    changes: list[_Change] = session.info.pop(_PENDING_KEY, [])
    if not changes:
        return
    entered_here: set[tuple[str, int]] = session.info.setdefault(_ENTERED_KEY, set())
    for change in changes:
        if change.action == "insert":
            obj = change.obj
            change.row_id = str(obj.id)
            state: InstanceState[Any] = inspect(obj)
            change.fields = [
                (key, None, audited_value(obj, key, state.dict.get(key)))
                for key in audited_columns(obj)
            ]
            entered_here.add((obj.__tablename__, obj.id))
    _append(session, changes)


def _lock_chain_head(session: Session) -> tuple[int, str]:
    """Take the chain head's row lock (a write lock on SQLite) and read the tip under it.

    The no-op UPDATE is what locks: on PostgreSQL it holds the row until commit (a concurrent
    appender waits, then reads the tip we leave), and on SQLite it starts the write transaction.
    RETURNING reads the tip in the same statement, so no one can append in between.
    """
    row = session.connection().execute(_LOCK_HEAD).one()
    return int(row.last_seq), str(row.last_hash)


def take_write_lock(session: Session) -> None:
    """Take the write lock first thing in a transaction, before anything is read: every check
    made afterwards sees the latest data and holds until commit (all writers queue here)."""
    session.info[_TIP_KEY] = _lock_chain_head(session)


def _chain_tip(session: Session) -> tuple[int, str]:
    """The tip, read once per transaction: the lock is then ours until commit or rollback."""
    tip: tuple[int, str] | None = session.info.get(_TIP_KEY)
    return tip if tip is not None else _lock_chain_head(session)


def _forget_tip(session: Session, transaction: SessionTransaction) -> None:
    """After a commit, rollback or savepoint end the tip may have moved: read it again."""
    if transaction.nested or transaction.parent is None:
        session.info.pop(_TIP_KEY, None)
    if transaction.nested:  # a savepoint may have been rolled back: sign nothing it appended
        session.info.pop(APPENDED_KEY, None)


def _append(session: Session, changes: Iterable[_Change]) -> None:
    last_seq, last_hash = _chain_tip(session)
    keys = session.info.get(KEYS_KEY)
    if keys is None:
        raise AuditError(
            "no trial keys for this write: the audit trail is extended only with the key file "
            "(open the database through the services)"
        )
    occurred_at = utc_now()
    user = _WRITERS[session]  # proven by the unit of work, never what session.info says
    reason = (session.info.get(REASON_KEY) or "").strip() or None
    rows = []
    for change in changes:
        for name, old, new in change.fields:
            last_seq += 1
            row = {
                "seq": last_seq,
                "occurred_at": occurred_at,
                "username": user,
                "action": change.action,
                "entity": change.obj.__tablename__,
                "row_id": change.row_id,
                "field": name,
                "old_value": _encode(old),
                "new_value": _encode(new),
                "reason": reason,
                "prev_hash": last_hash,
            }
            last_hash = row["hash"] = entry_hash(last_hash, row)
            row["mac"] = keys.mac(last_hash)
            rows.append(row)
    if not rows:
        return
    connection = session.connection()
    connection.execute(_INSERT_ENTRIES, rows)
    connection.execute(_MOVE_HEAD, {"new_seq": last_seq, "new_hash": last_hash})
    session.info[_TIP_KEY] = (last_seq, last_hash)
    session.info[APPENDED_KEY] = (last_seq, last_hash)


def grant_write(session: Session, username: str) -> None:
    """Let `session` write trial data as `username` (for `unit_of_work`, once it has proven
    who acts)."""
    _WRITERS[session] = username


def _refuse_bulk_audit_edits(state: ORMExecuteState) -> None:
    """INSERT, UPDATE and DELETE statements through a session would change rows without the
    flush that records them: refused on the trail's tables and on every audited table (the
    services write record by record)."""
    statement = state.statement
    if not isinstance(statement, Update | Delete | Insert):
        return
    name = getattr(statement.table, "name", None)
    if name in _PROTECTED_TABLES:
        raise AuditError("audit trail entries are append-only and cannot be changed")
    if name in _audited_table_names():
        raise AuditError(
            f"bulk {type(statement).__name__.upper()} on {name} would bypass the audit trail: "
            "trial data are written record by record through the services"
        )


def _audited_table_names() -> frozenset[str]:
    return frozenset(audited_models())


_PROTECTED_TABLES: Final = frozenset({"audit_log", "audit_chain_head", "trail_keys"})


def install_listeners() -> None:
    """Attach the audit events to every Session (done once at import)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _refuse_bulk_audit_edits)
        event.listen(Session, "after_transaction_end", _forget_tip)


def remove_listeners() -> None:
    """Detach the audit events; only for the benchmark's no-trail baseline."""
    if event.contains(Session, "before_flush", _before_flush):
        event.remove(Session, "before_flush", _before_flush)
        event.remove(Session, "after_flush", _after_flush)
        event.remove(Session, "do_orm_execute", _refuse_bulk_audit_edits)
        event.remove(Session, "after_transaction_end", _forget_tip)


install_listeners()


# --------------------------------------------------------------------------- reading the trail


@dataclass(frozen=True)
class ChainVerification:
    """Result of `verify_audit_chain`: ok, or the first broken entry and what is wrong with it."""

    ok: bool
    entries_checked: int
    broken_seq: int | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit trail intact ({self.entries_checked} entries)"
        return f"audit trail broken at entry {self.broken_seq}: {self.problem}"


def _row_dict(entry: Any) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in (*_HASHED_FIELDS, "prev_hash", "hash")}


def _check_entry(row: dict[str, Any], expected_seq: int, prev_hash: str) -> str | None:
    if row["seq"] != expected_seq:
        return (
            f"entry {expected_seq} is missing (next stored entry is {row['seq']}): "
            "entries were removed or renumbered"
        )
    if row["prev_hash"] != prev_hash:
        return "its link to the previous entry does not match: entries were removed or reordered"
    if entry_hash(prev_hash, row) != row["hash"]:
        return "its content does not match its hash: the entry was altered"
    return None


def verify_audit_chain(engine: Engine) -> ChainVerification:
    """Re-walk the whole chain from the genesis hash; report the first entry that does not fit.

    Only entries up to the head read first are checked, so appends committed while the walk
    runs are neither false alarms nor missed (they are checked next time).
    """
    with engine.connect() as connection:
        head = connection.execute(select(_CHAIN_HEAD)).one()
        result = connection.execute(
            select(_AUDIT_LOG)
            .where(_AUDIT_LOG.c.seq <= head.last_seq)
            .order_by(_AUDIT_LOG.c.seq)
            .execution_options(yield_per=2000)
        )
        with result:
            return _walk(result, int(head.last_seq), str(head.last_hash))


def _walk(entries: Iterable[Any], head_seq: int, head_hash: str) -> ChainVerification:
    prev_hash, count = GENESIS_HASH, 0
    for entry in entries:
        problem = _check_entry(_row_dict(entry), count + 1, prev_hash)
        if problem:
            return ChainVerification(False, count, count + 1, problem)
        prev_hash, count = entry.hash, count + 1
    if head_seq != count or head_hash != prev_hash:
        problem = (
            f"the chain head records {head_seq} entries but {count} remain: "
            "the latest entries were removed or the head was altered"
        )
        return ChainVerification(False, count, count + 1, problem)
    return ChainVerification(True, count)


@dataclass(frozen=True)
class FieldChange:
    """One step in a field's history; values are decoded JSON (dates as ISO text)."""

    seq: int
    occurred_at: datetime
    username: str
    action: str
    old_value: Any
    new_value: Any
    reason: str | None


def _decode(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def field_history(engine: Engine, entity: str, row_id: int | str, field: str) -> list[FieldChange]:
    """Every recorded value of one field of one record, oldest first, rebuilt from the trail."""
    table = _AUDIT_LOG
    query = (
        select(table)
        .where(table.c.entity == entity, table.c.row_id == str(row_id), table.c.field == field)
        .order_by(table.c.seq)
    )
    with engine.connect() as connection:
        return [
            FieldChange(
                seq=e.seq,
                occurred_at=e.occurred_at,
                username=e.username,
                action=e.action,
                old_value=_decode(e.old_value),
                new_value=_decode(e.new_value),
                reason=e.reason,
            )
            for e in connection.execute(query)
        ]
