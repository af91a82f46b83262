"""Signed checkpoints of the audit chain's tip, kept outside the database.

After every write the tip (entry number and hash) is signed with the trial's Ed25519 key and
appended to the checkpoint log beside the key file; `endotrial audit checkpoint` prints one for
a monitor to keep elsewhere. A database that no longer holds an entry with a checkpoint's hash
at its number has lost or rewritten entries since: verification names the checkpoint.
Checking a checkpoint needs only the public key, so a monitor can verify without the key file.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, select

from endotrial.store.audit import AuditChainHead
from endotrial.store.keys import TrialKeys

CHECKPOINT_FORMAT = "endotrial-checkpoint/1"


@dataclass(frozen=True)
class Checkpoint:
    """The chain's tip at a moment, signed: entry `seq` has hash `hash`."""

    database_id: str
    seq: int
    hash: str
    signed_at: str
    public_key: str
    signature: str

    def message(self) -> bytes:
        fields = (CHECKPOINT_FORMAT, self.database_id, str(self.seq), self.hash, self.signed_at)
        return "|".join(fields).encode()

    def signed_by(self, public_key_hex: str) -> bool:
        """Whether the signature is valid and made by the key `public_key_hex`."""
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
            key.verify(bytes.fromhex(self.signature), self.message())
        except (ValueError, InvalidSignature):
            return False
        return True

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def sign_checkpoint(keys: TrialKeys, seq: int, entry_hash: str) -> Checkpoint:
    signed_at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    unsigned = Checkpoint(keys.database_id, seq, entry_hash, signed_at, keys.public_key_hex, "")
    signature = keys.signing_key.sign(unsigned.message()).hex()
    return Checkpoint(keys.database_id, seq, entry_hash, signed_at, keys.public_key_hex, signature)


def append_checkpoint(keys: TrialKeys, seq: int, entry_hash: str) -> Checkpoint:
    """Sign the tip and append it to the checkpoint log (one line; after the commit, so a log
    never runs ahead of the database it describes)."""
    checkpoint = sign_checkpoint(keys, seq, entry_hash)
    with keys.checkpoint_file.open("a", encoding="utf-8") as log:
        log.write(checkpoint.line() + "\n")
    return checkpoint


@dataclass(frozen=True)
class CheckpointFile:
    """The checkpoints read from one file, and the lines that are not checkpoints."""

    path: Path
    checkpoints: tuple[Checkpoint, ...]
    unreadable_lines: tuple[int, ...]


def read_checkpoints(path: Path) -> CheckpointFile:
    """Every checkpoint in a log or in a file a monitor kept (one JSON object per line)."""
    checkpoints: list[Checkpoint] = []
    bad: list[int] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                checkpoints.append(
                    Checkpoint(
                        database_id=str(data["database_id"]),
                        seq=int(data["seq"]),
                        hash=str(data["hash"]),
                        signed_at=str(data["signed_at"]),
                        public_key=str(data["public_key"]),
                        signature=str(data["signature"]),
                    )
                )
            except (ValueError, KeyError, TypeError):
                bad.append(number)  # a line cut short by a crash, or not a checkpoint
    return CheckpointFile(path, tuple(checkpoints), tuple(bad))


def latest(checkpoints: Iterable[Checkpoint]) -> Checkpoint | None:
    return max(checkpoints, key=lambda c: c.seq, default=None)


def sign_current_tip(engine: Engine, keys: TrialKeys) -> Checkpoint:
    """Sign the chain's tip as the database holds it now (and log it beside the key)."""
    with engine.connect() as connection:
        head = connection.execute(select(AuditChainHead.last_seq, AuditChainHead.last_hash)).one()
    return append_checkpoint(keys, int(head.last_seq), str(head.last_hash))
