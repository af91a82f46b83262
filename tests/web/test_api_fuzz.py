"""Issue 10: the OpenAPI document fuzzed with schemathesis against the application in process
(ASGI), signed in with a bearer token: valid and invalid requests generated from every
operation's schema. No answer may be a server error, and every error must be a problem detail
(application/problem+json with its code). Bounded and derandomised, so CI runs the same cases
in well under two minutes; set ENDOTRIAL_FUZZ_EXAMPLES higher to search longer by hand."""

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from argon2 import PasswordHasher
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from services_helpers import COORDINATOR, INVESTIGATOR, PASSWORD
from sqlalchemy import create_engine
from web_helpers import SECRET, build_web_trial

from endotrial.protocol import Protocol, load_protocol
from endotrial.services import Study, TeamMember, add_user, sign_in
from endotrial.store import Role, make_engine, passwords
from endotrial.web import WebSettings, create_app
from endotrial.web.problems import PROBLEM_MEDIA_TYPE

EXAMPLES = int(os.environ.get("ENDOTRIAL_FUZZ_EXAMPLES", "12"))
#: Signs her out (every later case would be anonymous): tested in test_web_http.
NOT_FUZZED = "/api/v1/sign-out"
#: An investigator of the first site whose sign-off password the fuzzer types wrong (so the
#: wrong-password block falls on her, not on the investigator the other routes run as).
SIGNER = "pi.fuzz"


@dataclass
class Fuzzed:
    app: FastAPI
    investigator: str
    signer: str

    def headers(self, path: str) -> dict[str, str]:
        token = self.signer if path.endswith(("/sign-off", "/unlock")) else self.investigator
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def fuzzed(
    sqlite_template: Path, seed_protocol: Protocol, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    """The web trial (two sites, queries, a serious AE) on a SQLite file of this module."""
    path = tmp_path_factory.mktemp("fuzz") / "trial.db"
    shutil.copyfile(sqlite_template, path)
    shutil.copyfile(f"{sqlite_template}.key", f"{path}.key")
    engine = make_engine(f"sqlite:///{path}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        trial = build_web_trial(engine, seed_protocol).trial
        study = Study(engine, seed_protocol)
        member = TeamMember(
            username=SIGNER, full_name="Fuzzed signer", role=Role.INVESTIGATOR,
            password=PASSWORD, site_id=trial.site_id,
        )  # fmt: skip
        add_user(study, trial.actor(INVESTIGATOR), member)
        tokens = (trial.actor(INVESTIGATOR).token, sign_in(study, SIGNER, PASSWORD).token)
    assert trial.actor(COORDINATOR).token
    yield Fuzzed(create_app(study, WebSettings(secret_key=SECRET)), *tokens)
    engine.dispose()


def _document_app() -> FastAPI:
    """The application as collected: it serves its OpenAPI document (which reads no database);
    each case is then sent to the module's application over its trial (`case.call(app=...)`)."""
    study = Study(create_engine("sqlite://"), load_protocol("nct07176143"))
    return create_app(study, WebSettings(secret_key=SECRET))


# (Loaded at collection: schemathesis's lazy `from_fixture` does not run under pytest 9.)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", _document_app()).exclude(
    path=NOT_FUZZED
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
def test_no_server_error_and_every_error_is_a_problem_detail(case: Any, fuzzed: Fuzzed) -> None:
    case.headers = {**(case.headers or {}), **fuzzed.headers(case.path)}  # signed in, always
    response = case.call(app=fuzzed.app)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {case.body!r:.500}"
    assert response.status_code < 500, f"{where}\n{response.text[:2000]}"
    if response.status_code >= 400:
        (content_type,) = response.headers["content-type"]
        assert content_type == PROBLEM_MEDIA_TYPE, where
        body = response.json()
        assert body["status"] == response.status_code and body["code"], where


def test_every_operation_is_fuzzed_under_its_own_id(request: pytest.FixtureRequest) -> None:
    """pytest-xdist runs one test per id: operations sharing one were fuzzed once between them
    (tests/web/conftest.py gives each its own)."""
    name = test_no_server_error_and_every_error_is_a_problem_detail.__name__
    fuzzed = [i.nodeid.split("::")[-1] for i in request.session.items if f"::{name}[" in i.nodeid]
    operations = [r.ok().label for r in schema.get_all_operations()]
    assert len(operations) > 30
    assert sorted(fuzzed) == sorted(f"{name}[{o}]" for o in operations)
