"""The demo trial's database, built once for the reporting tests."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from endotrial.demo import build_demo
from endotrial.protocol import Protocol
from endotrial.reporting.dataset_build import AnalysisDataset, build_dataset
from endotrial.store.engine import read_only_engine

#: A fixed day, so the demo's data cut-off (and every count below) never moves.
TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    build_demo(url, today=TODAY)
    return url


@pytest.fixture(scope="session")
def demo_engine(demo_url: str) -> Iterator[Engine]:
    engine = read_only_engine(demo_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def demo_dataset(demo_engine: Engine, seed_protocol: Protocol) -> AnalysisDataset:
    return build_dataset(demo_engine, seed_protocol)


@pytest.fixture
def demo_folder(tmp_path: Path) -> Path:
    return tmp_path
