"""Issue 10: the investigator's sign-off from her page and the API, as an electronic signature
(21 CFR Part 11): password again, name, date-time and meaning shown with the signed data;
unlocking voids it and says so."""

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from services_helpers import COORDINATOR, INVESTIGATOR, MONITOR, PASSWORD
from two_sites import SITE_B_INVESTIGATOR
from web_helpers import WebTrial, bearer, client_of, csrf_of, signed_in

from endotrial.services import (
    QueryAnswer,
    QueryClosure,
    answer_query,
    close_query,
    data_queries,
)

SIGNED = "Electronically signed by PI1 (pi1)"


@pytest.fixture
def client(web_trial: WebTrial) -> TestClient:
    return client_of(web_trial.trial.study)


def _close_her_queries(web_trial: WebTrial) -> None:
    trial = web_trial.trial
    for query in data_queries(trial.study, trial.actor(MONITOR)):
        answer = QueryAnswer(query_id=query.query_id, answer="checked against the source")
        answer_query(trial.study, trial.actor(COORDINATOR), answer)
        close_query(trial.study, trial.actor(MONITOR), QueryClosure(query_id=query.query_id))


def _sign(client: TestClient, pid: int, password: str, meaning: str = "approval") -> Response:
    token = csrf_of(client.get(f"/participants/{pid}").text)
    return client.post(
        f"/participants/{pid}/sign-off",
        data={"password": password, "meaning": meaning, "csrf_token": token},
    )


def test_the_investigator_signs_off_with_her_password_and_the_signature_is_shown(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, INVESTIGATOR)
    blocked = _sign(client, home, PASSWORD)
    assert blocked.status_code == 409 and "unresolved queries" in blocked.text
    _close_her_queries(web_trial)
    wrong = _sign(client, home, "not-my-password-123")
    assert wrong.status_code == 403
    assert "password is not right" in wrong.text
    assert "not-my-password-123" not in wrong.text and SIGNED not in wrong.text
    done = _sign(client, home, PASSWORD, meaning="review")
    assert done.status_code == 200 and SIGNED in done.text
    assert "I have reviewed these data" in done.text and "(unchanged since)" in done.text
    assert f'action="/participants/{home}/unlock"' in done.text

    coordinator = signed_in(client_of(web_trial.trial.study), COORDINATOR)
    seen = coordinator.get(f"/participants/{home}").text
    assert SIGNED in seen and "/unlock" not in seen and "/sign-off" not in seen
    assert "🔒" in coordinator.get("/participants").text


def test_unlocking_voids_the_signature_on_her_page(client: TestClient, web_trial: WebTrial) -> None:
    home = web_trial.home_participant
    _close_her_queries(web_trial)
    signed_in(client, INVESTIGATOR)
    _sign(client, home, PASSWORD)
    token = csrf_of(client.get(f"/participants/{home}").text)
    vague = client.post(f"/participants/{home}/unlock", data={"reason": "x", "csrf_token": token})
    assert vague.status_code == 422 and SIGNED in vague.text  # still signed
    why = "late hCG result from the outside laboratory"
    unlocked = client.post(
        f"/participants/{home}/unlock", data={"reason": why, "csrf_token": token}
    )
    assert unlocked.status_code == 200
    assert "is void" in unlocked.text and why in unlocked.text and SIGNED not in unlocked.text
    assert f'action="/participants/{home}/sign-off"' in unlocked.text  # she may sign again


def test_the_api_signs_off_and_unlocks(client: TestClient, web_trial: WebTrial) -> None:
    home = web_trial.home_participant
    _close_her_queries(web_trial)
    pi = bearer(client, INVESTIGATOR)
    path = f"/api/v1/participants/{home}/"
    wrong = client.post(path + "sign-off", json={"password": "nope"}, headers=pi)
    assert (wrong.status_code, wrong.json()["code"], wrong.json()["field"]) == (
        403, "signature.password", "password",
    )  # fmt: skip
    odd = client.post(path + "sign-off", json={"password": PASSWORD, "meaning": "x"}, headers=pi)
    assert odd.status_code == 422
    signed = client.post(path + "sign-off", json={"password": PASSWORD}, headers=pi)
    assert signed.status_code == 204
    summary = client.get(f"/api/v1/participants/{home}", headers=pi).json()
    assert summary["locked"] and summary["signature"]["signer_name"] == "PI1"
    assert summary["signature"]["meaning"] == "approval"
    unlocked = client.post(path + "unlock", json={"reason": "a late lab value"}, headers=pi)
    assert unlocked.status_code == 204
    voided = client.get(f"/api/v1/participants/{home}", headers=pi).json()["signature"]
    assert voided["voided_by"] == INVESTIGATOR and voided["void_reason"] == "a late lab value"
    site_b = bearer(client, SITE_B_INVESTIGATOR)
    foreign = client.post(path + "sign-off", json={"password": PASSWORD}, headers=site_b)
    assert (foreign.status_code, foreign.json()["code"]) == (404, "record.not_found")
