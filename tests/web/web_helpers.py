"""Clients of the web application for the tests: signed in through its own sign-in form."""

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    MONITOR,
    SCREENED_ON,
    Trial,
    allocated,
    set_up_trial,
)
from sqlalchemy import Engine
from two_sites import SITE_B_COORDINATOR, add_site_b, screen_at

from endotrial.protocol import Protocol
from endotrial.services import (
    AdverseEventInput,
    AllocationInput,
    ConsentInput,
    EnrolmentInput,
    QueryInput,
    Study,
    allocate,
    enrol,
    open_query,
    record_consent,
    report_adverse_event,
)
from endotrial.web import WebSettings, create_app

PASSWORD = "correct horse battery"  # services_helpers.PASSWORD
SECRET = "a test secret that is long enough to sign cookies"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def client_of(study: Study, **settings: object) -> TestClient:
    app = create_app(study, WebSettings(secret_key=SECRET, **settings))  # type: ignore[arg-type]
    return TestClient(app, raise_server_exceptions=False)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


def signed_in(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    """`client` signed in through the sign-in form (its cookie holds the session)."""
    token = csrf_of(client.get("/sign-in").text)
    answer = client.post(
        "/sign-in",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


def bearer(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    answer = client.post("/api/v1/sign-in", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@dataclass
class WebTrial:
    trial: Trial
    home_participant: int
    """A participant of the coordinator's site (GZ6), allocated, treatment cycle started, with
    a monitor's query and a serious adverse event (a hematoma today)."""
    other_participant: int
    """A participant of site B (SZ2): not the GZ6 coordinator's to see."""


def build_web_trial(engine: Engine, seed_protocol: Protocol) -> WebTrial:
    """Site GZ6 with a team per role and one allocated participant (treatment cycle started,
    a monitor's query on her), and site SZ2 with its own allocated participant."""
    trial = set_up_trial(engine, seed_protocol)
    home = allocated(trial, "SC-HOME", "control")
    site_b = add_site_b(trial)
    trial.actors[SITE_B_COORDINATOR] = site_b.coordinator
    other = _allocated_at_b(trial, site_b.site_id)
    question = QueryInput(
        entity="participants", row_id=home, field="status",
        text="Consent <script>alert(1)</script> version? Please verify.",
    )  # fmt: skip
    open_query(trial.study, trial.actor(MONITOR), question)
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the site's day: not future
    serious = AdverseEventInput(
        participant_id=home, term="Hematoma", ctcae_grade=3, serious=True, onset_date=today
    )
    report_adverse_event(trial.study, trial.actor(COORDINATOR), serious)
    return WebTrial(trial, home, other)


def _allocated_at_b(trial: Trial, site_id: int) -> int:
    coordinator = trial.actor(SITE_B_COORDINATOR)
    screening_id = screen_at(trial, coordinator, site_id, "SC-B1")
    consent = ConsentInput(
        screening_id=screening_id, form_version="v1.0", consent_date=SCREENED_ON,
        taken_by=SITE_B_COORDINATOR,
    )  # fmt: skip
    participant_id = record_consent(trial.study, coordinator, consent)
    enrolment = EnrolmentInput(screening_id=screening_id, enrolled_on=SCREENED_ON)
    enrol(trial.study, coordinator, enrolment)
    allocate(
        trial.study, trial.actor(INVESTIGATOR),
        AllocationInput(participant_id=participant_id, arm="control", basis="preference",
                        allocated_on=SCREENED_ON),
    )  # fmt: skip
    return participant_id
