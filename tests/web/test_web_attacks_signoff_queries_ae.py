"""Hostile tests of issue 10's features as a careless or hostile hospital user would use them:
raising data queries (form, inbox, API) and her records in the API; the investigator's
electronic sign-off and unlock (21 CFR Part 11); the adverse-event form and API route.

An attack the application resists is a plain test. The six holes found (a right password
refused for open queries counted as a failure, a forged meaning signed as 'approval', an
unknown 'serious' read as not serious, a grade 'true' or "3.0" taken by the API, queries on
account tables, an empty target losing the question) were fixed and are plain tests too."""

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from services_helpers import COORDINATOR, INVESTIGATOR, MONITOR, PASSWORD
from sqlalchemy import select
from sqlalchemy.orm import Session
from two_sites import SITE_B_INVESTIGATOR
from web_helpers import WebTrial, bearer, client_of, csrf_of, signed_in

from endotrial.services import (
    QueryAnswer,
    QueryClosure,
    SignOffInput,
    WithdrawalInput,
    adverse_events,
    answer_query,
    close_query,
    data_queries,
    dry_run,
    is_locked,
    lock_participant,
    set_account_active,
    withdraw,
)
from endotrial.store import AuditEntry, ParticipantLock, User

SITE_TODAY = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()  # GZ6's day
SECRET_PASSWORD = "Sup3r-secret-guess-4711"
SIGNED = "Electronically signed by PI1 (pi1)"


@pytest.fixture
def client(web_trial: WebTrial) -> TestClient:
    return client_of(web_trial.trial.study)


def _close_her_queries(web_trial: WebTrial) -> None:
    trial = web_trial.trial
    for query in data_queries(trial.study, trial.actor(MONITOR)):
        if query.status.value == "closed":
            continue
        answer = QueryAnswer(query_id=query.query_id, answer="checked against the source")
        answer_query(trial.study, trial.actor(COORDINATOR), answer)
        close_query(trial.study, trial.actor(MONITOR), QueryClosure(query_id=query.query_id))


def _token(client: TestClient, pid: int) -> str:
    return csrf_of(client.get(f"/participants/{pid}").text)


def _sign(client: TestClient, pid: int, password: str, **extra: str) -> Response:
    data = {"password": password, "meaning": "approval", **extra, "csrf_token": _token(client, pid)}
    return client.post(f"/participants/{pid}/sign-off", data=data)


def _locked(web_trial: WebTrial, pid: int | None = None) -> bool:
    trial = web_trial.trial
    return is_locked(trial.study, trial.actor(INVESTIGATOR), pid or web_trial.home_participant)


def _sign_in_status(web_trial: WebTrial, username: str, password: str = PASSWORD) -> int:
    fresh = client_of(web_trial.trial.study)
    token = csrf_of(fresh.get("/sign-in").text)
    data = {"username": username, "password": password, "csrf_token": token}
    return fresh.post("/sign-in", data=data, follow_redirects=False).status_code


def _trail_text(web_trial: WebTrial) -> str:
    with Session(web_trial.trial.study.engine) as session:
        rows = session.scalars(select(AuditEntry)).all()
        return "\n".join(f"{r.old_value} {r.new_value} {r.reason}" for r in rows)


# --- the sign-off ---------------------------------------------------------------------------


def test_wrong_sign_off_passwords_are_throttled_with_sign_ins(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    _close_her_queries(web_trial)
    signed_in(client, INVESTIGATOR)
    for _ in range(5):
        assert _sign(client, home, "a-wrong-guess-123").status_code == 403
    throttled = _sign(client, home, PASSWORD)  # the right one, too late
    assert throttled.status_code == 429 and not _locked(web_trial)
    assert _sign_in_status(web_trial, INVESTIGATOR) != 303  # her sign-in is throttled too


def test_the_api_sign_off_is_throttled_too(client: TestClient, web_trial: WebTrial) -> None:
    _close_her_queries(web_trial)
    pi = bearer(client, INVESTIGATOR)
    path = f"/api/v1/participants/{web_trial.home_participant}/sign-off"
    for _ in range(5):
        assert client.post(path, json={"password": "guess-guess-1"}, headers=pi).status_code == 403
    late = client.post(path, json={"password": PASSWORD}, headers=pi)
    assert late.status_code == 429 and late.json()["code"] == "auth.throttled"
    assert not _locked(web_trial)


def test_a_right_password_refused_for_open_queries_does_not_lock_her_out(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, INVESTIGATOR)
    for _ in range(5):
        blocked = _sign(client, home, PASSWORD)
        assert blocked.status_code == 409 and "unresolved queries" in blocked.text
    assert _sign_in_status(web_trial, INVESTIGATOR) == 303


def test_a_password_typed_is_never_echoed(
    client: TestClient, web_trial: WebTrial, caplog: pytest.LogCaptureFixture
) -> None:
    home = web_trial.home_participant
    caplog.set_level(logging.DEBUG)
    signed_in(client, INVESTIGATOR)
    refused = _sign(client, home, SECRET_PASSWORD)  # wrong password
    assert refused.status_code == 403 and SECRET_PASSWORD not in refused.text
    blocked = _sign(client, home, PASSWORD)  # right one, open queries
    assert blocked.status_code == 409 and PASSWORD not in blocked.text
    too_long = _sign(client, home, SECRET_PASSWORD * 100)  # over the form's 1000
    assert too_long.status_code == 422 and SECRET_PASSWORD not in too_long.text
    pi = bearer(client, INVESTIGATOR)
    path = f"/api/v1/participants/{home}/sign-off"
    problem = client.post(path, json={"password": SECRET_PASSWORD}, headers=pi)
    assert SECRET_PASSWORD not in problem.text
    overlong = client.post(path, json={"password": SECRET_PASSWORD * 100}, headers=pi)
    assert overlong.status_code == 422 and SECRET_PASSWORD not in overlong.text
    odd = client.post(path, json={"password": SECRET_PASSWORD, "meaning": "x"}, headers=pi)
    assert odd.status_code == 422 and SECRET_PASSWORD not in odd.text
    assert SECRET_PASSWORD not in caplog.text and PASSWORD not in caplog.text
    assert SECRET_PASSWORD not in repr(SignOffInput(participant_id=1, password=SECRET_PASSWORD))
    _close_her_queries(web_trial)
    assert _sign(client, home, PASSWORD).status_code == 200
    trail = _trail_text(web_trial)
    assert PASSWORD not in trail and SECRET_PASSWORD not in trail


def test_a_dry_run_tells_nothing_about_the_password(web_trial: WebTrial) -> None:
    trial = web_trial.trial
    _close_her_queries(web_trial)
    pi = trial.actor(INVESTIGATOR)
    home = web_trial.home_participant
    results = [
        dry_run(lock_participant, trial.study, pi, SignOffInput(participant_id=home, password=p))
        for p in ("wrong-one-1234", PASSWORD, "wrong-two-5678")
    ]
    assert {(r.accepted, r.refusal) for r in results} == {(True, None)}
    assert not _locked(web_trial)
    for _ in range(6):  # rehearsals count no attempt: she still signs in
        dry_run(lock_participant, trial.study, pi, SignOffInput(participant_id=home, password="x"))
    assert _sign_in_status(web_trial, INVESTIGATOR) == 303


def test_a_coordinator_cannot_sign_even_with_the_investigators_password(
    client: TestClient, web_trial: WebTrial
) -> None:
    _close_her_queries(web_trial)
    signed_in(client, COORDINATOR)
    home = web_trial.home_participant
    token = _token(client, home)
    data = {"password": PASSWORD, "meaning": "approval", "csrf_token": token}
    assert client.post(f"/participants/{home}/sign-off", data=data).status_code == 403
    assert client.post(f"/participants/{home}/unlock", data={
        "reason": "a late laboratory value", "csrf_token": token}).status_code == 403  # fmt: skip
    assert not _locked(web_trial)


def test_a_deactivated_investigators_open_session_signs_nothing(
    client: TestClient, web_trial: WebTrial
) -> None:
    _close_her_queries(web_trial)
    trial = web_trial.trial
    home = web_trial.home_participant
    signed_in(client, INVESTIGATOR)
    token = _token(client, home)
    pi = trial.actor(INVESTIGATOR)  # site B's investigator keeps the team managed
    set_account_active(trial.study, pi, INVESTIGATOR, active=False, reason="left the hospital")
    data = {"password": PASSWORD, "meaning": "approval", "csrf_token": token}
    sent = client.post(f"/participants/{home}/sign-off", data=data, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].startswith("/sign-in")
    with Session(trial.study.engine) as session:
        assert session.scalar(select(ParticipantLock)) is None


def test_another_sites_investigator_can_neither_sign_nor_unlock(
    client: TestClient, web_trial: WebTrial
) -> None:
    _close_her_queries(web_trial)
    home, other = web_trial.home_participant, web_trial.other_participant
    signed_in(client, SITE_B_INVESTIGATOR)
    token = _token(client, other)  # a page of her own site, for a token
    data = {"password": PASSWORD, "meaning": "approval", "csrf_token": token}
    assert client.post(f"/participants/{home}/sign-off", data=data).status_code == 404
    assert not _locked(web_trial)
    pi = signed_in(client_of(web_trial.trial.study), INVESTIGATOR)
    assert _sign(pi, home, PASSWORD).status_code == 200
    unlock = {"reason": "a late laboratory value", "csrf_token": token}
    assert client.post(f"/participants/{home}/unlock", data=unlock).status_code == 404
    assert _locked(web_trial)


def test_signing_twice_and_unlocking_without_a_reason_are_refused(
    client: TestClient, web_trial: WebTrial
) -> None:
    _close_her_queries(web_trial)
    home = web_trial.home_participant
    signed_in(client, INVESTIGATOR)
    assert _sign(client, home, PASSWORD).status_code == 200
    again = _sign(client, home, PASSWORD)
    assert again.status_code == 409 and _locked(web_trial)
    token = _token(client, home)
    for reason in ("", "   ", "\t\n", "."):
        refused = client.post(
            f"/participants/{home}/unlock", data={"reason": reason, "csrf_token": token}
        )
        assert refused.status_code == 422, (reason, refused.status_code)
        assert _locked(web_trial) and SIGNED in client.get(f"/participants/{home}").text
    pi = bearer(client, INVESTIGATOR)
    api = client.post(f"/api/v1/participants/{home}/unlock", json={"reason": "  "}, headers=pi)
    assert api.status_code == 422 and _locked(web_trial)
    missing = client.post(f"/participants/{home}/unlock", data={"csrf_token": token})
    assert missing.status_code == 422 and _locked(web_trial)
    no_csrf = client.post(f"/participants/{home}/unlock", data={"reason": "a late lab value"})
    assert no_csrf.status_code == 403 and _locked(web_trial)


def test_a_forged_signature_meaning_is_refused_not_replaced(
    client: TestClient, web_trial: WebTrial
) -> None:
    _close_her_queries(web_trial)
    home = web_trial.home_participant
    signed_in(client, INVESTIGATOR)
    forged = _sign(client, home, PASSWORD, meaning="Review")
    assert forged.status_code == 422 and not _locked(web_trial)


def test_the_signature_shown_is_bound_to_the_records_digest(
    client: TestClient, web_trial: WebTrial
) -> None:
    _close_her_queries(web_trial)
    home = web_trial.home_participant
    signed_in(client, INVESTIGATOR)
    page = _sign(client, home, PASSWORD, meaning="review").text
    pi = bearer(client, INVESTIGATOR)
    signature = client.get(f"/api/v1/participants/{home}", headers=pi).json()["signature"]
    digest = signature["records_sha256"]
    assert len(digest) == 64 and f"sha256 {digest[:16]}" in page
    assert signature["meaning"] == "review" and signature["content_unchanged"] is True
    assert "(unchanged since)" in page
    why = "late hCG result from the outside laboratory"
    token = _token(client, home)
    client.post(f"/participants/{home}/unlock", data={"reason": why, "csrf_token": token})
    body = {"term": "Nausea", "ctcae_grade": 1, "serious": False, "onset_date": str(SITE_TODAY)}
    coordinator = bearer(client, COORDINATOR)
    path = f"/api/v1/participants/{home}/adverse-events"
    assert client.post(path, json=body, headers=coordinator).status_code == 201
    after = client.get(f"/participants/{home}").text
    assert SIGNED not in after and "is void" in after and "(changed since)" in after


# --- adverse events on a locked or withdrawn participant -----------------------------------


def _ae_form(**changes: str) -> dict[str, str]:
    return {
        "term": "Abdominal pain", "ctcae_grade": "2", "onset_date": SITE_TODAY.isoformat(),
        "related_procedure": "possible", "related_cells": "unlikely",
        "related_hrt": "not_related", "outcome": "", "action_taken": "analgesics",
        **changes,
    }  # fmt: skip


def _home_terms(web_trial: WebTrial) -> list[str]:
    trial = web_trial.trial
    events = adverse_events(trial.study, trial.actor(COORDINATOR))
    return [e.term for e in events if e.participant_id == web_trial.home_participant]


def _post_ae(client: TestClient, pid: int, **changes: str) -> Response:
    data = {**_ae_form(**changes), "csrf_token": _token(client, pid)}
    return client.post(f"/participants/{pid}/adverse-events", data=data, follow_redirects=False)


def test_a_locked_participant_takes_no_adverse_event_nor_query(
    client: TestClient, web_trial: WebTrial
) -> None:
    _close_her_queries(web_trial)
    home = web_trial.home_participant
    pi = signed_in(client_of(web_trial.trial.study), INVESTIGATOR)
    assert _sign(pi, home, PASSWORD).status_code == 200
    before = _home_terms(web_trial)
    signed_in(client, COORDINATOR)
    refused = _post_ae(client, home, term="Late pelvic pain")
    assert refused.status_code == 409 and 'value="analgesics"' in refused.text
    assert 'value="Late pelvic pain"' in refused.text and _home_terms(web_trial) == before
    api = bearer(client, COORDINATOR)
    body = {"term": "Fever", "ctcae_grade": 1, "serious": False, "onset_date": str(SITE_TODAY)}
    sent = client.post(f"/api/v1/participants/{home}/adverse-events", json=body, headers=api)
    assert (sent.status_code, sent.json()["code"]) == (409, "record.locked")
    monitor = bearer(client, MONITOR)
    question = {"entity": "participants", "row_id": home, "field": "arm", "text": "Arm right?"}
    asked = client.post("/api/v1/queries", json=question, headers=monitor)
    assert asked.status_code == 409 and _home_terms(web_trial) == before


def test_a_withdrawn_participant_still_takes_an_adverse_event(
    client: TestClient, web_trial: WebTrial
) -> None:
    trial = web_trial.trial
    home = web_trial.home_participant
    withdrawal = WithdrawalInput(
        participant_id=home, withdrawn_on=SITE_TODAY, initiated_by="participant",
        reason="moved to another city",
    )  # fmt: skip
    withdraw(trial.study, trial.actor(INVESTIGATOR), withdrawal)
    signed_in(client, COORDINATOR)
    sent = _post_ae(client, home, term="Follow-up headache")
    assert sent.status_code in (303, 409), sent.text  # recorded, or refused saying why
    assert sent.status_code != 500


# --- the adverse-event form: hostile values -------------------------------------------------


HOSTILE_AE_FORM: tuple[tuple[dict[str, str], str], ...] = (
    ({"ctcae_grade": "0"}, "ctcae_grade"),
    ({"ctcae_grade": "6"}, "ctcae_grade"),
    ({"ctcae_grade": "3.0"}, "ctcae_grade"),
    ({"ctcae_grade": "-1"}, "ctcae_grade"),
    ({"ctcae_grade": "99999999999999999999999"}, "ctcae_grade"),
    ({"ctcae_grade": ""}, "ctcae_grade"),
    ({"term": "x" * 100_000}, "term"),
    ({"term": "Pain\x00\x07"}, "term"),
    ({"onset_date": "0001-01-01"}, "onset_date"),
    ({"onset_date": "9999-12-31"}, "in the future"),
    ({"onset_date": "2025-02-30"}, "onset_date"),
    ({"resolution_date": "1900-01-01"}, "resolution"),
    ({"related_procedure": "definitely"}, "related_procedure"),
    ({"related_hrt": "POSSIBLE"}, "related_hrt"),
    ({"outcome": "o" * 5000}, "outcome"),
)


def test_a_hostile_adverse_event_is_refused_naming_the_field(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, COORDINATOR)
    before = _home_terms(web_trial)
    for changes, field in HOSTILE_AE_FORM:
        refused = _post_ae(client, home, **changes)
        assert refused.status_code in (409, 422), (changes, refused.status_code)
        assert field in refused.text and 'role="alert"' in refused.text, changes
        assert 'value="analgesics"' in refused.text, changes
    assert _home_terms(web_trial) == before


def test_html_typed_in_an_adverse_event_is_escaped(client: TestClient, web_trial: WebTrial) -> None:
    home = web_trial.home_participant
    signed_in(client, COORDINATOR)
    script = '"><script>alert(1)</script>'
    refused = _post_ae(client, home, term=script, ctcae_grade="4")  # refused: not serious
    assert refused.status_code == 409 and "<script>alert(1)" not in refused.text
    assert "&lt;script&gt;" in refused.text
    saved = _post_ae(client, home, term=script, action_taken="<img src=x onerror=alert(2)>")
    assert saved.status_code == 303
    page = client.get(f"/participants/{home}").text
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "<script>alert(1)" not in client.get("/safety").text


def test_serious_as_a_checkbox_sends_it(client: TestClient, web_trial: WebTrial) -> None:
    home = web_trial.home_participant
    signed_in(client, COORDINATOR)
    for word, term in (("on", "Bleeding A"), ("yes", "Bleeding B")):
        assert _post_ae(client, home, term=term, ctcae_grade="3", serious=word).status_code == 303
    assert _post_ae(client, home, term="Bleeding C", ctcae_grade="3").status_code == 303
    trial = web_trial.trial
    events = {e.term: e.serious for e in adverse_events(trial.study, trial.actor(COORDINATOR))}
    assert (events["Bleeding A"], events["Bleeding B"], events["Bleeding C"]) == (True, True, False)


def test_an_unknown_serious_value_is_refused_not_read_as_no(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, COORDINATOR)
    before = _home_terms(web_trial)
    sent = _post_ae(client, home, term="Haemorrhage", ctcae_grade="3", serious="1")
    assert sent.status_code == 422 and "serious" in sent.text
    assert _home_terms(web_trial) == before


def test_the_adverse_event_form_without_csrf_or_for_another_site_saves_nothing(
    client: TestClient, web_trial: WebTrial
) -> None:
    home, other = web_trial.home_participant, web_trial.other_participant
    signed_in(client, COORDINATOR)
    before = _home_terms(web_trial)
    no_token = client.post(f"/participants/{home}/adverse-events", data=_ae_form())
    assert no_token.status_code == 403
    forged = client.post(
        f"/participants/{home}/adverse-events", data={**_ae_form(), "csrf_token": "forged"}
    )
    assert forged.status_code == 403 and _home_terms(web_trial) == before
    token = _token(client, home)
    foreign = client.post(
        f"/participants/{other}/adverse-events", data={**_ae_form(), "csrf_token": token}
    )
    assert foreign.status_code == 404
    trial = web_trial.trial
    b_events = adverse_events(trial.study, trial.actor(INVESTIGATOR))
    assert not [e for e in b_events if e.participant_id == other]


def test_the_adverse_event_form_with_fields_missing_does_not_fail(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, COORDINATOR)
    before = _home_terms(web_trial)
    token = _token(client, home)
    for data in ({}, {"term": "Pain"}, {"term": "Pain", "ctcae_grade": "1"}):
        sent = client.post(
            f"/participants/{home}/adverse-events", data={**data, "csrf_token": token}
        )
        assert sent.status_code == 422, (data, sent.status_code)
    assert _home_terms(web_trial) == before


HOSTILE_AE_BODY: tuple[dict[str, object], ...] = (
    {"ctcae_grade": 0},
    {"ctcae_grade": 6},
    {"ctcae_grade": 3.5},
    {"serious": "maybe"},
    {"onset_date": "9999-12-31"},
    {"onset_date": "0001-01-01"},
    {"term": "t" * 201},
    {"term": "\x00"},
    {"related_cells": "definitely"},
    {"term": ["a", "b"]},
)


def test_the_api_refuses_a_hostile_adverse_event(client: TestClient, web_trial: WebTrial) -> None:
    home = web_trial.home_participant
    api = bearer(client, COORDINATOR)
    before = _home_terms(web_trial)
    body = {"term": "Fever", "ctcae_grade": 3, "serious": False, "onset_date": str(SITE_TODAY)}
    path = f"/api/v1/participants/{home}/adverse-events"
    for changes in HOSTILE_AE_BODY:
        sent = client.post(path, json={**body, **changes}, headers=api)
        assert sent.status_code in (409, 422), (changes, sent.status_code, sent.text)
        assert sent.headers["content-type"].startswith("application/problem+json")
    assert _home_terms(web_trial) == before


@pytest.mark.parametrize("grade", [True, "3.0"])
def test_the_api_refuses_a_grade_that_is_not_an_integer(
    client: TestClient, web_trial: WebTrial, grade: object
) -> None:
    home = web_trial.home_participant
    api = bearer(client, COORDINATOR)
    body = {"term": "Fever", "ctcae_grade": grade, "serious": True, "onset_date": str(SITE_TODAY)}
    sent = client.post(f"/api/v1/participants/{home}/adverse-events", json=body, headers=api)
    assert sent.status_code == 422


# --- queries --------------------------------------------------------------------------------


def _raise(client: TestClient, pid: int, target: str, text: str) -> Response:
    data = {"target": target, "text": text, "csrf_token": _token(client, pid)}
    return client.post(f"/participants/{pid}/queries", data=data, follow_redirects=False)


def _query_count(web_trial: WebTrial) -> int:
    trial = web_trial.trial
    return len(data_queries(trial.study, trial.actor(INVESTIGATOR)))


MALFORMED_TARGETS = (
    ":::",
    "participants",
    "participants::status",
    "participants:abc:status",
    "participants:-1:status",
    "participants:99999999999999999999999:status",
    "participants:1:no_such_field",
    "no_table:1:status",
    "participants:1:status:extra",
)


def test_a_malformed_query_target_is_refused_keeping_the_text(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, MONITOR)
    before = _query_count(web_trial)
    for target in MALFORMED_TARGETS:
        refused = _raise(client, home, target.replace(":1:", f":{home}:"), "Please check the arm")
        assert refused.status_code in (404, 409, 422), (target, refused.status_code)
        assert "Please check the arm" in refused.text and 'role="alert"' in refused.text, target
    assert _query_count(web_trial) == before


def test_a_query_with_no_target_keeps_the_text(client: TestClient, web_trial: WebTrial) -> None:
    home = web_trial.home_participant
    signed_in(client, MONITOR)
    refused = _raise(client, home, "", "Please check the arm")
    assert refused.status_code == 422 and "Please check the arm" in refused.text


def test_a_query_on_another_sites_record_is_not_found(
    client: TestClient, web_trial: WebTrial
) -> None:
    home, other = web_trial.home_participant, web_trial.other_participant
    signed_in(client, MONITOR)
    before = _query_count(web_trial)
    refused = _raise(client, home, f"participants:{other}:status", "Whose is this?")
    assert refused.status_code == 404 and _query_count(web_trial) == before
    monitor = bearer(client, MONITOR)
    body = {"entity": "participants", "row_id": other, "field": "status", "text": "Whose?"}
    api = client.post("/api/v1/queries", json=body, headers=monitor)
    assert (api.status_code, api.json()["code"]) == (404, "record.not_found")


def test_a_query_on_an_account_or_identity_table_is_refused(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, MONITOR)
    before = _query_count(web_trial)
    with Session(web_trial.trial.study.engine) as session:
        user_id = session.scalar(select(User.id).where(User.username == MONITOR))
    refused = _raise(client, home, f"users:{user_id}:password_hash", "Is this hash right?")
    assert refused.status_code in (404, 409, 422)
    assert _query_count(web_trial) == before


def test_a_query_with_html_is_escaped_in_the_inbox_and_on_her_page(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, MONITOR)
    text = "<img src=x onerror=alert(3)> check"
    assert _raise(client, home, f"participants:{home}:arm", text).status_code == 303
    for path in ("/queries", "/queries?status=all", f"/participants/{home}"):
        shown = client.get(path).text
        assert "<img src=x" not in shown and "<script>alert(1)" not in shown, path
        assert "&lt;img src=x" in shown or "&lt;script&gt;" in shown, path
    refused = _raise(client, home, "nope:1:x", "<script>alert(9)</script>")
    assert "<script>alert(9)" not in refused.text and "&lt;script&gt;alert(9)" in refused.text


def test_the_inbox_takes_any_status_filter_without_failing(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    statuses = ("bogus", "open", "answered", "closed", "all", "pending", "%00", "OPEN", "x" * 21)
    for status in statuses:
        shown = client.get("/queries", params={"status": status})
        assert shown.status_code in (200, 422), (status, shown.status_code)


def test_the_inbox_shows_no_other_sites_query(client: TestClient, web_trial: WebTrial) -> None:
    other = web_trial.other_participant
    b_monitor = signed_in(client_of(web_trial.trial.study), "monitor.b")
    assert _raise(b_monitor, other, f"participants:{other}:arm", "Site B only").status_code == 303
    signed_in(client, COORDINATOR)
    for status in ("pending", "all", "open"):
        assert "Site B only" not in client.get("/queries", params={"status": status}).text
    api = bearer(client, COORDINATOR)
    assert "Site B only" not in client.get("/api/v1/queries", headers=api).text


def test_her_records_in_the_api_hold_no_identity_data(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    api = bearer(client, MONITOR)
    records = client.get(f"/api/v1/participants/{home}/records", headers=api)
    assert records.status_code == 200
    entities = {r["entity"] for r in records.json()}
    assert entities and not entities & {"persons", "person_identity", "users", "screenings"}
    text = records.text.lower()
    for word in ("pseudonym", "wrapped_key", "sealed", "password", "argon2", "person_id",
                 "sc-home"):  # fmt: skip
        assert word not in text, word
    foreign = client.get(f"/api/v1/participants/{web_trial.other_participant}/records", headers=api)
    assert foreign.status_code == 404
    assert client.get(f"/api/v1/participants/{home}/records").status_code == 401
