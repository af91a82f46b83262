"""The largest request body the server takes: larger is refused (413, a problem detail in the
reader's language) as soon as it is known, by its Content-Length or while it streams in,
before it is read whole into memory."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from endotrial.web import i18n
from endotrial.web.deps import request_language
from endotrial.web.problems import problem, problem_response
from endotrial.web.rendering import page


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
        if self._declared_too_large(Headers(scope=scope).get("content-length", "")):
            await self._refuse(scope, receive, send)
            return
        size = 0
        over = started = False

        async def counted() -> Message:
            nonlocal size, over
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_bytes:
                    over = True
                    raise _TooLarge
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to a body it could not read (FastAPI's 400): a 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except _TooLarge:
            if started:
                raise
        if over and not started:
            await self._refuse(scope, receive, send)

    def _declared_too_large(self, declared: str) -> bool:
        """A Content-Length past the limit; one of more digits than the limit's is, without
        int() (which refuses more than 4300 digits: a 500)."""
        digits = declared.lstrip("0")
        if not declared.isdecimal() or not digits:
            return False
        return len(digits) > len(str(self.max_bytes)) or int(digits) > self.max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A problem detail to the API; to a page, the site's error page (inside the session:
        her language, her menu), not JSON a browser would offer to download."""
        request = Request(scope, receive)
        language = request_language(request)
        limit_mb = self.max_bytes // (1024 * 1024)
        detail = i18n.web_message("web.too_large", language, limit_mb=limit_mb)
        item = problem(413, "web.too_large", detail, language)
        if scope["path"].startswith("/api/") or "session" not in scope:
            answer: Response = problem_response(item)
        else:
            answer = page(request, "error.html", 413, problem=item)
        await answer(scope, receive, send)
