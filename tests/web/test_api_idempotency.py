"""`Idempotency-Key` on the API's POSTs: a client that sends a request again (it did not hear
the answer) saves the record once and hears the first answer again."""

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from services_helpers import COORDINATOR, INVESTIGATOR
from web_helpers import WebTrial, bearer, client_of

from endotrial.services import adverse_events
from endotrial.web import idempotency
from endotrial.web.app import MAX_BODY_BYTES

SITE_TODAY = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()  # GZ6's day
BODY = {"term": "Fever", "ctcae_grade": 1, "serious": False, "onset_date": str(SITE_TODAY)}


@pytest.fixture
def client(web_trial: WebTrial) -> TestClient:
    return client_of(web_trial.trial.study)


def _fevers(web_trial: WebTrial) -> int:
    trial = web_trial.trial
    events = adverse_events(trial.study, trial.actor(COORDINATOR))
    return sum(e.term == "Fever" for e in events if e.participant_id == web_trial.home_participant)


def _path(web_trial: WebTrial) -> str:
    return f"/api/v1/participants/{web_trial.home_participant}/adverse-events"


def test_a_request_sent_again_with_its_key_is_saved_once_and_answered_as_before(
    client: TestClient, web_trial: WebTrial
) -> None:
    headers = {**bearer(client, COORDINATOR), "Idempotency-Key": "4f6e1c1e-ae-1"}
    first = client.post(_path(web_trial), json=BODY, headers=headers)
    again = client.post(_path(web_trial), json=BODY, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["X-Frame-Options"] == "DENY", "a replay is an answer like any other"
    assert _fevers(web_trial) == 1
    other_key = client.post(
        _path(web_trial), json=BODY, headers={**headers, "Idempotency-Key": "2"}
    )
    assert other_key.status_code == 201 and _fevers(web_trial) == 2


def test_without_a_key_every_request_is_a_new_one(client: TestClient, web_trial: WebTrial) -> None:
    headers = bearer(client, COORDINATOR)
    for _ in range(2):
        assert client.post(_path(web_trial), json=BODY, headers=headers).status_code == 201
    assert _fevers(web_trial) == 2


def test_a_key_reused_for_another_body_is_refused_and_saves_nothing(
    client: TestClient, web_trial: WebTrial
) -> None:
    headers = {**bearer(client, COORDINATOR), "Idempotency-Key": "k-1"}
    assert client.post(_path(web_trial), json=BODY, headers=headers).status_code == 201
    other = client.post(_path(web_trial), json={**BODY, "ctcae_grade": 2}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert (other.json()["code"], other.json()["field"]) == (
        "web.idempotency_reused",
        "Idempotency-Key",
    )
    assert _fevers(web_trial) == 1


def test_a_key_is_the_clients_own(client: TestClient, web_trial: WebTrial) -> None:
    """Two users (two tokens) who happen to choose the same key make two records."""
    for username in (COORDINATOR, INVESTIGATOR):
        headers = {**bearer(client, username), "Idempotency-Key": "same-key"}
        made = client.post(_path(web_trial), json=BODY, headers=headers)
        assert made.status_code == 201 and "Idempotent-Replayed" not in made.headers
    assert _fevers(web_trial) == 2


def test_a_refusal_is_not_kept_so_its_retry_is_checked_again(
    client: TestClient, web_trial: WebTrial
) -> None:
    headers = {**bearer(client, COORDINATOR), "Idempotency-Key": "k-refused"}
    late = {**BODY, "ctcae_grade": 5}  # a death is serious: refused by the services
    for _ in range(2):
        refused = client.post(_path(web_trial), json=late, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (409, "ae.grade_serious")
        assert "Idempotent-Replayed" not in refused.headers
    assert _fevers(web_trial) == 0


@pytest.mark.parametrize("key", ["", "   ", "x" * (idempotency.MAX_KEY_CHARS + 1)])
def test_an_empty_or_huge_key_is_refused_naming_the_header(
    client: TestClient, web_trial: WebTrial, key: str
) -> None:
    headers = {**bearer(client, COORDINATOR), "Idempotency-Key": key}
    refused = client.post(_path(web_trial), json=BODY, headers=headers)
    assert refused.status_code == 400
    assert (refused.json()["code"], refused.json()["field"]) == (
        "web.idempotency_key",
        "Idempotency-Key",
    )
    assert _fevers(web_trial) == 0


def test_the_same_request_sent_twice_at_once_is_saved_once(web_trial: WebTrial) -> None:
    """Eight copies at once: one is saved; each other is answered as the first was or told
    to wait (409); none makes a second record."""
    with TestClient(client_of(web_trial.trial.study).app) as client:
        headers = {**bearer(client, COORDINATOR), "Idempotency-Key": "k-race"}
        start = threading.Barrier(8)
        answers: list[int] = []

        def send() -> None:
            start.wait()
            answers.append(client.post(_path(web_trial), json=BODY, headers=headers).status_code)

        racers = [threading.Thread(target=send) for _ in range(8)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
    assert sorted(set(answers)) in ([201], [201, 409]) and answers.count(201) >= 1
    assert _fevers(web_trial) == 1


@pytest.mark.parametrize(("keyed", "streamed"), [(True, False), (False, False), (True, True)])
def test_a_body_past_the_limit_is_refused_before_it_is_read_whole(
    client: TestClient, web_trial: WebTrial, keyed: bool, streamed: bool
) -> None:
    """Declared too large (Content-Length), or found so as it streams in (chunked)."""
    headers = {**bearer(client, COORDINATOR), "Content-Type": "application/json"}
    if keyed:
        headers["Idempotency-Key"] = "k-huge"
    chunk = b"x" * (1024 * 1024)
    parts = [b'{"term": "', *[chunk] * (MAX_BODY_BYTES // len(chunk) + 1), b'"}']
    content = iter(parts) if streamed else b"".join(parts)
    refused = client.post(_path(web_trial), content=content, headers=headers)
    assert refused.status_code == 413
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "web.too_large" and "8 MB" in refused.json()["detail"]
    assert _fevers(web_trial) == 0
