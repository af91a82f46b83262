"""`Idempotency-Key` on the API's POSTs: a client that did not hear the answer (a timeout, a
dropped connection) sends the same request again with the same key, and the record is saved
once. The first answer is given again, marked `Idempotent-Replayed: true`.

As the IETF draft (draft-ietf-httpapi-idempotency-key-header) describes it:
- the key is the client's (a UUID, say), scoped here to its bearer token and the path;
- the same key with another body is refused (422), and one still being worked on is refused
  (409): the client tries again later;
- only a success is kept (for KEPT_FOR): a refusal saved nothing, so its retry runs again.

The keys are kept in the database (`request_keys`, digests only: no token and nothing sent is
kept), so every server process of `endotrial serve --workers N` and a restart keep the promise.
The answer kept is sealed (AES-GCM) under a key made from the token, the path and the client's
key, none of which is stored: only the same request opens it, and a copy of the database shows
nothing of it (an answer may name a candidate by the id her hospital gave, sealed elsewhere).
Requests without the header are not touched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from endotrial.errors import EndotrialError
from endotrial.services import (
    Actor,
    KeptAnswer,
    Study,
    claim_request_key,
    finish_request_key,
    my_account,
)
from endotrial.web import i18n
from endotrial.web.deps import request_language
from endotrial.web.problems import problem, problem_response

log = logging.getLogger(__name__)
HEADER = "idempotency-key"
REPLAYED = "Idempotent-Replayed"
#: How long a success is given again for a repeated key (the draft suggests a day).
KEPT_FOR = dt.timedelta(days=1)
#: Successes kept at most of one token (its oldest forgotten first): a client flooding keys
#: forgets its own, not anyone else's.
MAX_KEPT_PER_TOKEN = 1_000
#: A key claimed by a process killed before it answered is free again after this long.
WORKING_FOR = dt.timedelta(minutes=5)
MAX_KEY_CHARS = 255
#: POSTs that start or end a session: never replayed (a token is not kept in memory).
_NOT_KEYED = ("/api/v1/sign-in", "/api/v1/sign-out")


class IdempotencyKeys:
    """ASGI middleware: an API POST carrying `Idempotency-Key` is done at most once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        key = headers.get(HEADER) if headers is not None else None
        if (
            headers is None or key is None or scope["method"] != "POST"
            or not scope["path"].startswith("/api/") or scope["path"] in _NOT_KEYED
        ):  # fmt: skip
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key.strip()) <= MAX_KEY_CHARS:
            await _refuse(scope, receive, send, 400, "web.idempotency_key", limit=MAX_KEY_CHARS)
            return
        body, more = await _whole_body(receive)  # its size is bounded by web.limits
        authorization = headers.get("authorization", "")
        owner = _digest(authorization)
        scoped = _digest(owner, scope["path"], key.strip())
        seal = _seal_key(authorization, scope["path"], key.strip())
        study = _study(scope)
        try:
            claimed = await run_in_threadpool(
                claim_request_key, study, scoped, owner, _sha256(body), WORKING_FOR
            )
        except DBAPIError as error:  # as the app answers it: 503, and nothing done
            await _database_down(error, scope, receive, send)
            return
        if claimed is False:
            await _refuse(scope, receive, send, 409, "web.idempotency_in_progress")
        elif isinstance(claimed, KeptAnswer):
            opened = _opened(claimed, seal)
            if opened is None or claimed.body_sha256 != _sha256(body):
                await _refuse(scope, receive, send, 422, "web.idempotency_reused")
            else:
                await self._replay_if_signed_in(
                    opened, scope, _replayed_body(body, more, receive), send
                )
        else:
            replayed = _replayed_body(body, more, receive)
            await self._run_once(scope, replayed, send, (scoped, seal), body)

    async def _replay_if_signed_in(
        self, answer: KeptAnswer, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """The kept answer to a live session only, as every answer is: a token signed out,
        expired or of a deactivated account is refused by the app (401)."""
        try:
            live = await _still_signed_in(scope)
        except DBAPIError as error:  # as the app answers it: 503, and nothing done twice
            await _database_down(error, scope, receive, send)
            return
        if live:
            await _replay(answer, send)
        else:
            await self.app(scope, receive, send)

    async def _run_once(
        self, scope: Scope, receive: Receive, send: Send, keyed: tuple[str, bytes], body: bytes
    ) -> None:
        """Run the request; keep its answer (sealed) if a success, else free its key.
        `keyed`: (the key's digest, the key its answer is sealed with)."""
        scoped, seal = keyed
        started: dict[str, object] = {}
        chunks: list[bytes] = []

        async def keeping(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        answer = None
        try:
            await self.app(scope, receive, keeping)
            status = int(str(started.get("status", 500)))
            if 200 <= status < 300:
                raw = list(started.get("headers", []))  # type: ignore[call-overload]
                headers = tuple((bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
                                for n, v in raw)  # fmt: skip
                sealed = _sealed(seal, b"".join(chunks))
                answer = KeptAnswer(_sha256(body), status, headers, sealed)
        finally:
            await _finish(_study(scope), scoped, answer)


async def _finish(study: Study, scoped: str, answer: KeptAnswer | None) -> None:
    """Keep the answer (or free the key). The client has its answer already: a database
    failure now is logged; the key then lapses after WORKING_FOR."""
    try:
        await run_in_threadpool(
            finish_request_key, study, scoped, answer, KEPT_FOR, MAX_KEPT_PER_TOKEN
        )
    except DBAPIError as error:
        log.error("database failure keeping an idempotent answer: %s", type(error).__name__)


async def _database_down(error: DBAPIError, scope: Scope, receive: Receive, send: Send) -> None:
    log.error("database failure: %s", type(error).__name__)
    await _refuse(scope, receive, send, 503, "web.database", field=None)


def _study(scope: Scope) -> Study:
    study: Study = scope["app"].state.study
    return study


async def _still_signed_in(scope: Scope) -> bool:
    """The bearer token still works (not signed out, not expired, her account active)."""
    scheme, token = get_authorization_scheme_param(Headers(scope=scope).get("authorization"))
    if scheme.lower() != "bearer" or not token:
        return False
    try:
        await run_in_threadpool(my_account, _study(scope), Actor("(bearer)", token))
    except EndotrialError:
        return False
    return True


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, code: str,
    field: str | None = "Idempotency-Key", **params: object,
) -> None:  # fmt: skip
    language = request_language(Request(scope))
    detail = i18n.web_message(code, language, **params)
    item = problem(status, code, detail, language, field=field)
    await problem_response(item)(scope, receive, send)


async def _whole_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The request's body, and any message that came after it (a disconnect)."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts), [message]
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts), []


def _replayed_body(body: bytes, after: list[Message], receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if after:
            return after.pop(0)
        return await receive()

    return replay


async def _replay(answer: KeptAnswer, send: Send) -> None:
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in answer.headers]
    headers.append((REPLAYED.lower().encode(), b"true"))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


def _seal_key(authorization: str, path: str, key: str) -> bytes:
    """The key a kept answer is sealed with: from the token, the path and the client's key
    (none stored; the stored digest is of the token's digest, so it does not give this)."""
    return hashlib.sha256(b"answer\0" + _digest(authorization, path, key).encode()).digest()


def _sealed(seal: bytes, body: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(seal).encrypt(nonce, body, None)


def _opened(answer: KeptAnswer, seal: bytes) -> KeptAnswer | None:
    """The kept answer with its body opened; None if it does not open (not this request's)."""
    try:
        body = AESGCM(seal).decrypt(answer.body[:_NONCE_BYTES], answer.body[_NONCE_BYTES:], None)
    except (InvalidTag, ValueError):
        return None
    return KeptAnswer(answer.body_sha256, answer.status, answer.headers, body)


_NONCE_BYTES = 12


def _digest(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
