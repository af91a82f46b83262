"""A hostile or careless client against `Idempotency-Key`, the body limit, the security headers
and the participant's page read in one transaction: each hole found has its test here, and so
has each attack that held."""

import datetime as dt
from zoneinfo import ZoneInfo

import anyio
import pytest
from fastapi.testclient import TestClient
from services_helpers import COORDINATOR, INVESTIGATOR
from sqlalchemy.exc import OperationalError
from web_helpers import WebTrial, bearer, client_of, csrf_of, signed_in

from endotrial.services import (
    NotFoundError,
    NotSignedIn,
    adverse_events,
    participant_page,
    report_adverse_event,
    set_account_active,
)
from endotrial.web import adverse_events as web_adverse_events
from endotrial.web import idempotency
from endotrial.web.app import MAX_BODY_BYTES, SECURITY_HEADERS

SITE_TODAY = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()  # GZ6's day
BODY = {"term": "Fever", "ctcae_grade": 1, "serious": False, "onset_date": str(SITE_TODAY)}
MB = 1024 * 1024


@pytest.fixture
def client(web_trial: WebTrial) -> TestClient:
    return client_of(web_trial.trial.study)


def _path(participant_id: int) -> str:
    return f"/api/v1/participants/{participant_id}/adverse-events"


def _fevers(web_trial: WebTrial) -> int:
    trial = web_trial.trial
    events = adverse_events(trial.study, trial.actor(COORDINATOR))
    return sum(e.term == "Fever" for e in events if e.participant_id == web_trial.home_participant)


def _secured(answer: object) -> None:
    headers = answer.headers  # type: ignore[attr-defined]
    for name in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"):
        assert headers.get(name) == SECURITY_HEADERS[name], (name, dict(headers))


def _too_big_parts() -> list[bytes]:
    return [b'{"term": "', *[b"x" * MB] * (MAX_BODY_BYTES // MB + 1), b'"}']


# --- the body limit ----------------------------------------------------------------------------


def test_a_streamed_body_past_the_limit_without_a_key_is_refused_413(
    client: TestClient, web_trial: WebTrial
) -> None:
    """Found: chunked, no key, the API said 400 "error parsing the body" (FastAPI turned the
    limit's exception into its own 400), not 413."""
    headers = {**bearer(client, COORDINATOR), "Content-Type": "application/json"}
    refused = client.post(_path(web_trial.home_participant), content=iter(_too_big_parts()),
                          headers=headers)  # fmt: skip
    assert refused.status_code == 413, refused.text
    assert refused.json()["code"] == "web.too_large"
    _secured(refused)
    assert _fevers(web_trial) == 0


def test_a_streamed_form_past_the_limit_on_a_page_is_refused_413(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    parts = [b"text=", *[b"x" * MB] * (MAX_BODY_BYTES // MB + 1)]
    refused = client.post(f"/participants/{web_trial.home_participant}/queries",
                          content=iter(parts), headers=headers)  # fmt: skip
    assert refused.status_code == 413 and "web.too_large" in refused.text


def test_a_body_sent_larger_than_its_content_length_says_is_refused_413(
    client: TestClient, web_trial: WebTrial
) -> None:
    headers = {**bearer(client, COORDINATOR), "Content-Type": "application/json",
               "Content-Length": "20"}  # fmt: skip
    refused = client.post(_path(web_trial.home_participant), content=iter(_too_big_parts()),
                          headers=headers)  # fmt: skip
    assert refused.status_code == 413
    assert _fevers(web_trial) == 0


def test_a_content_length_of_thousands_of_digits_is_refused_413_not_500(
    client: TestClient, web_trial: WebTrial
) -> None:
    """Found: int() of more than 4300 digits raises ValueError: the limit answered 500."""
    headers = {**bearer(client, COORDINATOR), "Content-Type": "application/json",
               "Content-Length": "9" * 5000}  # fmt: skip
    refused = client.post(_path(web_trial.home_participant), content=b"{}", headers=headers)
    assert refused.status_code == 413, refused.text
    assert refused.json()["code"] == "web.too_large"


@pytest.mark.parametrize("length", ["-1", "abc", "0x10", "00000000000000000000000000002"])
def test_an_odd_content_length_is_not_a_server_error(
    client: TestClient, web_trial: WebTrial, length: str
) -> None:
    headers = {**bearer(client, COORDINATOR), "Content-Type": "application/json",
               "Content-Length": length}  # fmt: skip
    answer = client.post(_path(web_trial.home_participant), content=b"{}", headers=headers)
    assert answer.status_code == 422 and answer.json()["code"] == "input.invalid"


def test_a_declared_size_past_the_limit_is_refused_though_the_body_is_small(
    client: TestClient, web_trial: WebTrial
) -> None:
    headers = {**bearer(client, COORDINATOR), "Content-Type": "application/json",
               "Content-Length": str(MAX_BODY_BYTES + 1)}  # fmt: skip
    refused = client.post(_path(web_trial.home_participant), content=b"{}", headers=headers)
    assert refused.status_code == 413
    _secured(refused)


def test_an_upload_of_candidates_past_the_limits_is_refused_by_a_page(
    client: TestClient,
) -> None:
    """Past the screening's 4 MB: its own page (413). Found: past the server's 8 MB, the
    browser was given the API's JSON problem; now a page of the site, in her language, before
    the body is read."""
    signed_in(client, COORDINATOR)
    token = csrf_of(client.get("/screening").text)
    for size_bytes in (5 * MB, MAX_BODY_BYTES + 1):
        refused = client.post(
            "/screening/import", data={"csrf_token": token},
            files={"file": ("big.csv", b"a" * size_bytes, "text/csv")},
        )  # fmt: skip
        assert refused.status_code == 413
        assert refused.headers["content-type"].startswith("text/html"), refused.text[:200]
        assert COORDINATOR in refused.text, "the site's page: she is still signed in"
        _secured(refused)
    stranger = TestClient(client.app, raise_server_exceptions=False)
    refused = stranger.post("/screening/import", content=b"x" * (MAX_BODY_BYTES + 1),
                            headers={"Content-Type": "multipart/form-data; boundary=b",
                                     "Accept-Language": "zh-CN"})  # fmt: skip
    assert refused.status_code == 413 and "web.too_large" in refused.text
    assert 'lang="zh' in refused.text


# --- security headers ------------------------------------------------------------------------


def test_a_server_error_on_the_api_has_the_security_headers_and_frees_its_key(
    client: TestClient, web_trial: WebTrial, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found: an API 500 (answered outside the headers' middleware) had no CSP, no nosniff,
    no no-store. Held: the key of a request that failed is given back: its retry is done."""
    real = report_adverse_event
    calls: list[int] = []

    def failing_once(*args: object, **kwargs: object) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("SELECT secret")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(web_adverse_events, "report_adverse_event", failing_once)
    headers = {**bearer(client, COORDINATOR), "Idempotency-Key": "k-500"}
    failed = client.post(_path(web_trial.home_participant), json=BODY, headers=headers)
    assert failed.status_code == 500 and "secret" not in failed.text
    _secured(failed)
    assert failed.headers["Cache-Control"] == "no-store"
    retried = client.post(_path(web_trial.home_participant), json=BODY, headers=headers)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert _fevers(web_trial) == 1


def test_redirects_static_files_and_refusals_have_the_security_headers(
    client: TestClient,
) -> None:
    redirect = client.get("/participants", follow_redirects=False)
    assert redirect.status_code == 303
    _secured(redirect)
    static = client.get("/static/htmx.min.js")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    _secured(static)
    _secured(client.get("/static/nothing-here.js"))
    _secured(client.post("/api/v1/queries", json={}))  # 401


# --- Idempotency-Key ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["sign-out", "deactivated"])
def test_a_kept_answer_is_not_replayed_to_a_token_that_no_longer_works(
    client: TestClient, web_trial: WebTrial, how: str
) -> None:
    """Found: after sign-out (or her account deactivated) the same key still got 201 and the
    first answer: a session that "no longer works anywhere" still worked there."""
    headers = {**bearer(client, COORDINATOR), "Idempotency-Key": "k-ended"}
    assert client.post(_path(web_trial.home_participant), json=BODY, headers=headers).is_success
    if how == "sign-out":
        assert client.post("/api/v1/sign-out", headers=headers).status_code == 204
    else:
        trial = web_trial.trial
        set_account_active(trial.study, trial.actor(INVESTIGATOR), COORDINATOR, active=False,
                           reason="left the team")  # fmt: skip
    again = client.post(_path(web_trial.home_participant), json=BODY, headers=headers)
    assert again.status_code == 401, again.text
    assert again.json()["code"] == "auth.not_signed_in"
    assert "Idempotent-Replayed" not in again.headers


def test_a_key_is_not_replayed_to_a_request_without_a_token_or_on_another_path(
    client: TestClient, web_trial: WebTrial
) -> None:
    token = bearer(client, COORDINATOR)
    key = {"Idempotency-Key": "k-scope"}
    made = client.post(_path(web_trial.home_participant), json=BODY, headers={**token, **key})
    assert made.status_code == 201
    anonymous = client.post(_path(web_trial.home_participant), json=BODY, headers=key)
    assert anonymous.status_code == 401 and "Idempotent-Replayed" not in anonymous.headers
    elsewhere = client.post(_path(web_trial.other_participant), json=BODY,
                            headers={**token, **key})  # fmt: skip
    assert elsewhere.status_code == 404 and "adverse_event_id" not in elsewhere.text
    assert _fevers(web_trial) == 1


def test_the_same_token_written_otherwise_is_its_own_scope_and_leaks_nothing(
    client: TestClient, web_trial: WebTrial
) -> None:
    """`bearer t` and `Bearer t` are one user: a second record at worst, never another's."""
    token = bearer(client, COORDINATOR)["Authorization"].split(" ", 1)[1]
    key = {"Idempotency-Key": "k-case"}
    for written in (f"Bearer {token}", f"bearer {token}", f"BEARER {token}"):
        made = client.post(_path(web_trial.home_participant), json=BODY,
                           headers={"Authorization": written, **key})  # fmt: skip
        assert made.status_code == 201 and "Idempotent-Replayed" not in made.headers
    assert _fevers(web_trial) == 3


def test_a_key_with_spaces_around_it_is_the_same_key(
    client: TestClient, web_trial: WebTrial
) -> None:
    token = bearer(client, COORDINATOR)
    first = client.post(_path(web_trial.home_participant), json=BODY,
                        headers={**token, "Idempotency-Key": "k-space"})  # fmt: skip
    again = client.post(_path(web_trial.home_participant), json=BODY,
                        headers={**token, "Idempotency-Key": "  k-space\t"})  # fmt: skip
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    inner = client.post(_path(web_trial.home_participant), json=BODY,
                        headers={**token, "Idempotency-Key": "k- space"})  # fmt: skip
    assert "Idempotent-Replayed" not in inner.headers
    assert _fevers(web_trial) == 2


def test_sign_in_and_reads_ignore_the_key(client: TestClient) -> None:
    """A token is never kept in memory nor given to another: two sign-ins, two tokens."""
    key = {"Idempotency-Key": "k-sign-in"}
    signing = {"username": COORDINATOR, "password": "correct horse battery"}
    tokens = {client.post("/api/v1/sign-in", json=signing, headers=key).json()["access_token"]
              for _ in range(2)}  # fmt: skip
    assert len(tokens) == 2
    headers = {"Authorization": f"Bearer {tokens.pop()}", **key}
    for _ in range(2):
        read = client.get("/api/v1/participants", headers=headers)
        assert read.status_code == 200 and "Idempotent-Replayed" not in read.headers
    assert client.head("/api/v1/participants", headers=headers).status_code == 405


def test_a_client_gone_before_its_body_ended_saves_nothing_and_frees_its_key(
    client: TestClient, web_trial: WebTrial
) -> None:
    """The body cut off by a disconnect is not done (not as if it were whole), and the key
    is free for the retry."""
    token = bearer(client, COORDINATOR)
    body = b'{"term": "Fever", "ctcae_grade": 1, "serious": false, "onset_date": "%s"}' % (
        str(SITE_TODAY).encode()
    )
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": _path(web_trial.home_participant), "raw_path": b"",
        "query_string": b"", "root_path": "", "server": ("testserver", 80),
        "client": ("testclient", 5000),
        "headers": [(b"authorization", token["Authorization"].encode()),
                    (b"idempotency-key", b"k-gone"), (b"content-type", b"application/json"),
                    (b"host", b"testserver")],
    }  # fmt: skip
    messages: list[dict[str, object]] = [
        {"type": "http.request", "body": body[:20], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    anyio.run(client.app, scope, receive, send)  # type: ignore[arg-type]
    assert _fevers(web_trial) == 0
    retried = client.post(_path(web_trial.home_participant), content=body,
                          headers={**token, "Idempotency-Key": "k-gone",
                                   "Content-Type": "application/json"})  # fmt: skip
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert _fevers(web_trial) == 1


# --- the participant's page ------------------------------------------------------------------


def test_another_sites_participant_is_not_found_and_nothing_of_her_shows(
    client: TestClient, web_trial: WebTrial
) -> None:
    trial = web_trial.trial
    with pytest.raises(NotFoundError) as other:
        participant_page(trial.study, trial.actor(COORDINATOR), web_trial.other_participant)
    with pytest.raises(NotFoundError) as nobody:
        participant_page(trial.study, trial.actor(COORDINATOR), 999_999)
    assert other.value.code == nobody.value.code
    signed_in(client, COORDINATOR)
    for headers in ({}, {"HX-Request": "true"}):
        page = client.get(f"/participants/{web_trial.other_participant}", headers=headers)
        missing = client.get("/participants/999999", headers=headers)
        assert page.status_code == missing.status_code == 404
        assert "SC-B1" not in page.text and "coord.b" not in page.text
        _secured(page)


def test_a_deactivated_account_or_ended_session_reads_no_page(
    client: TestClient, web_trial: WebTrial
) -> None:
    trial = web_trial.trial
    actor = trial.actor(COORDINATOR)
    signed_in(client, COORDINATOR)
    page = f"/participants/{web_trial.home_participant}"
    assert client.get(page).status_code == 200
    set_account_active(trial.study, trial.actor(INVESTIGATOR), COORDINATOR, active=False,
                       reason="left the team")  # fmt: skip
    gone = client.get(page, follow_redirects=False)
    assert gone.status_code == 303 and "/sign-in" in gone.headers["location"]
    with pytest.raises(NotSignedIn):
        participant_page(trial.study, actor, web_trial.home_participant)


def test_a_repeat_while_the_database_is_down_is_told_so_and_saves_nothing_twice(
    client: TestClient, web_trial: WebTrial, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found (with the check above): the database failing while her sign-in is checked for a
    replay answered 500; it is 503 as for any request then, and the retry is replayed."""
    headers = {**bearer(client, COORDINATOR), "Idempotency-Key": "k-db"}
    first = client.post(_path(web_trial.home_participant), json=BODY, headers=headers)
    assert first.status_code == 201

    def database_down(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT secret", None, ConnectionError("refused"))

    with monkeypatch.context() as patched:
        patched.setattr(idempotency, "my_account", database_down)
        down = client.post(_path(web_trial.home_participant), json=BODY, headers=headers)
    assert (down.status_code, down.json()["code"]) == (503, "web.database"), down.text
    assert "secret" not in down.text
    _secured(down)
    again = client.post(_path(web_trial.home_participant), json=BODY, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert _fevers(web_trial) == 1


def test_a_kept_answer_is_forgotten_after_its_day(
    client: TestClient, web_trial: WebTrial, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "KEPT_FOR", dt.timedelta(seconds=-1))  # past its day at once
    headers = {**bearer(client, COORDINATOR), "Idempotency-Key": "k-day"}
    assert client.post(_path(web_trial.home_participant), json=BODY, headers=headers).is_success
    again = client.post(_path(web_trial.home_participant), json=BODY, headers=headers)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert _fevers(web_trial) == 2


def test_one_client_flooding_keys_does_not_push_out_anothers(
    client: TestClient, web_trial: WebTrial, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found: the answers kept were bounded for all at once: one token's many keys (dry runs
    cost nothing) pushed out everyone else's, whose retries then saved twice. A token keeps
    its own share (here two), its oldest forgotten first."""
    monkeypatch.setattr(idempotency, "MAX_KEPT_PER_TOKEN", 2)
    careful = {**bearer(client, INVESTIGATOR), "Idempotency-Key": "k-careful"}
    assert client.post(_path(web_trial.home_participant), json=BODY, headers=careful).is_success
    flooding = bearer(client, COORDINATOR)
    for number in range(5):
        made = client.post(_path(web_trial.home_participant), json=BODY,
                           headers={**flooding, "Idempotency-Key": f"k-{number}"})  # fmt: skip
        assert made.status_code == 201
    again = client.post(_path(web_trial.home_participant), json=BODY, headers=careful)
    assert again.headers["Idempotent-Replayed"] == "true"
    newest = client.post(_path(web_trial.home_participant), json=BODY,
                         headers={**flooding, "Idempotency-Key": "k-4"})  # fmt: skip
    assert newest.headers["Idempotent-Replayed"] == "true"
    assert _fevers(web_trial) == 6
