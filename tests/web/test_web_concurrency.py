"""Many requests at once: each waits its turn for a thread; none fails for want of a database
connection (the load benchmark found a page answered 500 after 30 s waiting for one)."""

import gc
from concurrent.futures import ThreadPoolExecutor

from services_helpers import COORDINATOR
from sqlalchemy import Engine
from starlette.testclient import TestClient
from web_helpers import SECRET, WebTrial, signed_in

from endotrial.services import Study
from endotrial.store import make_engine
from endotrial.web import WebSettings, create_app
from endotrial.web.app import request_threads
from endotrial.web.rendering import TEMPLATES

AT_ONCE = 24


def test_requests_beyond_the_pool_wait_for_a_thread_not_a_connection(
    web_trial: WebTrial, engine: Engine
) -> None:
    """A pool of two connections that gives up after 0.2 s, and 24 pages asked at once: all
    are answered, because no more requests run at once than the pool has connections."""
    small = make_engine(str(engine.url.render_as_string(hide_password=False)),
                        pool_size=2, max_overflow=0, pool_timeout=0.2)  # fmt: skip
    assert request_threads(small) == 2
    study = Study(small, web_trial.trial.study.protocol)
    app = create_app(study, WebSettings(secret_key=SECRET))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            signed_in(client, COORDINATOR)
            page = f"/participants/{web_trial.home_participant}"
            with ThreadPoolExecutor(AT_ONCE) as pool:
                answers = list(pool.map(lambda _: client.get(page).status_code, range(AT_ONCE)))
    finally:
        small.dispose()
    assert answers == [200] * AT_ONCE


def test_a_server_sets_what_every_request_uses_aside_from_the_garbage_collector(
    web_trial: WebTrial,
) -> None:
    """At start-up: the catalogues, locale data and templates are loaded, then frozen
    (`gc.freeze`), so a full collection during a page need not scan them (bench/README.md)."""
    gc.unfreeze()
    app = create_app(web_trial.trial.study, WebSettings(secret_key=SECRET))
    templates = TEMPLATES.env.list_templates(extensions=["html"])
    try:
        with TestClient(app):
            assert gc.get_freeze_count() > 100_000
            cached = {template.name for template in TEMPLATES.env.cache.values()}  # type: ignore[union-attr]
            assert set(templates) <= cached
    finally:
        gc.unfreeze()
