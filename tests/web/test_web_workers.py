"""Several server processes over one database (`endotrial serve --workers N`, or two servers
behind one proxy): a session signed in at one works at the other, and a form or an API POST
sent again is saved once whichever process takes each copy. Two real `endotrial serve`
processes on two ports, sharing the session secret, over one SQLite file."""

import datetime as dt
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx2
import pytest
from services_helpers import COORDINATOR, PASSWORD
from web_helpers import WebTrial, build_web_trial, csrf_of

from endotrial.protocol import Protocol
from endotrial.services import adverse_events, participant_records
from endotrial.store import make_engine

START_SECONDS = 60.0
DEVIATION = {"occurred_on": "2025-10-16", "category": "visit window", "description": "late scan"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _served(url: str, secret: str) -> Iterator[str]:
    env = {**os.environ, "ENDOTRIAL_WEB_SECRET": secret}
    port = _free_port()
    command = [sys.executable, "-c", "from endotrial.cli import main; main()", "serve",
               "--database", url, "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _answers(base):
            assert server.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(base: str) -> bool:
    try:
        return httpx2.get(f"{base}/sign-in", timeout=2).status_code == 200
    except httpx2.TransportError:
        return False


@pytest.fixture
def two_servers(
    sqlite_template: Path, seed_protocol: Protocol, tmp_path: Path
) -> Iterator[tuple[WebTrial, str, str]]:
    path = tmp_path / "trial.db"
    shutil.copyfile(sqlite_template, path)
    shutil.copyfile(f"{sqlite_template}.key", f"{path}.key")
    url = f"sqlite:///{path}"
    web_trial = build_web_trial(make_engine(url), seed_protocol)
    secret = secrets.token_urlsafe(48)
    with _served(url, secret) as first, _served(url, secret) as second:
        yield web_trial, first, second


def _deviations(web_trial: WebTrial) -> int:
    trial = web_trial.trial
    records = participant_records(trial.study, trial.actor(COORDINATOR), web_trial.home_participant)
    return sum(r.entity == "protocol_deviations" for r in records)


def _fevers(web_trial: WebTrial) -> int:
    trial = web_trial.trial
    events = adverse_events(trial.study, trial.actor(COORDINATOR))
    return sum(e.term == "Fever" for e in events if e.participant_id == web_trial.home_participant)


def test_a_form_sent_to_two_processes_at_once_is_saved_once(
    two_servers: tuple[WebTrial, str, str],
) -> None:
    web_trial, first, second = two_servers
    with httpx2.Client(timeout=60) as browser:  # one cookie jar: 127.0.0.1 on either port
        answers = _posted_at_once(browser, first, second, web_trial.home_participant)
    assert [a.status_code for a in answers] == [303] * 4
    assert len({a.headers["location"] for a in answers}) == 1
    assert _deviations(web_trial) == 1


def _posted_at_once(
    browser: httpx2.Client, first: str, second: str, participant_id: int
) -> list[httpx2.Response]:
    """Signed in at the first server, the same deviation form posted twice to each at once."""
    token = csrf_of(browser.get(f"{first}/sign-in").text)
    signing = {"username": COORDINATOR, "password": PASSWORD, "csrf_token": token}
    assert browser.post(f"{first}/sign-in", data=signing).status_code == 303
    form = {**DEVIATION, "csrf_token": csrf_of(browser.get(f"{second}/dashboard").text)}
    path = f"/participants/{participant_id}/deviation"
    answers: list[httpx2.Response] = []
    start = threading.Barrier(4)

    def post(base: str) -> None:
        start.wait()
        answers.append(browser.post(f"{base}{path}", data=form))

    posts = [threading.Thread(target=post, args=(base,)) for base in (first, second) * 2]
    for thread in posts:
        thread.start()
    for thread in posts:
        thread.join(timeout=120)
    return answers


def test_an_api_post_retried_at_another_process_is_replayed(
    two_servers: tuple[WebTrial, str, str],
) -> None:
    web_trial, first, second = two_servers
    signing = {"username": COORDINATOR, "password": PASSWORD}
    token = httpx2.post(f"{first}/api/v1/sign-in", json=signing).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "retry-elsewhere"}
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()  # her site's day
    body = {"term": "Fever", "ctcae_grade": 1, "serious": False, "onset_date": str(today)}
    path = f"/api/v1/participants/{web_trial.home_participant}/adverse-events"
    made = httpx2.post(f"{first}{path}", json=body, headers=headers, timeout=60)
    assert made.status_code == 201, made.text
    again = httpx2.post(f"{second}{path}", json=body, headers=headers, timeout=60)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == made.json()
    assert _fevers(web_trial) == 1
