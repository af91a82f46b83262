"""The database is never worked on from the server's event loop: a page whose handler is
async (it reads its form first) hands every read and write to the threadpool, or one user's
save would stop every other user's request until it is done."""

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from services_helpers import COORDINATOR
from web_helpers import WebTrial, client_of, csrf_of, signed_in

from endotrial.services import context


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def on_the_loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The sessions opened from the event loop's thread, by kind."""
    found: list[str] = []

    def watched(kind: str, opener: Callable[..., AbstractContextManager[Any]]) -> Any:
        def opened(*args: Any, **kwargs: Any) -> AbstractContextManager[Any]:
            if _on_event_loop():
                found.append(kind)
            return opener(*args, **kwargs)

        return opened

    monkeypatch.setattr(context, "read_session", watched("read", context.read_session))
    monkeypatch.setattr(context, "unit_of_work", watched("write", context.unit_of_work))
    yield found


def test_no_page_form_works_the_database_from_the_event_loop(
    web_trial: WebTrial, on_the_loop: list[str]
) -> None:
    client: TestClient = client_of(web_trial.trial.study)
    signed_in(client, COORDINATOR)
    home = web_trial.home_participant
    protocol = web_trial.trial.study.protocol
    token = csrf_of(client.get(f"/participants/{home}").text)
    posts = {
        f"/participants/{home}/adverse-events": {"term": "Headache", "ctcae_grade": "1"},
        f"/participants/{home}/record/{protocol.cycles[0].start_event}": {"start_date": "x"},
        f"/participants/{home}/deviation": {"description": "visit missed"},
        f"/participants/{home}/procedure/{protocol.procedures[0].id}": {"action": "check"},
        f"/participants/{home}/measure/{protocol.cycles[0].start_event}/age_years": {},
        "/screening/import/confirm": {},
    }
    assert on_the_loop == [], "the watch itself must see a page read in the threadpool"
    for path, data in posts.items():
        answer = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert answer.status_code < 500, (path, answer.status_code)
        assert on_the_loop == [], f"{path} opened a session on the event loop: {on_the_loop}"
    upload = client.post(
        "/screening/import", data={"csrf_token": token, "site_id": "1"},
        files={"file": ("c.csv", b"candidate_id\nSC-1\n", "text/csv")},
    )  # fmt: skip
    assert upload.status_code < 500 and on_the_loop == []
