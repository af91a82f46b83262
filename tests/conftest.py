"""Shared fixtures: the bundled seed protocol and the second, test-only protocol."""

from pathlib import Path

import pytest

from endotrial.protocol import Protocol, load_protocol

FIXTURES = Path(__file__).parent / "fixtures"
SECOND_PROTOCOL_FILE = FIXTURES / "protocols" / "second_trial.yaml"


@pytest.fixture(scope="session")
def seed_protocol() -> Protocol:
    return load_protocol("nct07176143")


@pytest.fixture(scope="session")
def second_protocol() -> Protocol:
    return load_protocol(SECOND_PROTOCOL_FILE)
