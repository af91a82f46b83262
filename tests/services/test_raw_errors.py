"""Issue 6, finding 11: raw exceptions escaped (StopIteration for an unknown arm, TypeError,
IntegrityError with argon2 hashes among its SQL parameters, "database is locked"). Only the
project's own errors reach a user, and none carries a secret."""

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from services_helpers import COORDINATOR, INVESTIGATOR, PASSWORD, eligible_items, set_up_trial
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from endotrial.errors import EndotrialError
from endotrial.protocol import Protocol
from endotrial.services import (
    AllocationInput,
    CandidateInput,
    InvalidInput,
    RuleViolation,
    TeamMember,
    add_user,
    allocate,
    screen,
)
from endotrial.store import (
    ConflictError,
    Role,
    StoreError,
    User,
    hash_password,
    make_engine,
    upgrade_database,
)
from endotrial.store.unit_of_work import translated_database_errors


def test_an_unknown_arm_is_a_rule_violation(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    allocation = AllocationInput(
        participant_id=1,
        arm="placebo",
        basis="preference",
        allocated_on=trial.protocol.identity.start_date,
    )
    with pytest.raises(RuleViolation) as refused:
        allocate(trial.study, trial.actor(INVESTIGATOR), allocation)
    assert (refused.value.code, refused.value.field) == ("protocol.unknown", "arm")
    assert "control, hbmsc" in str(refused.value)


@pytest.mark.parametrize(
    "values",
    [
        {"participant_id": "1", "arm": "control", "basis": "b", "allocated_on": "2025-10-01"},
        {"participant_id": True, "arm": "control", "basis": "b", "allocated_on": None},
        {"participant_id": 10**30, "arm": 3, "basis": ["b"], "allocated_on": 20251001},
    ],
)
def test_wrong_types_are_named_by_field(values: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as refused:
        AllocationInput(**values)
    assert refused.value.field is not None and "AllocationInput" in str(refused.value)


def test_a_constraint_failure_shows_no_values(engine: Engine, seed_protocol: Protocol) -> None:
    """A second account with a taken username, forced past the service's own check, is
    refused by the database: the message names the constraint, never the hash it carried."""
    secret_hash = hash_password("a very secret password")
    session = Session(engine)
    try:
        with pytest.raises(ConflictError) as refused, translated_database_errors(session):
            for _ in range(2):
                session.connection().execute(  # past the ORM's own refusal of bulk writes
                    User.__table__.insert().values(
                        username="twin", full_name="T", role="coordinator", site_id=None,
                        password_hash=secret_hash, active=True, version=1,
                    )
                )  # fmt: skip
    finally:
        session.rollback()
        session.close()
    assert refused.value.code == "store.constraint"
    assert "argon2" not in str(refused.value) and secret_hash not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_a_database_busy_too_long_is_a_clear_refusal(
    tmp_path: Path, seed_protocol: Protocol
) -> None:
    """Another program holds the SQLite file's write lock: the save waits its timeout, then
    says what happened and that nothing was saved (it was "database is locked")."""
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    event.listen(
        engine, "connect", lambda connection, _: connection.execute("PRAGMA busy_timeout=200")
    )
    try:
        trial = set_up_trial(engine, seed_protocol)
        coordinator = trial.actor(COORDINATOR)
        blocker = sqlite3.connect(tmp_path / "busy.db")
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            candidate = CandidateInput(candidate_ref="c1", items=eligible_items())
            with pytest.raises(StoreError) as refused:
                screen(trial.study, coordinator, candidate)
        finally:
            blocker.rollback()
            blocker.close()
        assert refused.value.code == "store.unavailable"
        assert "busy" in str(refused.value) and "nothing was saved" in str(refused.value)
    finally:
        engine.dispose()


def test_every_service_refusal_is_an_endotrial_error(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    member = TeamMember(
        username="new.one", full_name="N", role=Role.COORDINATOR, password=PASSWORD, site_id=999
    )
    with pytest.raises(EndotrialError) as refused:
        add_user(trial.study, trial.actor(INVESTIGATOR), member)
    assert refused.value.code == "record.not_found"
