"""Shared fixtures: the seed and second protocols, and databases migrated to head.

Database tests run on SQLite always and on PostgreSQL when ENDOTRIAL_TEST_POSTGRES_URL is set;
each PostgreSQL test gets its own schema (search_path in the URL), so tests never see each other's
rows. In CI (env CI set) a missing PostgreSQL URL is a failure, not a skip.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from endotrial.protocol import Protocol, load_protocol
from endotrial.store import make_engine, upgrade_database
from endotrial.store.keys import KEY_FILE_ENV

FIXTURES = Path(__file__).parent / "fixtures"
SECOND_PROTOCOL_FILE = FIXTURES / "protocols" / "second_trial.yaml"


@pytest.fixture(scope="session")
def seed_protocol() -> Protocol:
    return load_protocol("nct07176143")


@pytest.fixture(scope="session")
def second_protocol() -> Protocol:
    return load_protocol(SECOND_PROTOCOL_FILE)


POSTGRES_ENV = "ENDOTRIAL_TEST_POSTGRES_URL"


def _postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    message = f"{POSTGRES_ENV} is not set (run .ci/postgres.sh and export what it prints)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must test PostgreSQL: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied per test: migrating once keeps the suite fast."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A URL to an empty database: a new SQLite file (its key file beside it), or a new
    PostgreSQL schema (its key file in the test's folder)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trial.db'}"
        return
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "trial.key"))
    base = make_url(_postgres_base_url())
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def database_url(empty_database_url: str, sqlite_template: Path) -> str:
    """A URL to a database migrated to head."""
    if empty_database_url.startswith("sqlite"):
        path = empty_database_url.removeprefix("sqlite:///")
        shutil.copyfile(sqlite_template, path)
        shutil.copyfile(f"{sqlite_template}.key", f"{path}.key")
    else:
        upgrade_database(empty_database_url)
    return empty_database_url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()
