"""Web tests: a small two-site trial made through the services (web_helpers.build_web_trial),
served by the application; argon2 runs at its cheapest (the hashing is not what these tests
are about)."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine

# The service tests' builders make the trial exactly as the study team makes it.
sys.path.insert(0, str(Path(__file__).parents[1] / "services"))

from web_helpers import WebTrial, build_web_trial

from endotrial.protocol import Protocol
from endotrial.store import passwords


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_HASHER", hasher)
    yield


@pytest.fixture
def web_trial(engine: Engine, seed_protocol: Protocol) -> WebTrial:
    return build_web_trial(engine, seed_protocol)
