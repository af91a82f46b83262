"""Issue 10, the web's foundation through HTTP: sign-in and sign-out, the session cookie and its
idle expiry, CSRF, the pages and the API reading through the services (her sites only), problem
details, the security headers and the language switch."""

import datetime as dt
import importlib
import pkgutil
import re

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from services_helpers import COORDINATOR, MONITOR, STATISTICIAN
from web_helpers import PASSWORD, WebTrial, bearer, client_of, csrf_of, signed_in

import endotrial.web
from endotrial.services import LANGUAGES, InvalidInput, my_account, set_my_language
from endotrial.web import api, i18n, pages
from endotrial.web.app import SESSION_COOKIE
from endotrial.web.problems import PROBLEM_MEDIA_TYPE


@pytest.fixture
def client(web_trial: WebTrial) -> TestClient:
    return client_of(web_trial.trial.study)


def test_a_coordinator_signs_in_and_reads_the_dashboard_and_her_participant(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    board = client.get("/dashboard")
    assert board.status_code == 200
    assert "1 of 60 enrolled" in board.text  # her site's one participant (SZ2 has another)
    assert "GZ6" in board.text and "SZ2" not in board.text
    serious = board.text.split('id="serious"')[1].split("</section>")[0]
    assert "Hematoma" in serious and re.search(r"\d+ hours? left|past due by", serious)
    listing = client.get("/participants")
    assert "GZ6-001" in listing.text and "SZ2-" not in listing.text
    page = client.get(f"/participants/{web_trial.home_participant}")
    assert page.status_code == 200
    assert "Treatment cycle day 1" in page.text and 'class="badge done"' in page.text
    assert "Oct 6, 2025" in page.text  # her cycle start, a date in the reader's locale
    # The monitor's query, typed with a script in it, is shown as text, never run.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text


def test_another_sites_participant_is_not_found_by_page_or_api(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    other = web_trial.other_participant
    page = client.get(f"/participants/{other}")
    assert page.status_code == 404
    assert "SZ2" not in page.text and "record.not_found" in page.text
    headers = bearer(client, COORDINATOR)
    for path in (f"/participants/{other}", f"/participants/{other}/timeline",
                 f"/participants/{other}/queries"):  # fmt: skip
        answer = client.get("/api/v1" + path, headers=headers)
        assert answer.status_code == 404, path
        assert answer.json()["code"] == "record.not_found"
        nobody = client.get("/api/v1" + path.replace(str(other), "999999"), headers=headers)
        assert nobody.json()["code"] == answer.json()["code"]  # existence is not told
    ids = [
        row["participant_id"] for row in client.get("/api/v1/participants", headers=headers).json()
    ]
    assert ids == [web_trial.home_participant]


def test_anonymous_readers_are_sent_to_sign_in_and_the_api_answers_401(
    client: TestClient,
) -> None:
    for path in ("/dashboard", "/participants", "/participants/1"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/sign-in?next={path}"
    fragment = client.get("/participants", headers={"HX-Request": "true"}, follow_redirects=False)
    assert fragment.headers["HX-Redirect"] == "/sign-in?next=/participants"
    for path in ("/dashboard", "/participants", "/participants/1", "/queries"):
        answer = client.get("/api/v1" + path)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["code"] == "auth.not_signed_in"
    forged = client.get("/api/v1/dashboard", headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 401


def test_a_form_without_its_csrf_token_is_refused(client: TestClient) -> None:
    login = {"username": COORDINATOR, "password": PASSWORD}
    client.get("/sign-in")
    for data in (login, {**login, "csrf_token": "guessed"}):
        refused = client.post("/sign-in", data=data, follow_redirects=False)
        assert refused.status_code == 403
        assert "web.csrf" in refused.text
    signed_in(client, COORDINATOR)
    assert client.post("/sign-out", follow_redirects=False).status_code == 403
    assert client.post("/language", data={"language": "zh_Hans"}).status_code == 403
    assert client.get("/dashboard", follow_redirects=False).status_code == 200  # still in
    # A new session at sign-in: the form token of the anonymous session no longer works.
    token = csrf_of(client.get("/dashboard").text)
    assert (
        client.post(
            "/sign-out", headers={"X-CSRF-Token": token}, follow_redirects=False
        ).status_code
        == 303
    )


def test_signing_out_revokes_the_sessions_token(client: TestClient) -> None:
    signed_in(client, COORDINATOR)
    stolen = client.cookies.get(SESSION_COOKIE)
    token = csrf_of(client.get("/dashboard").text)
    client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert client.get("/dashboard", follow_redirects=False).status_code == 303
    client.cookies.set(SESSION_COOKIE, stolen)  # the old cookie, replayed
    replayed = client.get("/dashboard", follow_redirects=False)
    assert replayed.status_code == 303  # the services no longer know its token


def test_the_session_cookie_is_httponly_strict_and_ends_when_idle(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.get("/sign-in")
    signed_in(client, COORDINATOR)
    cookie = client.get("/dashboard").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=1800" in cookie
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 29 * 60)
    assert client.get("/dashboard", follow_redirects=False).status_code == 200  # slides
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 61 * 60)
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_the_api_reads_with_a_bearer_token_and_signs_out(
    client: TestClient, web_trial: WebTrial
) -> None:
    headers = bearer(client, MONITOR)
    board = client.get("/api/v1/dashboard", params={"on": "2025-10-20"}, headers=headers).json()
    assert (board["on"], board["enrolment_target"]) == ("2025-10-20", 60)
    assert [site["site_code"] for site in board["sites"]] == ["GZ6"]
    home = web_trial.home_participant
    timeline = client.get(
        f"/api/v1/participants/{home}/timeline", params={"on": "2025-10-20"}, headers=headers
    ).json()
    states = {event["event_id"]: event["state"] for event in timeline["events"]}
    assert states["treatment_cycle_start"] == "done"
    queries = client.get("/api/v1/queries", params={"status": "open"}, headers=headers).json()
    assert [q["participant_id"] for q in queries] == [home]
    assert client.post("/api/v1/sign-out", headers=headers).status_code == 204
    assert client.get("/api/v1/dashboard", headers=headers).status_code == 401


def _problem(answer: object) -> dict[str, object]:
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE  # type: ignore[attr-defined]
    body = answer.json()  # type: ignore[attr-defined]
    assert set(body) == {"type", "title", "status", "detail", "code", "field"}
    assert body["status"] == answer.status_code  # type: ignore[attr-defined]
    assert body["type"] == f"/api/v1/problems/{body['code']}"
    return body


def test_every_api_error_is_a_problem_detail_with_code_and_field(client: TestClient) -> None:
    headers = bearer(client, COORDINATOR)
    wrong_id = client.get("/api/v1/participants/abc", headers=headers)
    assert wrong_id.status_code == 422
    assert _problem(wrong_id)["field"] == "participant_id"
    bad_day = client.get("/api/v1/dashboard", params={"on": "2025-13-01"}, headers=headers)
    assert (bad_day.status_code, _problem(bad_day)["field"]) == (422, "on")
    assert _problem(client.get("/api/v1/nothing-here", headers=headers))["code"] == "web.not_found"
    assert _problem(client.delete("/api/v1/dashboard", headers=headers))["status"] == 405
    wrong = client.post("/api/v1/sign-in", json={"username": COORDINATOR, "password": "nope"})
    assert (wrong.status_code, _problem(wrong)["code"]) == (401, "auth.bad_credentials")
    for _ in range(5):
        client.post("/api/v1/sign-in", json={"username": COORDINATOR, "password": "nope"})
    throttled = client.post("/api/v1/sign-in", json={"username": COORDINATOR, "password": PASSWORD})
    assert (throttled.status_code, _problem(throttled)["code"]) == (429, "auth.throttled")
    assert throttled.headers["retry-after"] == "900"
    kind = client.get(_problem(throttled)["type"]).json()  # type: ignore[arg-type]
    assert kind["code"] == "auth.throttled" and "{minutes}" in kind["message"]


def test_a_problem_is_in_the_readers_language(client: TestClient) -> None:
    chinese = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
    wrong = client.post(
        "/api/v1/sign-in", json={"username": COORDINATOR, "password": "nope"}, headers=chinese
    )
    body = _problem(wrong)
    assert body["title"] == "请先登录" and body["detail"].startswith("用户名或密码错误")  # type: ignore[union-attr]
    token = csrf_of(client.get("/sign-in", headers=chinese).text)
    page = client.post(
        "/sign-in", headers=chinese,
        data={"username": COORDINATOR, "password": "nope", "csrf_token": token},
    )  # fmt: skip
    assert page.status_code == 401 and "用户名或密码错误" in page.text


def test_the_language_switch_keeps_her_choice_across_sign_out(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    token = csrf_of(client.get("/dashboard").text)
    switched = client.post(
        "/language", data={"language": "zh_Hans", "next": "/participants", "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert switched.headers["location"] == "/participants"
    page = client.get(f"/participants/{web_trial.home_participant}")
    assert '<html lang="zh-Hans">' in page.text
    assert "时间线" in page.text and "2025年10月6日" in page.text
    board = client.get("/dashboard").text.split('id="serious"')[1]
    assert re.search(r"剩余 \d+小时|已超时", board)  # the report's time left, in Chinese
    assert "Timeline" not in page.text
    client.post("/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert "用户名" in client.get("/sign-in").text  # the sign-in page stays in her language
    token = csrf_of(client.get("/sign-in").text)
    back = client.post("/language", data={"language": "en", "csrf_token": token})
    assert "Username" in back.text
    elsewhere = client.post(
        "/language", data={"language": "en", "next": "//evil.example", "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert elsewhere.headers["location"] == "/dashboard"  # never another site's address


def test_her_language_is_kept_on_her_account_and_follows_her_to_another_browser(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    token = csrf_of(client.get("/dashboard").text)
    client.post("/language", data={"language": "zh_Hans", "csrf_token": token})
    assert my_account(web_trial.trial.study, web_trial.trial.actor(COORDINATOR)).language == (
        "zh_Hans"
    )
    elsewhere = signed_in(client_of(web_trial.trial.study), COORDINATOR)  # no cookie of hers
    assert '<html lang="zh-Hans">' in elsewhere.get("/dashboard").text
    other = signed_in(client_of(web_trial.trial.study), MONITOR)  # hers only
    assert '<html lang="en">' in other.get("/dashboard").text
    with pytest.raises(InvalidInput) as refused:
        set_my_language(web_trial.trial.study, web_trial.trial.actor(COORDINATOR), "fr")
    assert refused.value.code == "input.language"
    assert set(LANGUAGES) == set(i18n.LANGUAGES)  # the services offer what the pages have


def test_every_answer_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/sign-in", "/api/v1/dashboard", "/no-such-page", "/static/style.css"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"


def test_pages_take_no_inline_script(client: TestClient) -> None:
    """The CSP refuses inline scripts: no page may need one (htmx is a file of this site)."""
    signed_in(client, COORDINATOR)
    for path in ("/sign-in", "/dashboard", "/participants"):
        html = client.get(path).text
        scripts = re.findall(r"<script([^>]*)>", html)
        assert scripts and all('src="/static/' in attributes for attributes in scripts), path
        assert " on" not in re.sub(r'"[^"]*"', "", " ".join(re.findall(r"<[^>]+>", html)))


def test_the_openapi_document_describes_the_reads_and_their_problems(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    paths = set(document["paths"])
    reads = ("dashboard", "participants", "participants/{participant_id}/timeline", "queries")
    assert {"/api/v1/sign-in", *(f"/api/v1/{read}" for read in reads)} <= paths
    assert not any(path.startswith("/dashboard") for path in paths)  # pages are not the API
    responses = document["paths"]["/api/v1/dashboard"]["get"]["responses"]
    assert "application/problem+json" in responses["404"]["content"]
    assert "Problem" in document["components"]["schemas"]


def test_the_participants_filter_answers_htmx_with_the_rows_only(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    rows = client.get(
        "/participants", params={"status": "allocated"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in rows.text and "GZ6-001" in rows.text
    none = client.get("/participants", params={"search": "XYZ"}, headers={"HX-Request": "true"})
    assert "GZ6-001" not in none.text
    page = client.get(
        f"/participants/{web_trial.home_participant}", params={"on": "2025-10-07"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert "<html" not in page.text and dt.date(2025, 10, 7).strftime("%b %-d, %Y") in page.text


def test_a_role_that_reads_no_participant_is_refused_by_page_and_api(client: TestClient) -> None:
    signed_in(client, STATISTICIAN)
    board = client.get("/dashboard")
    assert board.status_code == 200 and 'id="visits"' not in board.text  # follows no visit
    refused = client.get("/participants")
    assert refused.status_code == 403 and "auth.role" in refused.text
    answer = client.get("/api/v1/participants", headers=bearer(client, STATISTICIAN))
    assert (answer.status_code, _problem(answer)["code"]) == (403, "auth.role")


def test_a_failure_of_the_server_shows_no_traceback(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM somewhere")

    monkeypatch.setattr(pages, "dashboard", broken)
    monkeypatch.setattr(api, "dashboard", broken)
    signed_in(client, COORDINATOR)
    page = client.get("/dashboard")
    assert page.status_code == 500
    assert "secret" not in page.text and "Traceback" not in page.text
    answer = client.get("/api/v1/dashboard", headers=bearer(client, COORDINATOR))
    assert (answer.status_code, _problem(answer)["code"]) == (500, "web.internal")
    assert "secret" not in answer.text


def _query_id(html: str) -> int:
    found = re.search(r'id="query-(\d+)"', html)
    assert found is not None, "the page shows no query"
    return int(found.group(1))


def test_the_site_answers_a_query_and_the_monitor_closes_it_on_her_page(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, COORDINATOR)
    page = client.get(f"/participants/{home}").text
    query_id, token = _query_id(page), csrf_of(page)
    action = f"/participants/{home}/queries/{query_id}/"
    assert client.post(action + "answer", data={"answer": "checked"}).status_code == 403  # no CSRF
    closing = client.post(action + "close", data={"note": "my own note", "csrf_token": token})
    assert closing.status_code == 403  # a coordinator does not close queries
    assert "may not close a query" in closing.text and 'value="my own note"' in closing.text
    answer = "<b>Checked</b> against the source, p.3"
    answered = client.post(action + "answer", data={"answer": answer, "csrf_token": token})
    assert answered.status_code == 200 and "&lt;b&gt;Checked&lt;/b&gt;" in answered.text
    assert 'class="badge answered"' in answered.text
    again = client.post(action + "answer", data={"answer": "twice", "csrf_token": token})
    assert again.status_code == 409 and "only open queries can be answered" in again.text

    monitor = signed_in(client_of(web_trial.trial.study), MONITOR)
    token = csrf_of(monitor.get(f"/participants/{home}").text)
    closed = monitor.post(action + "close", data={"note": "verified", "csrf_token": token})
    assert closed.status_code == 200 and 'class="badge closed"' in closed.text
    assert f'action="{action}close"' not in closed.text  # nothing left to do on it


def test_the_api_answers_and_closes_a_query(client: TestClient, web_trial: WebTrial) -> None:
    site, monitor = bearer(client, COORDINATOR), bearer(client, MONITOR)
    (query,) = client.get("/api/v1/queries", headers=site).json()
    path = f"/api/v1/queries/{query['query_id']}/"
    refused = client.post(path + "close", json={"note": "done"}, headers=site)
    assert (refused.status_code, _problem(refused)["code"]) == (403, "auth.role")
    assert client.post(path + "answer", json={"answer": "ok"}, headers=site).status_code == 204
    assert (
        client.post(path + "close", json={"note": "verified"}, headers=monitor).status_code == 204
    )
    twice = client.post(path + "close", json={"note": "verified"}, headers=monitor)
    assert (twice.status_code, _problem(twice)["code"]) == (409, "query.closed")
    unknown = client.post("/api/v1/queries/999999/answer", json={"answer": "x"}, headers=site)
    assert (unknown.status_code, _problem(unknown)["code"]) == (404, "record.not_found")


def test_every_form_route_refuses_a_post_without_its_csrf_token(client: TestClient) -> None:
    """Every POST of the pages (found from every module of endotrial.web that has a page
    router, so a new one is covered)."""
    signed_in(client, COORDINATOR)
    posts = [
        route.path
        for router in _page_routers()
        for route in router.routes
        if isinstance(route, APIRoute) and "POST" in route.methods
    ]
    assert len(posts) >= 5
    for path in posts:
        filled = re.sub(r"\{[^}]+\}", "1", path)
        answer = client.post(filled, data={"answer": "x", "note": "x", "language": "en"})
        assert answer.status_code == 403 and "web.csrf" in answer.text, path


def _page_routers() -> list[APIRouter]:
    modules = (
        importlib.import_module(f"endotrial.web.{info.name}")
        for info in pkgutil.iter_modules(endotrial.web.__path__)
    )
    routers = [getattr(m, "router", None) for m in modules]
    return [r for r in routers if isinstance(r, APIRouter) and not r.prefix.startswith("/api")]
