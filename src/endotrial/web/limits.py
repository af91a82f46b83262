"""The largest request body the server takes: larger is refused (413, a problem detail in the
reader's language) as soon as it is known, by its Content-Length or while it streams in,
before it is read whole into memory."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from endotrial.web import i18n
from endotrial.web.deps import request_language
from endotrial.web.problems import problem, problem_response


class _TooLarge(Exception):
    """The body went past the limit while being read."""


class BodyLimit:
    """ASGI middleware refusing a body of more than `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdecimal() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, self._counting(receive), sending)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    def _counting(self, receive: Receive) -> Receive:
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_bytes:
                    raise _TooLarge
            return message

        return counted

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        language = request_language(Request(scope))
        limit_mb = self.max_bytes // (1024 * 1024)
        detail = i18n.web_message("web.too_large", language, limit_mb=limit_mb)
        item = problem(413, "web.too_large", detail, language)
        await problem_response(item)(scope, receive, send)
