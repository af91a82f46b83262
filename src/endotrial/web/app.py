"""The web application: the API and the pages over one `Study`, its session cookie, its
security headers, and the one place where errors become answers (a problem detail for the
API, a page or a redirect to sign in for the pages; never a traceback)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from html import escape
from pathlib import Path

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from endotrial.errors import EndotrialError
from endotrial.services import NotSignedIn, Study
from endotrial.web import adverse_events, api, api_records, data_entry, i18n, pages, team
from endotrial.web.deps import request_language
from endotrial.web.idempotency import IdempotencyKeys
from endotrial.web.limits import BodyLimit
from endotrial.web.problems import Problem, problem, problem_of, problem_response
from endotrial.web.rendering import TEMPLATES, page
from endotrial.web.screening import router as screening_router
from endotrial.web.settings import WebSettings

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "endotrial_session"
API_PREFIX = "/api/"
#: Scripts and styles from this server only (htmx is served from /static), no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

log = logging.getLogger(__name__)
#: The largest request body taken (a screening upload is at most 4 MB): larger is refused
#: (413) before it is read whole (web.limits).
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Requests run at once, at most: more only take turns at the interpreter's lock.
WEB_THREADS = 8


def request_threads(engine: Engine) -> int:
    """How many requests may run at once: WEB_THREADS, and no more than the engine's pool
    keeps connections, so that a request never waits for a connection (a wait longer than
    the pool's timeout fails the request); the others wait their turn for a thread."""
    pool = engine.pool
    return min(WEB_THREADS, pool.size()) if isinstance(pool, QueuePool) else WEB_THREADS


def create_app(study: Study, settings: WebSettings) -> FastAPI:
    """The application serving `study`: pages at /, the REST API at /api/v1, its OpenAPI
    document at /api/v1/openapi.json."""
    app = FastAPI(
        lifespan=_threads_for(study.engine),
        title="endotrial",
        summary="The study team's REST API over the trial's services",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # Swagger UI's assets would come from a CDN, which the CSP refuses
        redoc_url=None,
    )
    app.state.study = study
    app.state.settings = settings
    app.add_middleware(IdempotencyKeys)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)  # in the session: a page's 413
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.idle_seconds,
        same_site="strict",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(_SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(adverse_events.api_router)
    app.include_router(api_records.api_router)
    app.include_router(pages.router)
    app.include_router(adverse_events.router)
    app.include_router(team.router)
    app.include_router(screening_router)
    app.include_router(data_entry.router)
    _handle_errors(app)
    return app


def _threads_for(engine: Engine) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = request_threads(engine)
        settle_memory()
        yield

    return lifespan


def settle_memory() -> None:
    """Load what every request uses (each language's catalogue and locale data, every
    template compiled), then set it all aside from the garbage collector (`gc.freeze`): a
    full collection then scans only what requests made since, not these hundreds of
    thousands of objects. Measured: a full collection in the middle of a page took 150-290 ms
    before, 20-80 ms after; it was the pages' slowest percent."""
    for language in i18n.LANGUAGES:
        i18n.translations(language)
        i18n.locale_of(language).datetime_formats  # noqa: B018  (babel loads its data on first use)
    for name in TEMPLATES.env.list_templates(extensions=["html"]):
        TEMPLATES.env.get_template(name)
    gc.collect()
    gc.freeze()


class _SecurityHeaders:
    """Every answer's security headers (unless the answer set its own); static files may be
    cached. Plain ASGI: a `BaseHTTPMiddleware` would cost every request a task and a queue."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers and not (static and name == "Cache-Control"):
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _answer(request: Request, item: Problem) -> Response:
    if _is_api(request):
        return problem_response(item)
    return page(request, "error.html", item.status, problem=item)


def _handle_errors(app: FastAPI) -> None:
    async def endotrial_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, EndotrialError)
        if isinstance(error, NotSignedIn) and not _is_api(request):
            return pages.sign_in_redirect(request)
        return _answer(request, problem_of(error, request_language(request)))

    async def invalid_request(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        language = request_language(request)
        first = error.errors()[0] if error.errors() else {}
        where = [
            str(part)
            for part in first.get("loc", ())
            if part not in ("body", "query", "path", "header")
        ]
        field = ".".join(where) or None
        detail = i18n.web_message(
            "web.invalid", language, field=field or "request", problem=first.get("msg", "")
        )
        return _answer(request, problem(422, "input.invalid", detail, language, field))

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        language = request_language(request)
        if error.status_code == 405:
            detail = i18n.web_message(
                "web.method", language, method=request.method, path=request.url.path
            )
            return _answer(request, problem(405, "web.method", detail, language))
        if error.status_code == 400:  # a body the parser gave up on (nesting, too many fields)
            detail = i18n.web_message(
                "web.invalid", language, field="request", problem=str(error.detail)
            )
            return _answer(request, problem(400, "input.invalid", detail, language))
        detail = i18n.web_message("web.not_found", language, path=request.url.path)
        return _answer(request, problem(404, "web.not_found", detail, language))

    async def database_error(request: Request, error: Exception) -> Response:
        log.error("database failure: %s", type(error).__name__)
        language = request_language(request)
        detail = i18n.web_message("web.database", language)
        return _answer(request, problem(503, "web.database", detail, language))

    async def server_error(request: Request, error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        language = request_language(request)
        item = problem(500, "web.internal", i18n.web_message("web.internal", language), language)
        if _is_api(request):  # answered outside _SecurityHeaders, as the plain page is
            return problem_response(item, headers=SECURITY_HEADERS)
        return _plain_error_page(item)

    app.add_exception_handler(EndotrialError, endotrial_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(Exception, server_error)


def _plain_error_page(item: Problem) -> Response:
    """A 500 page that needs nothing that may have failed (no session, no template)."""
    body = f"<!doctype html><title>{escape(item.title)}</title><p>{escape(item.detail)}</p>"
    return Response(body, status_code=500, media_type="text/html", headers=SECURITY_HEADERS)
