"""Hostile tests of issue 10's REST API writes (web/api_records.py) as a careless or hostile
client would send them: bodies that are not what a route takes (malformed, nested past
reason, a form, an array), absurd numbers, ids and text, another site's records; every answer
is a problem detail with its code, nothing is written, and the dry runs write nothing.

An attack the API resists is a plain test. The hole found (a body the JSON parser gives up
on, or a form of too many fields, answered "there is no page at ..." 404) was fixed and is a
plain test too."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from services_helpers import (
    COORDINATOR,
    DAY_10,
    PASSED_PRE_CHECKS,
    RADIOLOGIST,
    RELEASED,
    allocated,
    audit_rows,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from web_helpers import WebTrial, bearer, client_of, csrf_of, signed_in

from endotrial.store import Procedure
from endotrial.web.problems import PROBLEM_MEDIA_TYPE

API = "/api/v1"
HUGE = 10**30


@pytest.fixture
def client(web_trial: WebTrial) -> TestClient:
    return client_of(web_trial.trial.study)


def _problem(answer: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = answer.json()
    assert body["status"] == status and body["code"], body
    assert body["type"] == f"/api/v1/problems/{body['code']}"
    assert "Traceback" not in answer.text and "sqlalchemy" not in answer.text.lower()
    if code is not None:
        assert body["code"] == code, body
    return body


def _infusion(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "procedure_date": DAY_10.isoformat(), "weight_kg": 58.0, "viability_pct": 92.0,
        "dose_given_cells": 58_000_000, "release_results": RELEASED,
        "pre_checks": PASSED_PRE_CHECKS, "cell_lot": "LOT-API",
    }  # fmt: skip
    values.update(changes)
    return values


def _procedures(web_trial: WebTrial) -> int:
    with Session(web_trial.trial.engine) as session:
        return int(session.scalar(select(func.count()).select_from(Procedure)) or 0)


# --- bodies that are not what a route takes --------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"candidate_ref": ' * 50_000],
    ids=["nested-past-reason", "unclosed"],
)
def test_a_body_the_parser_gives_up_on_is_an_invalid_request_not_a_missing_page(
    client: TestClient, web_trial: WebTrial, body: bytes
) -> None:
    headers = {**bearer(client, COORDINATOR), "content-type": "application/json"}
    before = audit_rows(web_trial.trial.engine)
    answer = client.post(f"{API}/screenings", content=body, headers=headers)
    problem = _problem(answer, answer.status_code, "input.invalid")
    assert answer.status_code in (400, 422) and "no page" not in problem["detail"]
    assert audit_rows(web_trial.trial.engine) == before


def test_a_form_of_too_many_fields_is_refused_as_such_not_as_a_missing_page(
    web_trial: WebTrial,
) -> None:
    coordinator = signed_in(client_of(web_trial.trial.study), COORDINATOR)
    token = csrf_of(coordinator.get("/dashboard").text)
    fields = {f"x{i}": "1" for i in range(1500)}
    home = web_trial.home_participant
    answer = coordinator.post(
        f"/participants/{home}/deviation", files={"csrf_token": (None, token), **{
            k: (None, v) for k, v in fields.items()}}, follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 400, answer.status_code
    assert "no page" not in answer.text and "Traceback" not in answer.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"{", "application/json"), (b"[1]", "application/json"),
     (b"candidate_ref=SC-1", "application/x-www-form-urlencoded"), (b"\xff\xfe", "text/plain"),
     (b'{"candidate_ref": "SC-1", "items": {}, "extra": 1}', "application/json")],
)  # fmt: skip
def test_a_body_of_the_wrong_shape_is_a_problem_detail(
    client: TestClient, content: bytes, content_type: str
) -> None:
    headers = {**bearer(client, COORDINATOR), "content-type": content_type}
    _problem(client.post(f"{API}/screenings", content=content, headers=headers), 422)


# --- absurd numbers, ids and text -------------------------------------------------------------


def test_absurd_numbers_ids_and_text_are_problem_details_and_write_nothing(
    client: TestClient, web_trial: WebTrial
) -> None:
    home, cells = web_trial.home_participant, allocated(web_trial.trial, "SC-CELLS", "hbmsc")
    coordinator, radiologist = bearer(client, COORDINATOR), bearer(client, RADIOLOGIST)
    before = (audit_rows(web_trial.trial.engine), _procedures(web_trial))
    attempts: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        (f"participants/{cells}/procedures", _infusion(weight_kg=1e308), radiologist),
        (f"participants/{cells}/procedures", _infusion(dose_given_cells=HUGE), radiologist),
        (f"participants/{cells}/procedures", _infusion(weight_kg=-0.0), radiologist),
        (f"participants/{home}/medication",
         {"regimen_id": "tx_estradiol_valerate", "doses_taken": 2**63, "first_day": "2025-10-06",
          "last_day": "2025-10-15"}, coordinator),
        (f"participants/{home}/ultrasounds", {"scan_date": "2025-10-14", "thickness_mm": 1e308},
         coordinator),
        (f"participants/{home}/ultrasounds", {"scan_date": "0001-01-01", "thickness_mm": 7.0},
         coordinator),
        (f"participants/{home}/ultrasounds", {"scan_date": "9999-12-31", "thickness_mm": 7.0},
         coordinator),
        (f"participants/{home}/ultrasounds", {"scan_date": "2026-02-30", "thickness_mm": 7.0},
         coordinator),
        (f"participants/{home}/ultrasounds", {"scan_date": "2025-10-14", "thickness_mm": "7"},
         coordinator),
        (f"participants/{home}/transfers",
         {"transfer_date": "2025-10-14", "embryo_grades": ["4AB"] * 1000, "embryo_day": 2**70},
         coordinator),
        (f"participants/{home}/visits",
         {"event_id": "../" * 500, "visit_date": "2025-10-14", "attended": True}, coordinator),
        (f"participants/{home}/visits",
         {"event_id": "hbmsc_infusion", "visit_date": "2025-10-14", "attended": True},
         coordinator),  # another arm's event
        (f"participants/{home}/measurements",
         {"event_id": "x", "item": "y" * 100_000, "value": 1, "measured_date": "2025-10-14"},
         coordinator),
        (f"participants/{home}/allocation",
         {"arm": "x" * 100_000, "basis": "y", "allocated_on": "2025-10-01"}, coordinator),
        (f"participants/{HUGE}/cycles", {"cycle": "transfer", "start_date": "2025-10-01"},
         coordinator),
        (f"ultrasounds/{HUGE}/correction", {"thickness_mm": 7.0, "reason": "typo"}, coordinator),
        (f"transfers/{HUGE}/outcome", {"beta_hcg_miu_ml": 1e308, "beta_hcg_date": "2025-10-14",
                                       "gestational_sacs": HUGE}, coordinator),
        ("screenings", {"candidate_ref": "SC-Z", "items": {}, "site_id": HUGE}, coordinator),
        ("screenings", {"candidate_ref": "SC-Z", "items": {"afc": [[[1]]], "sex": {"a": 1}}},
         coordinator),
        ("screenings", {"candidate_ref": "=HYPERLINK(\"http://x\")", "items": {}}, coordinator),
        ("screenings", {"candidate_ref": "SC-\u202e\x00", "items": {}}, coordinator),
        ("deviations", {"occurred_on": "2025-10-14", "category": "x", "description": "y",
                        "site_id": HUGE}, coordinator),
    ]  # fmt: skip
    for path, body, headers in attempts:
        answer = client.post(f"{API}/{path}", json=body, headers=headers)
        assert 400 <= answer.status_code < 500, (path, answer.text[:200])
        _problem(answer, answer.status_code)
    assert (audit_rows(web_trial.trial.engine), _procedures(web_trial)) == before


def test_another_sites_records_are_not_found_and_untouched(
    client: TestClient, web_trial: WebTrial
) -> None:
    other = web_trial.other_participant
    coordinator = bearer(client, COORDINATOR)
    before = audit_rows(web_trial.trial.engine)
    for path, body in [
        (f"participants/{other}/ultrasounds", {"scan_date": "2025-10-14", "thickness_mm": 7.0}),
        (f"participants/{other}/deviations",
         {"occurred_on": "2025-10-14", "category": "x", "description": "y"}),
        (f"participants/{other}/withdrawal",
         {"withdrawn_on": "2025-10-14", "initiated_by": "participant", "reason": "moved"}),
    ]:  # fmt: skip
        _problem(client.post(f"{API}/{path}", json=body, headers=coordinator), 404)
    radiologist = bearer(client, RADIOLOGIST)  # one who may check a procedure, at her site
    dry_run = f"{API}/participants/{other}/procedures/dry-run"
    _problem(client.post(dry_run, json=_infusion(), headers=radiologist), 404)
    assert audit_rows(web_trial.trial.engine) == before


# --- the dry runs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [{}, {"viability_pct": 75.0}, {"release_results": {**RELEASED, "sterility": "positive"}},
     {"weight_kg": 80.0}],
)  # fmt: skip
def test_the_procedure_dry_run_writes_nothing_whatever_it_finds(
    client: TestClient, web_trial: WebTrial, changes: dict[str, object]
) -> None:
    cells = allocated(web_trial.trial, "SC-CELLS", "hbmsc")
    radiologist = bearer(client, RADIOLOGIST)
    before = (audit_rows(web_trial.trial.engine), _procedures(web_trial))
    path = f"{API}/participants/{cells}/procedures/dry-run"
    for _ in range(2):
        answer = client.post(path, json=_infusion(**changes), headers=radiologist)
        assert answer.status_code == 200, answer.text
    assert (audit_rows(web_trial.trial.engine), _procedures(web_trial)) == before


def test_a_dose_dry_run_for_one_weight_does_not_carry_to_a_record_of_another(
    client: TestClient, web_trial: WebTrial
) -> None:
    cells = allocated(web_trial.trial, "SC-CELLS", "hbmsc")
    radiologist = bearer(client, RADIOLOGIST)
    checked = client.post(
        f"{API}/participants/{cells}/procedures/dry-run", json=_infusion(), headers=radiologist
    )
    assert checked.status_code == 200 and checked.json()["accepted"] is True
    heavier = client.post(
        f"{API}/participants/{cells}/procedures", json=_infusion(weight_kg=80.0),
        headers=radiologist,
    )  # fmt: skip
    _problem(heavier, 409)
    assert _procedures(web_trial) == 0


@pytest.mark.parametrize("role", ["monitor1", "stat1", "dsmb1", "embryo1"])
def test_roles_that_enter_no_procedure_are_refused_the_dry_run_too(
    client: TestClient, web_trial: WebTrial, role: str
) -> None:
    cells = allocated(web_trial.trial, "SC-CELLS", "hbmsc")
    headers = bearer(client, role)
    answer = client.post(
        f"{API}/participants/{cells}/procedures/dry-run", json=_infusion(), headers=headers
    )
    assert answer.status_code == 200 or answer.status_code == 403, answer.text
    if answer.status_code == 200:  # a dry run's refusal: the role named, nothing kept
        assert answer.json()["accepted"] is False
        assert answer.json()["refusal"]["status"] == 403
