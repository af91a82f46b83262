"""Issue 10: the REST API's data entry (web/api_records.py). A participant taken through the
API alone from screening to a clinical pregnancy; every write route refuses the anonymous, the
wrong role and another site's records; a bad field is a problem detail naming it; the dry runs
keep nothing."""

import datetime as dt
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from measure_helpers import BASELINE, before_after_participant, before_after_protocol
from services_helpers import (
    CELL_LAB,
    COORDINATOR,
    DAY_10,
    EMBRYOLOGIST,
    INVESTIGATOR,
    MONITOR,
    PASSED_PRE_CHECKS,
    RADIOLOGIST,
    RELEASED,
    SCREENED_ON,
    STATISTICIAN,
    TRANSFER_CYCLE_START,
    TRANSFER_DAY,
    TREATMENT_START,
    audit_rows,
    eligible_items,
    set_up_trial,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from two_sites import SITE_B_INVESTIGATOR, add_site_b
from web_helpers import WebTrial, bearer, client_of

from endotrial.store import Screening, reconcile_with_trail
from endotrial.web import api_records
from endotrial.web.problems import PROBLEM_MEDIA_TYPE

DAY = dt.timedelta(days=1)
API = "/api/v1"


@pytest.fixture
def client(web_trial: WebTrial) -> TestClient:
    return client_of(web_trial.trial.study)


def _jsonable(values: dict[str, object]) -> dict[str, object]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()}


def _created(answer: Any, key: str) -> int:
    assert answer.status_code == 201, answer.text
    value = answer.json()[key]
    assert isinstance(value, int)
    return value


def _problem(answer: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = answer.json()
    assert body["code"] == code and body["status"] == status, body
    if field is not None:
        assert body["field"] == field, body
    return body


def _infusion(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "procedure_date": DAY_10.isoformat(),
        "weight_kg": 58.0,
        "viability_pct": 92.0,
        "dose_given_cells": 58_000_000,
        "release_results": RELEASED,
        "pre_checks": PASSED_PRE_CHECKS,
        "cell_lot": "LOT-API",
    }
    values.update(changes)
    return values


def test_a_participant_goes_from_screening_to_a_clinical_pregnancy_through_the_api(
    client: TestClient, web_trial: WebTrial
) -> None:
    site, pi = bearer(client, COORDINATOR), bearer(client, INVESTIGATOR)
    radiologist, embryologist = bearer(client, RADIOLOGIST), bearer(client, EMBRYOLOGIST)
    candidate = {"candidate_ref": "sc-api-1", "items": _jsonable(eligible_items())}
    screened = client.post(f"{API}/screenings", json=candidate, headers=site)
    screening_id = _created(screened, "screening_id")
    assert screened.json()["decision"] == "eligible"
    assert screened.json()["candidate_ref"] == "SC-API-1"
    assert set(screened.json()["eligible_arms"]) == {"control", "hbmsc"}

    consent = {"form_version": "v1.0", "consent_date": "2025-10-01", "taken_by": COORDINATOR}
    pid = _created(
        client.post(f"{API}/screenings/{screening_id}/consent", json=consent, headers=site),
        "participant_id",
    )
    enrolled = client.post(
        f"{API}/screenings/{screening_id}/enrolment", json={"enrolled_on": "2025-10-01"},
        headers=site,
    )  # fmt: skip
    assert _created(enrolled, "participant_id") == pid
    at = f"{API}/participants/{pid}"
    allocation = {"arm": "hbmsc", "basis": "her preference; fit", "allocated_on": "2025-10-01"}
    _created(client.post(f"{at}/allocation", json=allocation, headers=pi), "allocation_id")
    start = {"cycle": "treatment", "start_date": TREATMENT_START.isoformat()}
    _created(client.post(f"{at}/cycles", json=start, headers=site), "cycle_id")
    medication = {
        "regimen_id": "tx_estradiol_valerate", "doses_taken": 14,
        "first_day": TREATMENT_START.isoformat(),
        "last_day": (TREATMENT_START + 6 * DAY).isoformat(),
    }  # fmt: skip
    _created(client.post(f"{at}/medication", json=medication, headers=site), "medication_id")
    scan = {"scan_date": (TREATMENT_START + 8 * DAY).isoformat(), "thickness_mm": 5.5}
    scan_id = _created(client.post(f"{at}/ultrasounds", json=scan, headers=site), "ultrasound_id")
    corrected = client.post(
        f"{API}/ultrasounds/{scan_id}/correction",
        json={"thickness_mm": 5.8, "reason": "re-measured on the stored image"}, headers=site,
    )  # fmt: skip
    assert corrected.status_code == 204, corrected.text

    procedure = client.post(f"{at}/procedures", json=_infusion(), headers=radiologist)
    _created(procedure, "procedure_id")
    assert procedure.json()["dose"]["dose_viable_cells"] == 58_000_000
    assert procedure.json()["overridden"] is False
    visit = {"event_id": "post_procedure_visit", "visit_date": (DAY_10 + 7 * DAY).isoformat()}
    _created(client.post(f"{at}/visits", json=visit, headers=site), "visit_id")
    transfer_start = {"cycle": "transfer", "start_date": TRANSFER_CYCLE_START.isoformat()}
    _created(client.post(f"{at}/cycles", json=transfer_start, headers=site), "cycle_id")
    transfer = {"transfer_date": TRANSFER_DAY.isoformat(), "embryo_grades": ["4AB"]}
    transfer_id = _created(
        client.post(f"{at}/transfers", json=transfer, headers=embryologist), "transfer_id"
    )
    facts = {
        "beta_hcg_miu_ml": 250.0, "beta_hcg_date": (TRANSFER_DAY + 12 * DAY).isoformat(),
        "ultrasound_date": (TRANSFER_DAY + 30 * DAY).isoformat(), "gestational_sacs": 1,
    }  # fmt: skip
    outcome = client.post(f"{API}/transfers/{transfer_id}/outcome", json=facts, headers=site)
    assert _created(outcome, "transfer_id") == transfer_id
    assert outcome.json()["outcome"]["clinical_pregnancy"] is True
    assert outcome.json()["outcome"]["implantation_sacs"] == 1

    deviation = {"occurred_on": TRANSFER_DAY.isoformat(), "category": "visit_window",
                 "description": "transfer-cycle scan a day late"}  # fmt: skip
    _created(client.post(f"{at}/deviations", json=deviation, headers=site), "deviation_id")
    summary = client.get(at, headers=site).json()
    assert (summary["arm"], summary["status"]) == ("hbmsc", "allocated")
    tables = {r["entity"] for r in client.get(f"{at}/records", headers=site).json()}
    expected = {"ultrasounds", "procedures", "visits", "embryo_transfers", "pregnancy_outcomes"}
    assert expected <= tables
    assert reconcile_with_trail(web_trial.trial.engine).ok  # every write through the trail


def test_withdrawal_and_a_site_deviation(client: TestClient, web_trial: WebTrial) -> None:
    site = bearer(client, COORDINATOR)
    home = web_trial.home_participant
    withdrawal = {"withdrawn_on": (TREATMENT_START + 3 * DAY).isoformat(),
                  "initiated_by": "participant", "reason": "moved away from the city"}  # fmt: skip
    answer = client.post(f"{API}/participants/{home}/withdrawal", json=withdrawal, headers=site)
    _created(answer, "withdrawal_id")
    assert client.get(f"{API}/participants/{home}", headers=site).json()["status"] == "withdrawn"
    again = client.post(f"{API}/participants/{home}/withdrawal", json=withdrawal, headers=site)
    _problem(again, 409, "withdrawal.not_enrolled")
    deviation = {"occurred_on": SCREENED_ON.isoformat(), "category": "consent_form",
                 "description": "an old consent form version was on the ward"}  # fmt: skip
    _created(client.post(f"{API}/deviations", json=deviation, headers=site), "deviation_id")


def test_the_procedure_dry_run_shows_dose_problems_and_override_and_keeps_nothing(
    client: TestClient, web_trial: WebTrial
) -> None:
    trial = web_trial.trial
    pid = _allocated_to_hbmsc(client)
    radiologist = bearer(client, RADIOLOGIST)
    path = f"{API}/participants/{pid}/procedures/dry-run"
    before = audit_rows(trial.engine)
    fine = client.post(path, json=_infusion(), headers=radiologist)
    assert fine.status_code == 200, fine.text
    body = fine.json()
    assert body["accepted"] is True and body["refusal"] is None
    assert body["dose"]["dose_viable_cells"] == 58_000_000 and body["problems"] == []
    assert any(c["table"] == "procedures" and c["field"] == "dose_cells"
               for c in body["changes"])  # fmt: skip
    low = client.post(path, json=_infusion(dose_given_cells=50_000_000), headers=radiologist)
    body = low.json()
    assert body["accepted"] is False and body["needs_override"] is True
    assert body["blocked"] is False and body["dose"]["dose_viable_cells"] == 58_000_000
    assert body["refusal"]["code"] == "procedure.needs_override"
    assert any("outside" in text for text in body["problems"])
    allergic = _infusion(pre_checks={**PASSED_PRE_CHECKS, "iodine_allergy_test": "positive"})
    body = client.post(path, json=allergic, headers=radiologist).json()
    assert (body["accepted"], body["blocked"], body["needs_override"]) == (False, True, False)
    assert any("iodine" in text.lower() for text in body["problems"]), body
    overridden = _infusion(dose_given_cells=50_000_000, override_reason="cells left in the bag")
    body = client.post(path, json=overridden, headers=bearer(client, INVESTIGATOR)).json()
    assert (body["accepted"], body["overridden"]) == (True, True), body
    assert audit_rows(trial.engine) == before  # nothing kept, not even the rehearsed overrides
    records = client.get(f"{API}/participants/{pid}/records", headers=radiologist).json()
    assert not any(r["entity"] == "procedures" for r in records)
    refused = client.post(path, json=_infusion(), headers=bearer(client, MONITOR))
    _problem(refused, 403, "auth.role")


def test_the_screening_dry_run_gives_the_decision_and_keeps_nothing(
    client: TestClient, web_trial: WebTrial
) -> None:
    site = bearer(client, COORDINATOR)
    before = audit_rows(web_trial.trial.engine)
    with Session(web_trial.trial.engine) as session:
        screenings = session.scalar(select(func.count()).select_from(Screening))
    items = _jsonable(eligible_items(age_years=45, hiv_ab=None))
    candidate = {"candidate_ref": "SC-DRY", "items": items}
    answer = client.post(f"{API}/screenings/dry-run", json=candidate, headers=site)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] is True and body["screening"]["decision"] == "ineligible"
    assert body["screening"]["failed_criteria"] and body["changes"]
    assert audit_rows(web_trial.trial.engine) == before
    with Session(web_trial.trial.engine) as session:
        assert session.scalar(select(func.count()).select_from(Screening)) == screenings
    refused = client.post(f"{API}/screenings/dry-run", json=candidate)
    _problem(refused, 401, "auth.not_signed_in")
    wrong = client.post(
        f"{API}/screenings/dry-run", json=candidate, headers=bearer(client, MONITOR)
    )
    _problem(wrong, 403, "auth.role")


def _allocated_to_hbmsc(client: TestClient) -> int:
    """A GZ6 participant in the stem-cell arm with her treatment cycle started, by the API."""
    site, pi = bearer(client, COORDINATOR), bearer(client, INVESTIGATOR)
    candidate = {"candidate_ref": "SC-HB", "items": _jsonable(eligible_items())}
    screening_id = client.post(f"{API}/screenings", json=candidate, headers=site).json()[
        "screening_id"
    ]
    consent = {"form_version": "v1.0", "consent_date": "2025-10-01", "taken_by": COORDINATOR}
    pid = client.post(f"{API}/screenings/{screening_id}/consent", json=consent, headers=site)
    participant_id: int = pid.json()["participant_id"]
    client.post(
        f"{API}/screenings/{screening_id}/enrolment", json={"enrolled_on": "2025-10-01"},
        headers=site,
    )  # fmt: skip
    at = f"{API}/participants/{participant_id}"
    allocation = {"arm": "hbmsc", "basis": "her preference; fit", "allocated_on": "2025-10-01"}
    assert client.post(f"{at}/allocation", json=allocation, headers=pi).status_code == 201
    start = {"cycle": "treatment", "start_date": TREATMENT_START.isoformat()}
    assert client.post(f"{at}/cycles", json=start, headers=site).status_code == 201
    return participant_id


#: One valid body per write route (for the access tests), by path.
BODIES: dict[str, dict[str, object]] = {
    "/api/v1/screenings": {"candidate_ref": "SC-X", "items": {"sex": "F"}},
    "/api/v1/screenings/dry-run": {"candidate_ref": "SC-X", "items": {"sex": "F"}},
    "/api/v1/screenings/{screening_id}/consent": {
        "form_version": "v1.0", "consent_date": "2025-10-01", "taken_by": COORDINATOR,
    },
    "/api/v1/screenings/{screening_id}/enrolment": {"enrolled_on": "2025-10-01"},
    "/api/v1/participants/{participant_id}/allocation": {
        "arm": "control", "basis": "preference", "allocated_on": "2025-10-01",
    },
    "/api/v1/participants/{participant_id}/cycles": {
        "cycle": "transfer", "start_date": TRANSFER_CYCLE_START.isoformat(),
    },
    "/api/v1/participants/{participant_id}/medication": {
        "regimen_id": "tx_estradiol_valerate", "doses_taken": 2,
        "last_day": (TREATMENT_START + DAY).isoformat(),
    },
    "/api/v1/participants/{participant_id}/procedures": _infusion(),
    "/api/v1/participants/{participant_id}/procedures/dry-run": _infusion(),
    "/api/v1/participants/{participant_id}/ultrasounds": {
        "scan_date": (TREATMENT_START + 8 * DAY).isoformat(), "thickness_mm": 6.0,
    },
    "/api/v1/ultrasounds/{scan_id}/correction": {"thickness_mm": 6.1, "reason": "re-measured"},
    "/api/v1/participants/{participant_id}/transfers": {
        "transfer_date": TRANSFER_DAY.isoformat(), "embryo_grades": ["4AB"],
    },
    "/api/v1/transfers/{transfer_id}/outcome": {
        "beta_hcg_miu_ml": 3.0, "beta_hcg_date": (TRANSFER_DAY + 12 * DAY).isoformat(),
    },
    "/api/v1/participants/{participant_id}/visits": {
        "event_id": "post_procedure_visit", "visit_date": (DAY_10 + 7 * DAY).isoformat(),
    },
    "/api/v1/participants/{participant_id}/deviations": {
        "occurred_on": "2025-10-02", "category": "other", "description": "a late scan",
    },
    "/api/v1/deviations": {
        "occurred_on": "2025-10-02", "category": "other", "description": "a late scan",
    },
    "/api/v1/participants/{participant_id}/withdrawal": {
        "withdrawn_on": "2025-10-08", "initiated_by": "participant", "reason": "moved away",
    },
    "/api/v1/participants/{participant_id}/measurements": {
        "event_id": "baseline_scan", "item": "thickness_mm", "value": 4.2,
        "measured_date": "2025-10-14",
    },
    "/api/v1/measurements/{measurement_id}/correction": {"value": 4.3, "reason": "re-measured"},
}  # fmt: skip
#: Roles that may not do the route's operation, by path (one each is enough).
WRONG_ROLE = {
    "/api/v1/participants/{participant_id}/allocation": COORDINATOR,
    "/api/v1/participants/{participant_id}/procedures": COORDINATOR,
    "/api/v1/participants/{participant_id}/procedures/dry-run": EMBRYOLOGIST,
    "/api/v1/transfers/{transfer_id}/outcome": EMBRYOLOGIST,
    "/api/v1/participants/{participant_id}/withdrawal": RADIOLOGIST,
    "/api/v1/participants/{participant_id}/transfers": RADIOLOGIST,
    "/api/v1/participants/{participant_id}/measurements": EMBRYOLOGIST,
}


def _write_routes() -> list[str]:
    return [
        route.path
        for route in api_records.api_router.routes
        if isinstance(route, APIRoute) and "POST" in route.methods
    ]


def test_every_write_route_is_covered_and_documented(client: TestClient) -> None:
    assert set(_write_routes()) == set(BODIES)
    document = client.get(f"{API}/openapi.json").json()
    for path in BODIES:
        operation = document["paths"][path]["post"]
        assert operation["summary"] and operation["tags"], path
        assert "application/problem+json" in operation["responses"]["401"]["content"], path
        assert "requestBody" in operation, path


def _filled(path: str, record_id: int) -> str:
    for name in ("participant_id", "screening_id", "scan_id", "transfer_id", "measurement_id"):
        path = path.replace("{" + name + "}", str(record_id))
    return path


def test_every_write_route_refuses_the_anonymous_and_a_forged_token(client: TestClient) -> None:
    for path, body in BODIES.items():
        answer = client.post(_filled(path, 1), json=body)
        _problem(answer, 401, "auth.not_signed_in")
        assert answer.headers["www-authenticate"] == "Bearer"
        forged = client.post(_filled(path, 1), json=body, headers={"Authorization": "Bearer x"})
        assert forged.status_code == 401, path


def test_every_write_route_refuses_a_role_that_may_not_enter_data(
    client: TestClient, web_trial: WebTrial
) -> None:
    for username in (STATISTICIAN, CELL_LAB):
        headers = bearer(client, username)
        for path, body in BODIES.items():
            answer = client.post(_filled(path, web_trial.home_participant), json=body,
                                 headers=headers)  # fmt: skip
            _problem(answer, 403, "auth.role")
    for path, username in WRONG_ROLE.items():
        answer = client.post(
            _filled(path, web_trial.home_participant), json=BODIES[path],
            headers=bearer(client, username),
        )  # fmt: skip
        _problem(answer, 403, "auth.role")


def test_another_sites_records_are_not_found_by_any_write_route(
    client: TestClient, web_trial: WebTrial
) -> None:
    """GZ6's participant, her screening, scan and transfer are not found for site B's
    investigator (who may do every one of these operations at her own site), exactly as an
    id of nothing is; nothing is written."""
    trial = web_trial.trial
    home = web_trial.home_participant
    site = bearer(client, COORDINATOR)
    at = f"{API}/participants/{home}"
    scan = {"scan_date": (TREATMENT_START + 8 * DAY).isoformat(), "thickness_mm": 6.0}
    scan_id = _created(client.post(f"{at}/ultrasounds", json=scan, headers=site), "ultrasound_id")
    start = {"cycle": "transfer", "start_date": TRANSFER_CYCLE_START.isoformat()}
    _created(client.post(f"{at}/cycles", json=start, headers=site), "cycle_id")
    transfer = {"transfer_date": TRANSFER_DAY.isoformat(), "embryo_grades": ["4AB"]}
    transfer_id = _created(
        client.post(f"{at}/transfers", json=transfer, headers=site), "transfer_id"
    )
    with Session(trial.engine) as session:
        screening_id = session.scalar(select(Screening.id).where(Screening.participant_id == home))
    ids = {"participant_id": home, "screening_id": screening_id, "scan_id": scan_id,
           "transfer_id": transfer_id, "measurement_id": 999_998}  # fmt: skip
    # (the seed protocol measures nothing: a measurement of another site is the next test's)
    other_site = bearer(client, SITE_B_INVESTIGATOR)
    before = audit_rows(trial.engine)
    for path, body in BODIES.items():
        if "{" not in path:
            continue
        name = path.split("{")[1].split("}")[0]
        answer = client.post(path.replace("{" + name + "}", str(ids[name])), json=body,
                             headers=other_site)  # fmt: skip
        _problem(answer, 404, "record.not_found")
        nothing = client.post(_filled(path, 999_999), json=body, headers=other_site)
        assert nothing.json() == answer.json() | {"detail": nothing.json()["detail"]}, path
    assert audit_rows(trial.engine) == before
    deviation = {"occurred_on": "2025-10-02", "category": "other", "description": "seen here"}
    mine = client.post(f"{at}/deviations", json=deviation, headers=site)
    _created(mine, "deviation_id")  # her own site's team may


def test_a_bad_field_is_a_problem_detail_naming_it(client: TestClient, web_trial: WebTrial) -> None:
    site = bearer(client, COORDINATOR)
    at = f"{API}/participants/{web_trial.home_participant}"
    cases: list[tuple[str, dict[str, object], int, str, str]] = [
        (f"{at}/ultrasounds", {"scan_date": "2025-13-01", "thickness_mm": 6.0}, 422,
         "input.invalid", "scan_date"),
        (f"{at}/ultrasounds", {"scan_date": "yesterday", "thickness_mm": 6.0}, 422,
         "input.invalid", "scan_date"),
        (f"{at}/ultrasounds", {"scan_date": "2025-10-14", "thickness_mm": "6"}, 422,
         "input.invalid", "thickness_mm"),
        (f"{at}/ultrasounds", {"scan_date": "2025-10-14", "thickness_mm": 6, "colour": "x"}, 422,
         "input.invalid", "colour"),
        (f"{at}/visits", {"event_id": "post_procedure_visit", "visit_date": "2025-10-20",
                          "attended": 1}, 422, "input.invalid", "attended"),
        (f"{at}/medication", {"regimen_id": "tx_estradiol_valerate", "doses_taken": -1,
                              "last_day": "2025-10-08"}, 422, "input.invalid", "doses_taken"),
        (f"{at}/cycles", {"cycle": "no_such_cycle", "start_date": "2025-11-06"}, 409,
         "protocol.unknown", "cycle"),
        (f"{API}/participants/abc/visits", {"event_id": "x", "visit_date": "2025-10-20"}, 422,
         "input.invalid", "participant_id"),
        (f"{API}/participants/{2**63}/visits", {"event_id": "x", "visit_date": "2025-10-20"},
         422, "input.invalid", "participant_id"),
    ]  # fmt: skip
    before = audit_rows(web_trial.trial.engine)
    for path, body, status, code, field in cases:
        _problem(client.post(path, json=body, headers=site), status, code, field)
    assert audit_rows(web_trial.trial.engine) == before


def test_a_measurement_is_recorded_and_corrected_by_the_api_and_hidden_from_another_site(
    engine: Engine,
) -> None:
    """On a protocol whose outcome measures ask for a thickness at a baseline scan."""
    trial = set_up_trial(engine, before_after_protocol())
    pid = before_after_participant(trial)
    b_investigator = add_site_b(trial).investigator
    client = client_of(trial.study)
    site = bearer(client, COORDINATOR)
    at = f"{API}/participants/{pid}/measurements"
    given = {"event_id": "baseline_scan", "item": "thickness_mm", "value": 4.2,
             "measured_date": BASELINE.isoformat()}  # fmt: skip
    text = client.post(at, json={**given, "value": "4.2"}, headers=site)
    _problem(text, 422, "input.invalid", "value")  # a number typed as text: refused
    measurement_id = _created(client.post(at, json=given, headers=site), "measurement_id")
    twice = client.post(at, json=given, headers=site)
    assert twice.status_code == 409 and twice.json()["field"] in ("event_id", "item")
    fix = f"{API}/measurements/{measurement_id}/correction"
    correction = {"value": 4.4, "reason": "re-measured on the stored image"}
    other = client.post(
        fix, json=correction, headers={"Authorization": f"Bearer {b_investigator.token}"}
    )
    _problem(other, 404, "record.not_found")
    assert client.post(fix, json=correction, headers=site).status_code == 204
    records = client.get(f"{API}/participants/{pid}/records", headers=site).json()
    (row,) = [r for r in records if r["entity"] == "measurements"]
    assert any(f["value"] in ("4.4", "4.4000") for f in row["fields"]), row
