"""Issue 11, interim safety monitoring in the web app: the page and the API for the safety
board, the statistician and the investigator (others refused), counts of the reader's sites
equal to the analysis dataset's, and the page in Chinese."""

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    RADIOLOGIST,
    SAFETY_BOARD,
    STATISTICIAN,
    TEAM,
    allocated,
    infusion,
)
from sqlalchemy import Engine
from two_sites import SITE_B_COORDINATOR, SITE_B_INVESTIGATOR
from web_helpers import WebTrial, bearer, client_of, signed_in

from endotrial.analysis import safety_monitoring as monitoring
from endotrial.reporting.dataset_build import build_dataset
from endotrial.services import (
    AdverseEventInput,
    CycleStartInput,
    may_read_safety_monitoring,
    record_procedure,
    report_adverse_event,
    safety_monitoring,
    start_cycle,
)
from endotrial.store import Role

ALLOWED = {Role.SAFETY_BOARD, Role.STATISTICIAN, Role.INVESTIGATOR}
AFTER_INFUSION = dt.date(2025, 10, 16)


@pytest.fixture
def trial(web_trial: WebTrial) -> WebTrial:
    """The web trial, and at GZ6 a stem-cell participant infused (one serious AE, one not);
    the home participant (control) gets a second serious AE; site B's participant starts her
    treatment (in the safety set, no event)."""
    t = web_trial.trial
    stem = allocated(t, "SC-STEM", "hbmsc")
    record_procedure(t.study, t.actor(RADIOLOGIST), infusion(stem, 58_000_000))
    coordinator = t.actor(COORDINATOR)
    for pid, serious in ((stem, True), (stem, False), (web_trial.home_participant, True)):
        event = AdverseEventInput(
            participant_id=pid, term="Fever", ctcae_grade=3 if serious else 1, serious=serious,
            onset_date=AFTER_INFUSION,
        )  # fmt: skip
        report_adverse_event(t.study, coordinator, event)
    start = CycleStartInput(
        participant_id=web_trial.other_participant, cycle="treatment",
        start_date=dt.date(2025, 10, 6),
    )  # fmt: skip
    start_cycle(t.study, t.actor(SITE_B_COORDINATOR), start)
    return web_trial


@pytest.fixture
def client(trial: WebTrial) -> TestClient:
    return client_of(trial.trial.study)


def test_the_safety_board_statistician_and_investigator_read_it_others_are_refused(
    client: TestClient,
) -> None:
    for role, username in TEAM.items():
        signed_in(client, username)
        page = client.get("/safety")
        answer = client.get("/api/v1/safety", headers=bearer(client, username))
        board = client.get("/dashboard")
        linked = 'href="/safety"' in board.text
        if role in ALLOWED:
            assert page.status_code == 200 and 'id="by-arm"' in page.text, role
            assert answer.status_code == 200, role
            assert linked, role
        else:
            assert page.status_code == 403 and "auth.role" in page.text, role
            problem = answer.json()
            assert (answer.status_code, problem["code"]) == (403, "auth.role"), role
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert not linked, role
        client.cookies.clear()


def test_the_numbers_are_the_analysis_datasets(trial: WebTrial, engine: Engine) -> None:
    """The central investigator's numbers equal analysis.safety_monitoring over the report's
    own analysis dataset (safety set by the protocol's rule, by treatment received)."""
    t = trial.trial
    read = safety_monitoring(t.study, t.actor(INVESTIGATOR))
    dataset = build_dataset(engine, t.protocol)
    received = dataset.participants.assign(arm=dataset.participants["arm_received"])
    expected = monitoring.serious_events_by_arm(
        received, dataset.adverse_events, ["hbmsc", "control"]
    )
    got = [(a.arm, a.women, a.women_with_serious_ae, a.serious_aes) for a in read.arms]
    assert got == [tuple(r) for r in expected.itertuples(index=False)]
    assert got == [("hbmsc", 1, 1, 1), ("control", 2, 1, 2)]
    assert read.margin == t.protocol.analysis_plan.serious_ae_margin == 0.10
    for posterior, prior in zip(read.posteriors, monitoring.PRIORS.values(), strict=True):
        probability, difference = monitoring.posterior_excess(1, 1, 1, 2, margin=0.10, prior=prior)
        assert posterior.prior == prior.name
        assert posterior.probability == pytest.approx(probability.estimate, abs=1e-12)
        assert posterior.difference_median == pytest.approx(difference.estimate, abs=1e-9)
        assert (posterior.difference_low, posterior.difference_high) == pytest.approx(
            (difference.low, difference.high), abs=1e-9
        )


def test_the_api_answers_the_same_as_the_read(client: TestClient, trial: WebTrial) -> None:
    t = trial.trial
    answer = client.get("/api/v1/safety", headers=bearer(client, STATISTICIAN)).json()
    read = safety_monitoring(t.study, t.actor(STATISTICIAN))
    assert [a["serious_aes"] for a in answer["arms"]] == [a.serious_aes for a in read.arms]
    assert [p["probability"] for p in answer["posteriors"]] == pytest.approx(
        [p.probability for p in read.posteriors]
    )
    assert answer["margin"] == 0.10 and answer["grouping"] == "received"
    assert dt.datetime.fromisoformat(answer["cut_off"]).tzinfo is not None
    document = client.get("/api/v1/openapi.json").json()
    responses = document["paths"]["/api/v1/safety"]["get"]["responses"]
    assert "application/problem+json" in responses["403"]["content"]
    assert "SafetyMonitoring" in document["components"]["schemas"]


def test_a_site_limited_reader_counts_only_her_sites(client: TestClient) -> None:
    """Site B's investigator sees her one woman (control, no event): no stem-cell woman, so
    no posterior; GZ6's events are not hers."""
    answer = client.get("/api/v1/safety", headers=bearer(client, SITE_B_INVESTIGATOR)).json()
    counts = [(a["arm"], a["women"], a["serious_aes"]) for a in answer["arms"]]
    assert counts == [("hbmsc", 0, 0), ("control", 1, 0)]
    assert answer["posteriors"] == [] and answer["no_posterior_reason"] == "empty_arm"
    signed_in(client, SITE_B_INVESTIGATOR)
    page = client.get("/safety").text
    assert "An arm has no woman in the safety set yet" in page


def test_the_page_shows_counts_margin_priors_and_cut_off_in_chinese(client: TestClient) -> None:
    signed_in(client, SAFETY_BOARD)
    english = client.get("/safety").text
    assert "Margin set by the protocol: 10.0%" in english and "Data cut-off" in english
    assert 'id="prior-uniform"' in english and "Beta(1, 1)" in english
    assert "Beta(0.5, 0.5)" in english
    chinese = client.get("/safety", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    assert "期中安全性监查" in chinese and "方案设定的界值：10.0%" in chinese
    assert "数据截止时间" in chinese and "Margin set by" not in chinese


def test_may_read_safety_monitoring_follows_the_role(trial: WebTrial) -> None:
    t = trial.trial
    assert may_read_safety_monitoring(t.study, t.actor(SAFETY_BOARD))
    assert not may_read_safety_monitoring(t.study, t.actor(COORDINATOR))
