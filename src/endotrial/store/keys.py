"""The trial's keys, kept in a file outside the database.

Whoever can write the database file can recompute an unkeyed hash chain. So every audit entry
also carries a MAC made with a key only the key file holds, and the chain's tip is signed after
every write (Ed25519, `checkpoints`) into a log beside the key: a rewritten chain fails its MACs,
and a removed tail no longer reaches the last signed checkpoint. The same file holds the key that
wraps each person's identity key (`identity`), so a copy of the database alone reveals no name.

Where the file is: `ENDOTRIAL_KEY_FILE`, else beside a SQLite database file (`trial.db.key`),
else `endotrial.key` in the working folder. It is created once, with the database's trail, and
never written to the database; lose it and the database can be read but no longer written or
fully verified, so keep a copy where the database's backups are not.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.engine import URL

from endotrial.store.audit import AuditChainHead, TrailKeys
from endotrial.store.errors import StoreError

KEY_FILE_ENV = "ENDOTRIAL_KEY_FILE"
KEY_FORMAT = "endotrial-keys/1"
DEFAULT_KEY_FILE = "endotrial.key"


@dataclass(frozen=True, eq=False)
class TrialKeys:
    """The keys of one trial database (see the module's docstring)."""

    path: Path
    database_id: str
    first_keyed_seq: int
    """Audit entries from this number on carry a MAC (earlier ones predate the keys)."""
    mac_key: bytes
    signing_key: Ed25519PrivateKey
    identity_key: bytes

    def mac(self, entry_hash: str) -> str:
        """The MAC of an audit entry (its chained hash, bound to this database)."""
        message = f"{self.database_id}|{entry_hash}".encode()
        return hmac.new(self.mac_key, message, hashlib.sha256).hexdigest()

    @functools.cached_property
    def public_key_hex(self) -> str:
        return public_key_hex(self.signing_key.public_key())

    @property
    def checkpoint_file(self) -> Path:
        """The log of signed checkpoints, beside the key file."""
        return self.path.with_name(self.path.name + ".checkpoints")


def public_key_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def key_file_for(url: URL) -> Path:
    """Where the key file of the database at `url` is (see the module's docstring)."""
    configured = os.environ.get(KEY_FILE_ENV)
    if configured:
        return Path(configured)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = str(url.database).removeprefix("file:").split("?")[0]
        return Path(database + ".key")
    return Path(DEFAULT_KEY_FILE)


def create_keys(path: Path, *, first_keyed_seq: int) -> TrialKeys:
    """New keys for a database, written to `path` (owner-only), which must not exist yet."""
    keys = TrialKeys(
        path=path,
        database_id=secrets.token_hex(16),
        first_keyed_seq=first_keyed_seq,
        mac_key=secrets.token_bytes(32),
        signing_key=Ed25519PrivateKey.generate(),
        identity_key=secrets.token_bytes(32),
    )
    document = {
        "format": KEY_FORMAT,
        "database_id": keys.database_id,
        "first_keyed_seq": first_keyed_seq,
        "mac_key": _b64(keys.mac_key),
        "signing_key": _b64(keys.signing_key.private_bytes_raw()),
        "identity_key": _b64(keys.identity_key),
        "public_key": keys.public_key_hex,
    }
    _write_new(path, json.dumps(document, indent=1) + "\n")
    return keys


def load_keys(path: Path) -> TrialKeys:
    """The keys in `path`, or a StoreError saying what is wrong and what to do."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(
            f"the trial's key file {path} is missing: restore it from its safe copy (or point "
            f"{KEY_FILE_ENV} to it); without it the database can be read but not written",
            code="keys.missing",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StoreError(
            f"the trial's key file {path} cannot be read ({error}): restore it from its safe copy",
            code="keys.unreadable",
        ) from None
    try:
        if document["format"] != KEY_FORMAT:
            raise ValueError(f"format {document['format']!r}")
        return TrialKeys(
            path=path,
            database_id=str(document["database_id"]),
            first_keyed_seq=int(document["first_keyed_seq"]),
            mac_key=_unb64(document["mac_key"], 32),
            signing_key=Ed25519PrivateKey.from_private_bytes(_unb64(document["signing_key"], 32)),
            identity_key=_unb64(document["identity_key"], 32),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise StoreError(
            f"the trial's key file {path} is not an endotrial key file ({error}): restore it "
            "from its safe copy",
            code="keys.unreadable",
        ) from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: object, length: int) -> bytes:
    data = base64.b64decode(str(text), validate=True)
    if len(data) != length:
        raise ValueError(f"a key of {len(data)} bytes where {length} belong")
    return data


def _write_new(path: Path, text: str) -> None:
    """Write a new owner-only file; an existing one is never replaced (it may be the only copy
    of another database's keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise StoreError(
            f"a key file already exists at {path}: it belongs to another database (or to this "
            f"one's earlier life); move it away, or point {KEY_FILE_ENV} elsewhere",
            code="keys.exists",
        ) from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


_ENGINE_KEYS: dict[int, TrialKeys] = {}


def engine_keys(engine: Engine) -> TrialKeys:
    """The keys of the database behind `engine` (read once per engine), checked to be its own:
    a key file of another database would seal and sign what this one cannot verify."""
    keys = _ENGINE_KEYS.get(id(engine))
    if keys is not None and keys.path == key_file_for(engine.url):
        return keys
    keys = load_keys(key_file_for(engine.url))
    bound = bound_keys(engine)
    if bound is None or bound.database_id != keys.database_id:
        raise StoreError(
            f"the key file {keys.path} belongs to another database than "
            f"{engine.url.render_as_string(hide_password=True)}: point {KEY_FILE_ENV} to this "
            "database's key file",
            code="keys.mismatch",
        )
    _ENGINE_KEYS[id(engine)] = keys
    return keys


@dataclass(frozen=True)
class BoundKeys:
    """What the database records of its keys (public parts only)."""

    database_id: str
    public_key: str
    first_keyed_seq: int


def bound_keys(engine: Engine) -> BoundKeys | None:
    """The database's record of its keys; None before any were made (an older revision)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("trail_keys"):
            return None
        row = connection.execute(
            text("SELECT database_id, public_key, first_keyed_seq FROM trail_keys WHERE id = 1")
        ).first()
    return None if row is None else BoundKeys(str(row[0]), str(row[1]), int(row[2]))


def ensure_keys(engine: Engine) -> TrialKeys:
    """The database's keys, made (file and record) on a database that has none yet: a new one,
    or one upgraded from before the keys. Entries from the next one on carry MACs. A key file
    already at the database's key path (its own, from before a downgrade) is taken up again,
    never replaced."""
    if bound_keys(engine) is not None:
        return engine_keys(engine)
    path = key_file_for(engine.url)
    created: TrialKeys | None = None
    try:
        with engine.begin() as connection:
            tip = int(connection.execute(select(AuditChainHead.last_seq)).scalar_one())
            if path.exists():
                keys = load_keys(path)
            else:
                keys = created = create_keys(path, first_keyed_seq=tip + 1)
            record = {
                "id": 1,
                "database_id": keys.database_id,
                "public_key": keys.public_key_hex,
                "first_keyed_seq": keys.first_keyed_seq,
                "created_at": datetime.now(UTC),
            }
            connection.execute(insert(TrailKeys), record)
    except BaseException:
        if created is not None:
            path.unlink(missing_ok=True)  # the record was not saved: the file belongs to nothing
        raise
    return keys
