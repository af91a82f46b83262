"""Service tests use the shared `engine` fixture: SQLite, and PostgreSQL when configured."""

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine

from endotrial.store import passwords, reconcile_with_trail


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test sets up an account per role; argon2's production cost (~0.1 s a hash) is not
    what these tests are about, so they hash with the smallest parameters argon2 allows."""
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_HASHER", hasher)
    yield


@pytest.fixture(autouse=True)
def data_match_the_trail(engine: Engine) -> Iterator[None]:
    """After every service test, on SQLite and PostgreSQL alike: each table holds exactly what
    the audit trail says was entered (no write escaped the trail, no value round-trips wrong)."""
    yield
    result = reconcile_with_trail(engine)
    assert result.ok, str(result)
