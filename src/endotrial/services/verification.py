"""`audit verify` as a whole: the keyed chain and its checkpoints, who acted, and the data.

Beyond the store's walk (`store.verify`), every entry is checked against the team as the trail
itself recorded it at that moment: the user named must have had an account, been active, and
held a role whose operations may write that table (`permissions.OPERATION_TABLES`). An entry
re-attributed to another person, to a name with no account or to a role that may not do the act
is found here even where the MACs cannot be checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, select

from endotrial.services.permissions import table_writers
from endotrial.store import Reconciliation, Role, reconcile_with_trail
from endotrial.store.audit import AuditChainHead, AuditEntry
from endotrial.store.keys import TrialKeys, engine_keys, key_file_for
from endotrial.store.verify import Finding, TrailReport, verify_trail

_LOG = cast(Table, AuditEntry.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)


@dataclass
class _Account:
    username: str = ""
    role: str | None = None
    active: bool = True


@dataclass(frozen=True)
class AuditReport:
    trail: TrailReport
    actors: tuple[Finding, ...]
    data: Reconciliation | None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.trail.ok and not self.actors and (self.data is None or self.data.ok)

    @property
    def complete(self) -> bool:
        """Whether everything could be checked (the data reconciled, the MACs checked)."""
        return self.data is not None and self.trail.macs_checked

    def __str__(self) -> str:
        lines = [str(self.trail)]
        if self.actors:
            lines.append(f"acting users: {len(self.actors)} entr(ies) not done by who may do them")
            lines += [f"  {finding}" for finding in self.actors[:50]]
        else:
            lines.append("acting users: every entry by an active account whose role may do it")
        lines.append(str(self.data) if self.data is not None else "data not reconciled")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def trial_keys_if_present(engine: Engine) -> TrialKeys | None:
    """The database's keys when its key file is here (a monitor's copy may come without)."""
    if not key_file_for(engine.url).exists():
        return None
    return engine_keys(engine)


def verify_everything(
    engine: Engine,
    *,
    checkpoint_files: Sequence[Path] = (),
    public_key: str | None = None,
    reconcile: bool = True,
    keys: TrialKeys | None = None,
) -> AuditReport:
    """The chain (with `keys`, else the key file when present), the checkpoints, the acting
    users and, when `reconcile`, every row of every table against the trail."""
    keys = keys or trial_keys_if_present(engine)
    files = list(checkpoint_files)
    if keys is not None and not files and keys.checkpoint_file.exists():
        files = [keys.checkpoint_file]
    trail = verify_trail(engine, keys=keys, checkpoint_files=files, public_key=public_key)
    actors = tuple(check_actors(engine))
    data = reconcile_with_trail(engine) if reconcile else None
    return AuditReport(trail, actors, data)


def check_actors(engine: Engine) -> Iterator[Finding]:
    """Each entry (up to the tip) against the team as the trail recorded it at that moment."""
    with engine.connect() as connection:
        tip = connection.execute(select(_HEAD.c.last_seq)).scalar_one()
        rows = connection.execute(
            select(_LOG.c.seq, _LOG.c.username, _LOG.c.action, _LOG.c.entity, _LOG.c.row_id,
                   _LOG.c.field, _LOG.c.new_value)
            .where(_LOG.c.seq <= tip)
            .order_by(_LOG.c.seq)
            .execution_options(yield_per=5000)
        )  # fmt: skip
        with rows:
            yield from _Team().check(rows)


class _Team:
    """The accounts as the trail has built them so far."""

    def __init__(self) -> None:
        self.accounts: dict[str, _Account] = {}  # users row id → account
        self.writers = table_writers()
        self.founder: str | None = None

    def check(self, rows: Iterable[Any]) -> Iterator[Finding]:
        for row in rows:
            finding = self._finding(row)
            if finding is not None:
                yield finding
            if row.entity == "users":
                self._apply(row)

    def _finding(self, row: Any) -> Finding | None:
        by = self._by_name(row.username)
        if by is None:
            return self._before_any_account(row)
        account, seq = by, int(row.seq)
        if account.role is None and row.username == self.founder:
            return None  # the founder's own account, being entered field by field
        if not account.active:
            return Finding(seq, f"written by '{row.username}', whose account was deactivated")
        allowed = self.writers.get(row.entity, frozenset())
        if account.role is None or Role(account.role) not in allowed:
            return Finding(
                seq,
                f"{row.action} of {row.entity} by '{row.username}' ({account.role}): that role "
                "may not write this table (re-attributed, or written outside the services)",
            )
        return None

    def _before_any_account(self, row: Any) -> Finding | None:
        """Only the set-up (the first site and the first investigator, by her own name)
        happens before there is an account."""
        if not self.accounts and row.entity in ("sites", "users"):
            self.founder = self.founder or row.username
            if row.username == self.founder:
                return None
        return Finding(int(row.seq), f"written by '{row.username}', who had no account then")

    def _by_name(self, username: str) -> _Account | None:
        return next((a for a in self.accounts.values() if a.username == username), None)

    def _apply(self, row: Any) -> None:
        if row.action == "delete":
            self.accounts.pop(row.row_id, None)
            return
        account = self.accounts.setdefault(row.row_id, _Account())
        value = json.loads(row.new_value) if row.new_value is not None else None
        if row.field == "username":
            account.username = str(value)
        elif row.field == "role":
            account.role = None if value is None else str(value)
        elif row.field == "active":
            account.active = bool(value)
