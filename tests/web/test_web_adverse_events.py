"""Issue 10: the adverse-event form on a participant's page and its API route: recorded through
the services, refused with the field named and everything typed kept."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from services_helpers import COORDINATOR, MONITOR
from web_helpers import WebTrial, bearer, client_of, csrf_of, signed_in

from endotrial.services import adverse_events
from endotrial.store import Relatedness

SITE_TODAY = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()  # GZ6's day


@pytest.fixture
def client(web_trial: WebTrial) -> TestClient:
    return client_of(web_trial.trial.study)


def _form(**changes: str) -> dict[str, str]:
    return {
        "term": "Abdominal pain", "ctcae_grade": "2", "onset_date": SITE_TODAY.isoformat(),
        "related_procedure": "possible", "related_cells": "unlikely",
        "related_hrt": "not_related", "outcome": "", "action_taken": "analgesics",
        **changes,
    }  # fmt: skip


def _terms(web_trial: WebTrial) -> list[str]:
    trial = web_trial.trial
    events = adverse_events(trial.study, trial.actor(COORDINATOR))
    return [e.term for e in events if e.participant_id == web_trial.home_participant]


def test_the_coordinator_reports_an_adverse_event_from_her_page(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, COORDINATOR)
    page = client.get(f"/participants/{home}").text
    assert 'id="report-ae"' in page and '<datalist id="expected-terms">' in page
    sent = client.post(
        f"/participants/{home}/adverse-events",
        data={**_form(), "csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    trial = web_trial.trial
    (event,) = [
        e for e in adverse_events(trial.study, trial.actor(COORDINATOR))
        if e.term == "Abdominal pain"
    ]  # fmt: skip
    assert (event.ctcae_grade, event.serious, event.onset_date) == (2, False, SITE_TODAY)
    assert (event.related_procedure, event.related_cells) == (
        Relatedness.POSSIBLE, Relatedness.UNLIKELY,
    )  # fmt: skip
    assert event.action_taken == "analgesics" and event.outcome is None


@pytest.mark.parametrize(
    ("changes", "status", "says"),
    [
        ({"ctcae_grade": "three"}, 422, "ctcae_grade"),
        ({"onset_date": "yesterday"}, 422, "onset_date"),
        ({"onset_date": (SITE_TODAY + dt.timedelta(days=3)).isoformat()}, 409, "in the future"),
        ({"onset_date": "2025-09-01"}, 409, "before participant"),
        ({"ctcae_grade": "4"}, 409, "mark it serious"),
        ({"related_cells": "maybe"}, 422, "related_cells"),
        ({"term": "   "}, 422, "term"),
    ],
)
def test_a_refused_adverse_event_keeps_what_was_typed(
    client: TestClient, web_trial: WebTrial, changes: dict[str, str], status: int, says: str
) -> None:
    home = web_trial.home_participant
    signed_in(client, COORDINATOR)
    token = csrf_of(client.get(f"/participants/{home}").text)
    before = _terms(web_trial)
    form = _form(**{"term": "Pelvic pain after the infusion", **changes})
    refused = client.post(
        f"/participants/{home}/adverse-events", data={**form, "csrf_token": token}
    )
    assert refused.status_code == status, refused.text
    assert says in refused.text and 'role="alert"' in refused.text
    assert 'value="analgesics"' in refused.text  # nothing typed is lost
    assert _terms(web_trial) == before


def test_a_role_that_reports_no_adverse_event_is_offered_no_form_and_refused(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, MONITOR)
    page = client.get(f"/participants/{home}").text
    assert 'id="report-ae"' not in page
    refused = client.post(
        f"/participants/{home}/adverse-events", data={**_form(), "csrf_token": csrf_of(page)}
    )
    assert refused.status_code == 403


def test_the_api_reports_an_adverse_event(client: TestClient, web_trial: WebTrial) -> None:
    home, other = web_trial.home_participant, web_trial.other_participant
    site = bearer(client, COORDINATOR)
    body = {"term": "Fever", "ctcae_grade": 1, "serious": False, "onset_date": str(SITE_TODAY)}
    path = f"/api/v1/participants/{home}/adverse-events"
    made = client.post(path, json=body, headers=site)
    assert made.status_code == 201 and made.json()["adverse_event_id"] > 0
    assert "Fever" in _terms(web_trial)
    odd = client.post(path, json={**body, "related_cells": "maybe"}, headers=site)
    assert odd.status_code == 422
    late = client.post(path, json={**body, "ctcae_grade": 5}, headers=site)
    assert (late.status_code, late.json()["code"]) == (409, "ae.grade_serious")
    foreign = client.post(f"/api/v1/participants/{other}/adverse-events", json=body, headers=site)
    assert (foreign.status_code, foreign.json()["code"]) == (404, "record.not_found")
