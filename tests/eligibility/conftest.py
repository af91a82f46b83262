"""A fully eligible seed-protocol candidate, and a helper that screens it with one change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from seed_candidate import EXCLUSION_FLAGS, TODAY, eligible_items

from endotrial.eligibility import CandidateResult, screen_candidate
from endotrial.protocol import Protocol

Screen = Callable[..., CandidateResult]


@pytest.fixture
def screen(seed_protocol: Protocol) -> Screen:
    """Screen the eligible candidate with some items changed (None blanks an item)."""

    def run(**changes: Any) -> CandidateResult:
        return screen_candidate(seed_protocol, {**eligible_items(), **changes}, today=TODAY)

    return run


@pytest.fixture
def eligible() -> dict[str, Any]:
    return eligible_items()


@pytest.fixture
def today() -> dt.date:
    return TODAY


@pytest.fixture
def exclusion_flags() -> dict[str, tuple[str, ...]]:
    return EXCLUSION_FLAGS
