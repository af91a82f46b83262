"""`permitted_operations`: every operation her role may do, read once for a page that offers
several forms; the same answer as asking `permitted` operation by operation."""

import pytest
from services_helpers import TEAM, set_up_trial
from sqlalchemy import Engine

from endotrial.protocol import Protocol
from endotrial.services import (
    PERMISSIONS,
    NotSignedIn,
    Operation,
    permitted,
    permitted_operations,
    sign_out,
)
from endotrial.store import Role


@pytest.mark.parametrize("role", list(Role))
def test_every_role_gets_exactly_the_operations_the_table_gives_it(
    engine: Engine, seed_protocol: Protocol, role: Role
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    actor = trial.actor(TEAM[role])
    allowed = permitted_operations(trial.study, actor)
    assert allowed == {op for op, roles in PERMISSIONS.items() if role in roles}
    assert allowed == {op for op in Operation if permitted(trial.study, actor, op)}


def test_a_signed_out_session_is_refused_not_given_an_empty_set(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    actor = trial.actor(TEAM[Role.MONITOR])
    sign_out(trial.study, actor)
    with pytest.raises(NotSignedIn):
        permitted_operations(trial.study, actor)


def test_permitted_refuses_a_signed_out_session_too(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """It used to answer False (NotSignedIn is a PermissionDenied), so a shell hid its links
    instead of sending her to sign in."""
    trial = set_up_trial(engine, seed_protocol)
    actor = trial.actor(TEAM[Role.MONITOR])
    sign_out(trial.study, actor)
    with pytest.raises(NotSignedIn):
        permitted(trial.study, actor, Operation.OPEN_QUERY)
