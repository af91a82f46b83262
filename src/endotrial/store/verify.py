"""Verifying the audit trail as a monitor or an inspector would: every entry, keyed, signed.

The walk checks, for every entry in the table (not only those up to the recorded tip): its
number, its link to the entry before, its hash, and (with the key file) its MAC, so an entry
altered, removed, reordered, inserted or appended by someone without the key is found and
named. The signed checkpoints it is given (the log beside the key, or a copy a monitor kept)
must each still be reached: a chain recomputed from some entry on, or cut short and the data
put back, no longer holds the hash a checkpoint signed. Checking checkpoints needs only the
public key, so a monitor can run it on a read-only copy without the key file.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, inspect, select

from endotrial.store.audit import (
    GENESIS_HASH,
    AuditChainHead,
    AuditEntry,
    entry_hash,
)
from endotrial.store.checkpoints import Checkpoint, CheckpointFile, read_checkpoints
from endotrial.store.keys import BoundKeys, TrialKeys, bound_keys

_LOG = cast(Table, AuditEntry.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)
_HASHED = (
    "seq", "occurred_at", "username", "action", "entity", "row_id", "field", "old_value",
    "new_value", "reason",
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """Something wrong with the trail: where (entry number, when there is one) and what."""

    seq: int | None
    problem: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.problem}" if self.seq is not None else self.problem


@dataclass(frozen=True)
class TrailReport:
    """What `verify_trail` found, and how far it could look."""

    entries: int
    findings: tuple[Finding, ...]
    macs_checked: bool
    checkpoints_checked: int
    latest_checkpoint: Checkpoint | None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    def __str__(self) -> str:
        keyed = "MACs checked" if self.macs_checked else "MACs NOT checked (no key file)"
        lines = [
            f"audit trail {'intact' if self.ok else 'BROKEN'} ({self.entries} entries; {keyed}; "
            f"{self.checkpoints_checked} signed checkpoint(s) checked)"
        ]
        lines += [f"  {finding}" for finding in self.findings[:50]]
        if len(self.findings) > 50:
            lines.append(f"  ... and {len(self.findings) - 50} more")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def verify_trail(
    engine: Engine,
    *,
    keys: TrialKeys | None = None,
    checkpoint_files: Sequence[Path] = (),
    public_key: str | None = None,
) -> TrailReport:
    """Walk every entry (with `keys`, their MACs too) and check each signed checkpoint of
    `checkpoint_files` against the walk (signatures by `public_key`, else the key file's)."""
    notes: list[str] = []
    bound = bound_keys(engine)
    first_keyed = _first_keyed(keys, bound, notes)
    walk = _Walk(keys, first_keyed)
    with engine.connect() as connection:
        head = connection.execute(select(_HEAD.c.last_seq, _HEAD.c.last_hash)).one()
        present = {c["name"] for c in inspect(connection).get_columns("audit_log")}
        columns = [c for c in _LOG.c if c.name in present]  # an older revision has no MACs
        rows = connection.execute(
            select(*columns).order_by(_LOG.c.seq).execution_options(yield_per=2000)
        )
        with rows:
            walk.run(rows)
        head_now = connection.execute(select(_HEAD.c.last_seq)).scalar_one()
    findings = [*walk.findings, *_tip_findings(walk, int(head.last_seq), str(head.last_hash))]
    findings += _past_tip(walk, int(head_now))
    checked, latest = _check_checkpoints(
        walk, checkpoint_files, _signer(keys, bound, public_key, notes), bound, findings, notes
    )
    if keys is None:
        notes.append(
            "without the key file a chain recomputed after the latest checkpoint cannot be "
            "told from the real one: run verify where the key file is, or compare checkpoints"
        )
    return TrailReport(walk.count, tuple(findings), keys is not None, checked, latest, tuple(notes))


def _first_keyed(keys: TrialKeys | None, bound: BoundKeys | None, notes: list[str]) -> int | None:
    """From which entry on MACs are required: the key file says (the database could lie)."""
    if keys is not None:
        if bound is not None and bound.database_id != keys.database_id:
            notes.append("the key file given belongs to another database: MACs will not match")
        return keys.first_keyed_seq
    return None


class _Walk:
    """One pass over the entries: each checked, the hashes at each number kept for the
    checkpoints."""

    def __init__(self, keys: TrialKeys | None, first_keyed: int | None) -> None:
        self.keys, self.first_keyed = keys, first_keyed
        self.findings: list[Finding] = []
        self.hashes: dict[int, str] = {}
        self.count, self.last_seq, self.prev_hash = 0, 0, GENESIS_HASH

    def run(self, rows: Iterable[Any]) -> None:
        for row in rows:
            self._check(row)

    def _check(self, row: Any) -> None:
        self.count += 1
        seq = int(row.seq)
        expected = self.last_seq + 1
        if seq != expected:
            self.findings.append(
                Finding(expected, f"is missing (the next stored entry is {seq}): entries were "
                        "removed or renumbered")
            )  # fmt: skip
        if row.prev_hash != self.prev_hash:
            self.findings.append(
                Finding(seq, "its link to the entry before does not match: entries were removed, "
                        "inserted or reordered")
            )  # fmt: skip
        content = {name: getattr(row, name) for name in _HASHED}
        if entry_hash(row.prev_hash, content) != row.hash:
            self.findings.append(Finding(seq, "its content does not match its hash: altered"))
        self._check_mac(seq, row)
        self.hashes[seq] = row.hash
        self.last_seq, self.prev_hash = seq, row.hash

    def _check_mac(self, seq: int, row: Any) -> None:
        if self.keys is None or self.first_keyed is None:
            return
        if seq < self.first_keyed:
            return  # written before the trail had keys
        mac = getattr(row, "mac", None)
        if mac is None or not hmac.compare_digest(mac, self.keys.mac(row.hash)):
            self.findings.append(
                Finding(seq, "its MAC is wrong or missing: the entry was written or rewritten "
                        "by someone without the trial's key (forged, re-attributed or backdated)")
            )  # fmt: skip


def _tip_findings(walk: _Walk, head_seq: int, head_hash: str) -> Iterator[Finding]:
    if walk.hashes.get(head_seq) != head_hash and not (head_seq == 0 and walk.count == 0):
        yield Finding(
            None,
            f"the chain's recorded tip (entry {head_seq}) is not an entry the walk found with "
            "that hash: the latest entries were removed or the tip was altered",
        )


def _past_tip(walk: _Walk, head_seq: int) -> Iterator[Finding]:
    """Entries numbered past the recorded tip (read again after the walk, so entries appended
    while it ran are not taken for tampering) were put there outside the application."""
    if walk.last_seq > head_seq:
        yield Finding(
            head_seq + 1,
            f"{walk.last_seq - head_seq} entries lie past the chain's recorded tip ({head_seq}): "
            "added outside the application",
        )


def _signer(
    keys: TrialKeys | None, bound: BoundKeys | None, given: str | None, notes: list[str]
) -> str | None:
    if given:
        return given
    if keys is not None:
        return keys.public_key_hex
    if bound is not None:
        notes.append(
            "checkpoint signatures checked against the public key the database itself records: "
            "give --public-key (from your kept checkpoint) to trust them"
        )
        return bound.public_key
    return None


def _check_checkpoints(
    walk: _Walk,
    files: Sequence[Path],
    public_key: str | None,
    bound: BoundKeys | None,
    findings: list[Finding],
    notes: list[str],
) -> tuple[int, Checkpoint | None]:
    checked = 0
    reached: Checkpoint | None = None
    for path in files:
        log = _read(path, findings)
        if log is None:
            continue
        for number in log.unreadable_lines:
            notes.append(f"{path}:{number}: not a checkpoint (cut short by a crash?), skipped")
        for checkpoint in log.checkpoints:
            checked += 1
            problem = _checkpoint_problem(walk, checkpoint, public_key, bound)
            if problem:
                findings.append(Finding(checkpoint.seq, f"{path}: {problem}"))
            elif reached is None or checkpoint.seq > reached.seq:
                reached = checkpoint
    if reached is not None and reached.seq < walk.last_seq:
        notes.append(
            f"the latest checkpoint reached is entry {reached.seq} (signed {reached.signed_at}); "
            f"{walk.last_seq - reached.seq} later entries are covered by their MACs only"
        )
    return checked, reached


def _read(path: Path, findings: list[Finding]) -> CheckpointFile | None:
    try:
        return read_checkpoints(path)
    except OSError as error:
        findings.append(Finding(None, f"checkpoint file {path} cannot be read: {error.strerror}"))
        return None


def _checkpoint_problem(
    walk: _Walk, checkpoint: Checkpoint, public_key: str | None, bound: BoundKeys | None
) -> str | None:
    if bound is not None and checkpoint.database_id != bound.database_id:
        return "a checkpoint of another database"
    if public_key is None or not checkpoint.signed_by(public_key):
        return "its signature is not the trial's: the checkpoint is forged or altered"
    found = walk.hashes.get(checkpoint.seq)
    if found != checkpoint.hash:
        return (
            f"the database no longer reaches this checkpoint (entry {checkpoint.seq} signed at "
            f"{checkpoint.signed_at}): "
            + ("the entry is gone" if found is None else "it holds another hash")
            + "; entries were removed or the chain was rewritten since"
        )
    return None
