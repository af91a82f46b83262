"""The demo trial's database, built once for the reporting tests."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from endotrial.demo import build_demo
from endotrial.protocol import Protocol
from endotrial.reporting.compute import Analysis, Settings, compute_analysis
from endotrial.reporting.dataset_build import AnalysisDataset, build_dataset
from endotrial.store.engine import read_only_engine

#: Few resamples and imputations: the tests check wiring and reproducibility, not precision.
QUICK = Settings(seed=11, n_bootstrap=200, n_imputations=3, burn_in=3)
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


@pytest.fixture(scope="session")
def analysis(demo_dataset: AnalysisDataset, seed_protocol: Protocol) -> Analysis:
    """The demo trial's analysis, computed once for the report's tests."""
    return compute_analysis(demo_dataset, seed_protocol, QUICK)
