"""Service tests run on a migrated SQLite file per test (copied from one migrated template)."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from endotrial.store import make_engine, upgrade_database


@pytest.fixture(scope="session")
def services_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("services_template") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture
def engine(services_template: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "trial.db"
    shutil.copyfile(services_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()
