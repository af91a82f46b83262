"""A hostile or careless user against the keys kept in the database for `endotrial serve
--workers N` (the forms' double-submit guard, the API's `Idempotency-Key`) and against the
command itself: each hole found has its test here, and so has each attack that held."""

import datetime as dt
import os
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from fastapi.testclient import TestClient
from services_helpers import COORDINATOR, PASSWORD, eligible_items
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner
from web_helpers import WebTrial, bearer, client_of, csrf_of, signed_in

from endotrial.cli import app as cli
from endotrial.services import adverse_events, participant_records
from endotrial.store import read_session
from endotrial.store.request_keys import RequestKey, claim_request
from endotrial.web import forms, idempotency, served
from endotrial.web.settings import SECRET_ENV

DEVIATION = {"occurred_on": "2025-10-16", "category": "visit window", "description": "late scan"}
AE = {"term": "Fever", "ctcae_grade": 1, "serious": False,
      "onset_date": str(dt.datetime.now(ZoneInfo("Asia/Shanghai")).date())}  # fmt: skip
MRN = "MRN-4471-XQ"  # a candidate id her hospital gave: sealed in the tables


@pytest.fixture
def client(web_trial: WebTrial) -> TestClient:
    return client_of(web_trial.trial.study)


def _deviations(web_trial: WebTrial) -> int:
    trial = web_trial.trial
    records = participant_records(trial.study, trial.actor(COORDINATOR), web_trial.home_participant)
    return sum(r.entity == "protocol_deviations" for r in records)


def _post_deviation(client: TestClient, web_trial: WebTrial) -> Any:
    form = {**DEVIATION, "csrf_token": csrf_of(client.get("/dashboard").text)}
    path = f"/participants/{web_trial.home_participant}/deviation"
    return client.post(path, data=form, follow_redirects=False)


def _ae_path(web_trial: WebTrial) -> str:
    return f"/api/v1/participants/{web_trial.home_participant}/adverse-events"


def _database_down(*args: object, **kwargs: object) -> None:
    raise OperationalError("UPDATE request_keys", None, ConnectionError("refused"))


def _kept_rows(web_trial: WebTrial) -> list[bytes]:
    """Every request key row as a copy of the database shows it, column by column."""
    with read_session(web_trial.trial.study.engine) as session:
        rows = session.scalars(select(RequestKey)).all()
        return [
            str(getattr(row, column)).encode() if column != "body" else (row.body or b"")
            for row in rows
            for column in ("digest", "owner", "body_sha256", "headers_json", "body")
        ]


# --- what the table keeps ----------------------------------------------------------------------


def test_a_kept_api_answer_shows_nothing_to_a_copy_of_the_database(
    client: TestClient, web_trial: WebTrial
) -> None:
    """Found: a success was kept as it was answered, so the screening's answer (the candidate
    id her hospital gave, a record number sealed in the tables and shredded on erasure) lay
    in clear in request_keys for a day, and in every backup. It is sealed under a key made
    from the token, the path and the client's key, none of them stored; the replay opens it."""
    headers = {**bearer(client, COORDINATOR), "Idempotency-Key": "screen-once"}
    items = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in eligible_items().items()}
    candidate = {"candidate_ref": MRN, "items": items}
    first = client.post("/api/v1/screenings", json=candidate, headers=headers)
    assert first.status_code == 201 and first.json()["candidate_ref"] == MRN, first.text
    kept = _kept_rows(web_trial)
    assert kept, "the answer was not kept"
    token = headers["Authorization"].removeprefix("Bearer ").encode()
    for secret in (MRN.encode(), b"eligible", token, b"screen-once"):
        assert not any(secret in column for column in kept), secret
    again = client.post("/api/v1/screenings", json=candidate, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()


def test_a_form_key_keeps_nothing_typed_nor_the_session(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    assert _post_deviation(client, web_trial).status_code == 303
    kept = b"".join(_kept_rows(web_trial))
    csrf = csrf_of(client.get("/dashboard").text).encode()
    for secret in (b"late scan", b"visit window", csrf, PASSWORD.encode()):
        assert secret not in kept, secret


# --- the database failing around a form ---------------------------------------------------------


def test_a_form_saved_while_its_key_cannot_be_kept_answers_its_redirect(
    client: TestClient, web_trial: WebTrial, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found: the deviation was saved, then keeping its key failed (the database gone a
    moment): she was shown 503 "try again", and her retry (once the claim lapsed) saved it
    twice. The save stands: she is sent on, and the failure is logged."""
    signed_in(client, COORDINATOR)
    monkeypatch.setattr(forms, "finish_request_key", _database_down)
    saved = _post_deviation(client, web_trial)
    assert saved.status_code == 303, saved.text
    assert _deviations(web_trial) == 1


def test_a_form_whose_key_cannot_be_claimed_is_503_and_saves_nothing(
    client: TestClient, web_trial: WebTrial, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in(client, COORDINATOR)
    with monkeypatch.context() as patched:
        patched.setattr(forms, "claim_request_key", _database_down)
        down = _post_deviation(client, web_trial)
    assert down.status_code == 503 and "UPDATE" not in down.text and "Traceback" not in down.text
    assert _deviations(web_trial) == 0
    assert _post_deviation(client, web_trial).status_code == 303  # the retry is saved, once
    assert _post_deviation(client, web_trial).status_code == 303
    assert _deviations(web_trial) == 1


def test_a_form_whose_save_fails_frees_its_key_for_the_retry(
    client: TestClient, web_trial: WebTrial, monkeypatch: pytest.MonkeyPatch
) -> None:
    from endotrial.web import data_entry

    signed_in(client, COORDINATOR)
    with monkeypatch.context() as patched:
        patched.setattr(data_entry, "record_deviation", _database_down)
        assert _post_deviation(client, web_trial).status_code == 503
    assert _post_deviation(client, web_trial).status_code == 303  # not "still saving"
    assert _deviations(web_trial) == 1


# --- odd keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", [('!~"\\; ,=' * 40)[:255].encode(), "重试-一次".encode()], ids=["255", "utf-8"]
)
def test_an_odd_key_at_the_limit_is_one_key_and_replayed(
    client: TestClient, web_trial: WebTrial, key: bytes
) -> None:
    headers: dict[str, Any] = {**bearer(client, COORDINATOR), "Idempotency-Key": key}
    path = _ae_path(web_trial)
    first = client.post(path, json={**AE, "term": "Fièvre 发热"}, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post(path, json={**AE, "term": "Fièvre 发热"}, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    odd_headers = {**headers, "Idempotency-Key": "nul"}
    odd = client.post(path, json={**AE, "term": "Fever\x00\u202e"}, headers=odd_headers)
    assert odd.status_code < 500 and "Traceback" not in odd.text
    retried = client.post(path, json={**AE, "term": "Fever\x00\u202e"}, headers=odd_headers)
    assert retried.status_code == odd.status_code


# --- endotrial serve --workers --------------------------------------------------------------------


runner = CliRunner()


@pytest.mark.parametrize("workers", ["0", "-1", "99", "two"])
def test_a_number_of_workers_out_of_range_is_refused_before_anything_starts(
    database_url: str, workers: str
) -> None:
    answer = runner.invoke(cli, ["serve", "--database", database_url, "--workers", workers])
    assert answer.exit_code == 2 and "--workers" in answer.output, answer.output
    assert "Traceback" not in answer.output


@pytest.fixture
def served_environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """`endotrial serve` run up to uvicorn, which is told what to start instead of starting
    it; the environment it sets for its workers is put back after the test."""
    for name in (SECRET_ENV, served.SERVED_DATABASE_ENV, served.SERVED_PROTOCOL_ENV,
                 served.SERVED_HOST_ENV):  # fmt: skip
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options, app=app))
    return started


def test_a_short_secret_is_refused_before_any_worker_starts(
    database_url: str, served_environment: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "short")
    answer = runner.invoke(cli, ["serve", "--database", database_url, "--workers", "2"])
    assert answer.exit_code == 2 and SECRET_ENV in answer.output, answer.output
    assert served_environment == {} and "Traceback" not in answer.output


def test_workers_without_a_secret_share_the_one_made_so_a_session_works_at_each(
    web_trial: WebTrial, database_url: str, served_environment: dict[str, Any]
) -> None:
    answer = runner.invoke(cli, ["serve", "--database", database_url, "--workers", "2"])
    assert answer.exit_code == 0, answer.output
    assert served_environment["workers"] == 2 and served_environment["factory"] is True
    assert served_environment["app"] == served.FACTORY
    assert len(os.environ[SECRET_ENV]) >= 32  # made once, in the environment every worker gets
    first, second = served.app_from_environment(), served.app_from_environment()
    try:
        with TestClient(first) as at_first, TestClient(second) as at_second:
            signed_in(at_first, COORDINATOR)
            at_second.cookies = at_first.cookies
            dashboard = at_second.get("/dashboard", follow_redirects=False)
            assert dashboard.status_code == 200, dashboard.headers
    finally:
        for each in (first, second):
            each.state.study.engine.dispose()


def test_the_trail_status_and_a_backup_hold_with_request_keys_kept(
    client: TestClient, web_trial: WebTrial, database_url: str, tmp_path: Any
) -> None:
    """The rows are technical (not in the trail): a verify of the trail, the status and, on
    SQLite, a verified backup are not upset by keys claimed, kept and left half-done."""
    headers = {**bearer(client, COORDINATOR), "Idempotency-Key": "kept"}
    assert client.post(_ae_path(web_trial), json=AE, headers=headers).status_code == 201
    signed_in(client, COORDINATOR)
    assert _post_deviation(client, web_trial).status_code == 303
    engine = web_trial.trial.study.engine
    assert claim_request(engine, "a" * 64, "b" * 64, "", dt.timedelta(minutes=5)) is True
    assert len(_kept_rows(web_trial)) >= 3 * 5
    for command in (["audit", "verify"], ["db", "status"]):
        answer = runner.invoke(cli, [*command, "--database", database_url])
        assert answer.exit_code == 0, (command, answer.output)
    if engine.dialect.name == "sqlite":
        dest = tmp_path / "backup.db"
        made = runner.invoke(cli, ["db", "backup", str(dest), "--database", database_url])
        assert made.exit_code == 0, made.output


# --- the database failing around a keyed API POST ------------------------------------------------


def _fevers(web_trial: WebTrial) -> int:
    trial = web_trial.trial
    events = adverse_events(trial.study, trial.actor(COORDINATOR))
    return sum(e.term == "Fever" for e in events if e.participant_id == web_trial.home_participant)


def test_a_keyed_post_whose_key_cannot_be_claimed_is_a_503_problem_and_saves_nothing(
    client: TestClient, web_trial: WebTrial, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {**bearer(client, COORDINATOR), "Idempotency-Key": "claim-down"}
    with monkeypatch.context() as patched:
        patched.setattr(idempotency, "claim_request_key", _database_down)
        down = client.post(_ae_path(web_trial), json=AE, headers=headers)
    assert (down.status_code, down.json()["code"]) == (503, "web.database"), down.text
    assert "request_keys" not in down.text and _fevers(web_trial) == 0
    made = client.post(_ae_path(web_trial), json=AE, headers=headers)
    again = client.post(_ae_path(web_trial), json=AE, headers=headers)
    assert made.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert _fevers(web_trial) == 1


def test_a_keyed_post_saved_while_its_answer_cannot_be_kept_is_not_saved_again_at_once(
    client: TestClient, web_trial: WebTrial, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client has its 201; the key stays claimed (until WORKING_FOR lapses), so a retry
    now is told to wait (409), never saved a second time."""
    headers = {**bearer(client, COORDINATOR), "Idempotency-Key": "finish-down"}
    with monkeypatch.context() as patched:
        patched.setattr(idempotency, "finish_request_key", _database_down)
        made = client.post(_ae_path(web_trial), json=AE, headers=headers)
    assert made.status_code == 201, made.text
    again = client.post(_ae_path(web_trial), json=AE, headers=headers)
    assert (again.status_code, again.json()["code"]) == (409, "web.idempotency_in_progress")
    assert _fevers(web_trial) == 1
