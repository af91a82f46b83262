"""Issue 10: team and site administration pages for the investigator, over the services."""

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from services_helpers import COORDINATOR, INVESTIGATOR, PASSWORD
from two_sites import SITE_B_COORDINATOR, SITE_B_INVESTIGATOR
from web_helpers import WebTrial, client_of, csrf_of, signed_in

from endotrial.services import NotSignedIn, sign_in
from endotrial.services.context import MAX_FAILED_SIGN_INS

NEW_PASSWORD = "a long first passphrase"


@pytest.fixture
def client(web_trial: WebTrial) -> TestClient:
    return client_of(web_trial.trial.study)


def _post(client: TestClient, path: str, **data: str) -> Response:
    token = csrf_of(client.get("/team").text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def test_the_investigator_reads_her_team_and_only_she_is_offered_it(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, INVESTIGATOR)
    page = client.get("/team")
    assert page.status_code == 200 and 'href="/team"' in page.text
    assert "GZ6" in page.text and "SZ2" in page.text and 'id="add-site"' in page.text
    assert f'id="member-{COORDINATOR}"' in page.text and "password_hash" not in page.text
    site_b = signed_in(client_of(web_trial.trial.study), SITE_B_INVESTIGATOR)
    hers = site_b.get("/team").text
    assert f'id="member-{SITE_B_COORDINATOR}"' in hers and f'id="member-{COORDINATOR}"' not in hers
    assert 'id="add-site"' not in hers  # a site's investigator adds no site
    coordinator = signed_in(client_of(web_trial.trial.study), COORDINATOR)
    assert 'href="/team"' not in coordinator.get("/dashboard").text
    assert coordinator.get("/team").status_code == 403


def test_adding_a_team_member_and_a_refusal_that_keeps_what_was_typed(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, INVESTIGATOR)
    member = {"username": "coord.wang", "full_name": "Wang Li", "role": "coordinator",
              "site_id": str(web_trial.trial.site_id)}  # fmt: skip
    short = _post(client, "/team/members", **member, password="short")
    assert short.status_code == 422
    assert 'value="Wang Li"' in short.text and "at least 10 characters" in short.text
    assert 'value="short"' not in short.text
    added = _post(client, "/team/members", **member, password=NEW_PASSWORD)
    assert added.status_code == 303
    assert 'id="member-coord.wang"' in client.get("/team").text
    sign_in(web_trial.trial.study, "coord.wang", NEW_PASSWORD)  # she can sign in
    odd = _post(client, "/team/members", **{**member, "username": "x.y", "role": "sponsor"},
                password=NEW_PASSWORD)  # fmt: skip
    assert odd.status_code == 422 and "role" in odd.text


def test_deactivating_ends_her_sessions_and_needs_a_reason(
    client: TestClient, web_trial: WebTrial
) -> None:
    coordinator = signed_in(client_of(web_trial.trial.study), COORDINATOR)
    signed_in(client, INVESTIGATOR)
    path = f"/team/members/{COORDINATOR}/active"
    vague = _post(client, path, active="false", reason=" ")
    assert vague.status_code == 422
    done = _post(client, path, active="false", reason="she left the team at the end of May")
    assert done.status_code == 303
    assert "deactivated" in client.get("/team").text
    gone = coordinator.get("/dashboard", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/sign-in")
    with pytest.raises(NotSignedIn):
        sign_in(web_trial.trial.study, COORDINATOR, PASSWORD)
    back = _post(client, path, active="true", reason="she returned from leave in June")
    assert back.status_code == 303
    sign_in(web_trial.trial.study, COORDINATOR, PASSWORD)


def test_another_sites_investigator_cannot_touch_her_account(
    web_trial: WebTrial,
) -> None:
    site_b = signed_in(client_of(web_trial.trial.study), SITE_B_INVESTIGATOR)
    refused = _post(site_b, f"/team/members/{COORDINATOR}/active", active="false",
                    reason="trying to lock out another site")  # fmt: skip
    assert refused.status_code == 404
    site = _post(site_b, "/team/sites", code="XX9", name="Elsewhere", time_zone="Asia/Shanghai")
    assert site.status_code == 403 and "central" in site.text


def test_a_blocked_sign_in_is_shown_and_lifted(client: TestClient, web_trial: WebTrial) -> None:
    for _ in range(MAX_FAILED_SIGN_INS):
        with pytest.raises(NotSignedIn):
            sign_in(web_trial.trial.study, COORDINATOR, "guessing")
    signed_in(client, INVESTIGATOR)
    assert "sign-in blocked" in client.get("/team").text
    lifted = _post(client, f"/team/members/{COORDINATOR}/unblock",
                   reason="it was her, with caps lock on; checked by phone")  # fmt: skip
    assert lifted.status_code == 303
    assert "sign-in blocked" not in client.get("/team").text
    sign_in(web_trial.trial.study, COORDINATOR, PASSWORD)


def test_the_central_investigator_adds_a_site_in_its_time_zone(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, INVESTIGATOR)
    bad = _post(client, "/team/sites", code="BJ1", name="Beijing", time_zone="UTC+8")
    assert bad.status_code == 422 and 'value="Beijing"' in bad.text
    made = _post(client, "/team/sites", code="BJ1", name="Beijing", time_zone="Asia/Shanghai")
    assert made.status_code == 303
    assert "BJ1" in client.get("/team").text
