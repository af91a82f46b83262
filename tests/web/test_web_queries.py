"""Issue 10: the monitor raises a query from a participant's records, the queries inbox lists
them for the site, and the API does the same; her records are shown field by field, never
who she is."""

import re

import pytest
from fastapi.testclient import TestClient
from services_helpers import (
    COORDINATOR,
    MONITOR,
    RADIOLOGIST,
    TRANSFER_DAY,
    start_transfer_cycle,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from web_helpers import WebTrial, bearer, client_of, csrf_of, signed_in

from endotrial.services import (
    UltrasoundCorrection,
    UltrasoundInput,
    correct_ultrasound,
    participant_records,
    record_ultrasound,
)
from endotrial.store import DataQuery

QUESTION = "Thickness <b>6.1</b> mm in the source, p.4?"


@pytest.fixture
def client(web_trial: WebTrial) -> TestClient:
    return client_of(web_trial.trial.study)


def _queries(web_trial: WebTrial) -> int:
    with Session(web_trial.trial.engine) as session:
        return int(session.scalar(select(func.count()).select_from(DataQuery)) or 0)


def test_the_monitor_raises_a_query_on_a_field_and_the_site_finds_it_in_its_inbox(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, MONITOR)
    page = client.get(f"/participants/{home}").text
    target = f"participants:{home}:arm"
    assert f'value="{target}"' in page  # her records offer each field
    raised = client.post(
        f"/participants/{home}/queries",
        data={"target": target, "text": QUESTION, "csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert raised.status_code == 303
    query_id = int(raised.headers["location"].rsplit("#query-", 1)[1])
    shown = client.get(f"/participants/{home}").text
    assert f'id="query-{query_id}"' in shown and "Thickness &lt;b&gt;6.1&lt;/b&gt;" in shown

    site = signed_in(client_of(web_trial.trial.study), COORDINATOR)
    inbox = site.get("/queries").text
    assert f'href="/participants/{home}#query-{query_id}"' in inbox
    assert f"participants #{home}.arm" in inbox and "SC-" not in inbox
    closed_only = site.get("/queries", params={"status": "closed"}).text
    assert f"#query-{query_id}" not in closed_only
    assert f"#query-{query_id}" in site.get("/queries", params={"status": "all"}).text
    # A filter the inbox does not know shows the default (not yet closed), not an error.
    assert f"#query-{query_id}" in site.get("/queries", params={"status": "x'; --"}).text


@pytest.mark.parametrize(
    ("target", "status", "says"),
    [
        ("participants:{home}:no_such_field", 409, "has no field"),
        ("no_table:{home}:arm", 409, "no trial table"),
        ("participants:abc:arm", 422, "row_id"),
        ("participants:{other}:arm", 404, "no participants record"),
    ],
)
def test_a_refused_query_is_explained_on_her_page_and_nothing_is_saved(
    client: TestClient, web_trial: WebTrial, target: str, status: int, says: str
) -> None:
    home, other = web_trial.home_participant, web_trial.other_participant
    target = target.format(home=home, other=other)
    signed_in(client, MONITOR)
    token = csrf_of(client.get(f"/participants/{home}").text)
    before = _queries(web_trial)
    refused = client.post(
        f"/participants/{home}/queries",
        data={"target": target, "text": "Please check", "csrf_token": token},
    )
    assert refused.status_code == status, refused.text
    assert says in refused.text and 'role="alert"' in refused.text
    assert ">Please check</textarea>" in refused.text  # what she typed is kept
    assert _queries(web_trial) == before


def test_a_role_that_raises_no_query_is_offered_no_form_and_refused(
    client: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    signed_in(client, RADIOLOGIST)
    page = client.get(f"/participants/{home}").text
    assert 'id="raise-query"' not in page and 'id="records"' in page
    before = _queries(web_trial)
    refused = client.post(
        f"/participants/{home}/queries",
        data={"target": f"participants:{home}:arm", "text": "x", "csrf_token": csrf_of(page)},
    )
    assert refused.status_code == 403 and _queries(web_trial) == before


def test_the_api_lists_her_records_and_raises_a_query(
    client: TestClient, web_trial: WebTrial
) -> None:
    home, other = web_trial.home_participant, web_trial.other_participant
    monitor = bearer(client, MONITOR)
    records = client.get(f"/api/v1/participants/{home}/records", headers=monitor).json()
    tables = [r["entity"] for r in records]
    assert tables[0] == "participants" and "consents" in tables and "cycles" in tables
    names = {f["name"] for r in records for f in r["fields"]}
    assert {"arm", "status", "study_id"} <= names
    assert not names & {"pseudonym", "wrapped_key", "participant_id", "person_id"}
    assert "persons" not in tables and "participant_identity" not in tables
    body = {"entity": "participants", "row_id": home, "field": "arm", "text": "Arm as allocated?"}
    raised = client.post("/api/v1/queries", json=body, headers=monitor)
    assert raised.status_code == 201
    query_id = raised.json()["query_id"]
    listed = client.get(f"/api/v1/participants/{home}/queries", headers=monitor).json()
    assert query_id in [q["query_id"] for q in listed]
    foreign = client.get(f"/api/v1/participants/{other}/records", headers=monitor)
    assert (foreign.status_code, foreign.json()["code"]) == (404, "record.not_found")
    elsewhere = client.post("/api/v1/queries", json={**body, "row_id": other}, headers=monitor)
    assert elsewhere.status_code == 404
    bad = client.post("/api/v1/queries", json={**body, "field": "nope"}, headers=monitor)
    assert (bad.status_code, bad.json()["code"], bad.json()["field"]) == (
        409,
        "record.no_field",
        "field",
    )


def test_the_records_read_shows_every_record_of_hers_field_by_field(web_trial: WebTrial) -> None:
    trial, home = web_trial.trial, web_trial.home_participant
    records = participant_records(trial.study, trial.actor(COORDINATOR), home)
    ids = [(r.entity, r.row_id) for r in records]
    assert ids[0] == ("participants", home) and len(ids) == len(set(ids))
    adverse = [r for r in records if r.entity == "adverse_events"]
    assert len(adverse) == 1
    fields = {f.name: f.value for f in adverse[0].fields}
    assert fields["term"] == "Hematoma" and fields["serious"] == "yes"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(fields["onset_date"]))


def test_each_field_shows_its_audit_history_who_when_old_new_and_why(
    client: TestClient, web_trial: WebTrial
) -> None:
    trial, home = web_trial.trial, web_trial.home_participant
    start_transfer_cycle(trial, home)
    scan = UltrasoundInput(participant_id=home, scan_date=TRANSFER_DAY, thickness_mm=6.5)
    scan_id = record_ultrasound(trial.study, trial.actor(COORDINATOR), scan)
    why = "transcription error, source document p.3"
    fix = UltrasoundCorrection(scan_id=scan_id, thickness_mm=7.5, reason=why)
    correct_ultrasound(trial.study, trial.actor(COORDINATOR), fix)

    records = participant_records(trial.study, trial.actor(MONITOR), home)
    (scanned,) = [r for r in records if r.entity == "ultrasounds"]
    thickness = next(f for f in scanned.fields if f.name == "thickness_mm")
    assert thickness.value == "7.5"
    steps = [(c.action, c.old_value, c.new_value, c.reason) for c in thickness.history]
    assert steps == [("insert", None, "6.5", None), ("update", "6.5", "7.5", why)]
    assert {c.username for c in thickness.history} == {COORDINATOR}

    signed_in(client, MONITOR)
    page = client.get(f"/participants/{home}").text
    assert f"changed: 6.5 → 7.5 · why: {why}" in page and "2 changes" in page
