"""Web tests: a small two-site trial made through the services (web_helpers.build_web_trial),
served by the application; argon2 runs at its cheapest (the hashing is not what these tests
are about)."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId  # pytest 9's structured test id
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """schemathesis gives each API operation's fuzz test the same id under pytest 9, and
    pytest-xdist (`make test` runs on every core) schedules tests by id: all but one operation
    went unfuzzed. Each gets its operation in its id, as schemathesis means it to
    (test_api_fuzz checks that every operation has an id of its own)."""
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and not item.nodeid.endswith(f"[{label}]"):
            item._id = NodeId.parse(f"{item.nodeid}[{label}]")  # type: ignore[attr-defined]
