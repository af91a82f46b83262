"""Sealing identifying data: a key per person, wrapped by the trial's identity key.

A value is sealed with AES-GCM under the person's own key, bound to her pseudonym and the field
(a sealed value moved to another person or field does not open). Her key is stored only wrapped
by the identity key of the key file. Erasure destroys the wrapped key: every value sealed with
it, in the tables or in the audit trail, can never be opened again (crypto-shredding), and the
trail stays whole because it never held anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from endotrial.store.errors import StoreError
from endotrial.store.keys import TrialKeys

_NONCE_BYTES = 12


def pseudonym(keys: TrialKeys, site_id: int, candidate_ref: str) -> str:
    """What the tables show for a candidate id a site gave (it may be a hospital record
    number): a keyed hash, the same for the same site and id, telling nothing without the key."""
    message = f"pseudonym|{site_id}|{candidate_ref.strip()}".encode()
    return "C" + hmac.new(keys.identity_key, message, hashlib.sha256).hexdigest()[:24]


def new_person_key() -> bytes:
    return secrets.token_bytes(32)


def wrap_key(keys: TrialKeys, person_pseudonym: str, person_key: bytes) -> str:
    return _encrypt(keys.identity_key, person_key, f"person-key|{person_pseudonym}")


def unwrap_key(keys: TrialKeys, person_pseudonym: str, wrapped: str) -> bytes:
    return _decrypt(keys.identity_key, wrapped, f"person-key|{person_pseudonym}")


def seal(person_key: bytes, person_pseudonym: str, field: str, value: str) -> str:
    return _encrypt(person_key, value.encode(), f"identity|{person_pseudonym}|{field}")


def unseal(person_key: bytes, person_pseudonym: str, field: str, sealed: str) -> str:
    return _decrypt(person_key, sealed, f"identity|{person_pseudonym}|{field}").decode()


def _encrypt(key: bytes, plain: bytes, context: str) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain, context.encode())).decode()


def _decrypt(key: bytes, sealed: str, context: str) -> bytes:
    try:
        data = base64.b64decode(sealed, validate=True)
        return AESGCM(key).decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], context.encode())
    except (ValueError, InvalidTag):
        raise StoreError(
            f"a sealed identity value ({context.split('|')[0]}) does not open with this trial's "
            "keys: it was altered, or the key file is not this database's",
            code="identity.unreadable",
        ) from None
