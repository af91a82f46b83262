"""Issue 6, finding 10: rules that count held only when saves came one at a time. Processes
(not threads) are released together at a barrier, on SQLite and PostgreSQL alike, several
rounds each: exactly one of two racing saves wins, the other gets a clear refusal, and no
database error escapes."""

from collections.abc import Iterator

import pytest
from racers import PASSWORD, Outcome, Racers, with_target
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    RADIOLOGIST,
    SCREENED_ON,
    TRANSFER_DAY,
    TREATMENT_START,
    Trial,
    allocated,
    consented,
    infusion,
    screened,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import TeamMember, add_user, set_account_active
from endotrial.store import Cycle, EmbryoTransfer, Participant, Procedure, Role, User

ROUNDS = 4


@pytest.fixture
def trial(engine: Engine, seed_protocol: Protocol) -> Trial:
    return set_up_trial(engine, seed_protocol)


@pytest.fixture
def pair(engine: Engine) -> Iterator[Racers]:
    racers = Racers(engine.url.render_as_string(hide_password=False), size=2)
    yield racers
    racers.close()


def _one_wins(outcomes: list[Outcome], *codes: str) -> None:
    """One save won; the other was refused by the rule's own check (`codes`), which ran under
    the lock and saw the winner's save, not merely by the database's unique index."""
    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds == ["ok", "refused"], outcomes  # never two, never a raw database error
    assert dict(outcomes)["refused"] in codes, outcomes


def _count(engine: Engine, model: type, **where: object) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(model).filter_by(**where)
        return int(session.scalar(query) or 0)


def test_one_infusion_when_two_are_saved_at_once(trial: Trial, pair: Racers) -> None:
    for index in range(ROUNDS):
        pid = allocated(trial, f"inf{index}", "hbmsc")
        values = infusion(pid, 58_000_000).model_dump(mode="json")
        outcomes = pair.round(
            (RADIOLOGIST, "procedure", (values,)), (INVESTIGATOR, "procedure", (values,))
        )
        _one_wins(outcomes, "procedure.once")
        assert _count(trial.engine, Procedure, participant_id=pid) == 1


def test_one_transfer_when_two_are_saved_at_once(trial: Trial, pair: Racers) -> None:
    for index in range(ROUNDS):
        pid = start_transfer_cycle(trial, allocated(trial, f"et{index}", "control"))
        args = (pid, TRANSFER_DAY.isoformat())
        outcomes = pair.round((COORDINATOR, "transfer", args), ("embryo1", "transfer", args))
        _one_wins(outcomes, "transfer.already")
        assert _count(trial.engine, EmbryoTransfer, participant_id=pid) == 1


def test_a_cycle_starts_once_when_two_starts_are_saved_at_once(trial: Trial, pair: Racers) -> None:
    for index in range(ROUNDS):
        pid = allocated(trial, f"cy{index}", "control", start_treatment=False)
        args = (pid, "treatment", TREATMENT_START.isoformat())
        outcomes = pair.round(
            (COORDINATOR, "start_cycle", args), (INVESTIGATOR, "start_cycle", args)
        )
        _one_wins(outcomes, "cycle.already")
        assert _count(trial.engine, Cycle, participant_id=pid) == 1


def test_the_enrolment_target_holds_when_several_enrol_at_once(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """One place is left under the target (the database runs a protocol whose target is 1:
    the target is part of the protocol it records, so it cannot vary from round to round);
    ROUNDS women are enrolled at once and exactly one takes the place."""
    trial = set_up_trial(engine, with_target(seed_protocol, 1))
    screenings = [screened(trial, f"en{index}") for index in range(ROUNDS)]
    for screening_id in screenings:
        consented(trial, screening_id)
    racers = Racers(engine.url.render_as_string(hide_password=False), size=ROUNDS)
    try:
        on = SCREENED_ON.isoformat()
        outcomes = racers.round(
            *((INVESTIGATOR if n % 2 else COORDINATOR, "enrol", (s, on, 1))
              for n, s in enumerate(screenings))
        )  # fmt: skip
    finally:
        racers.close()
    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds == ["ok"] + ["refused"] * (ROUNDS - 1), outcomes
    assert {code for kind, code in outcomes if kind == "refused"} == {"enrolment.target_reached"}
    assert _count(trial.engine, Participant, status="enrolled") == 1


def test_two_investigators_deactivating_each_other_leave_one(trial: Trial, pair: Racers) -> None:
    survivor = INVESTIGATOR
    for index in range(ROUNDS):
        a, b = f"inv{index}a", f"inv{index}b"
        lead = trial.actor(survivor)
        for name in (a, b):  # central investigators, so the survivor can add the next pair
            member = TeamMember(
                username=name, full_name=name, role=Role.INVESTIGATOR, password=PASSWORD
            )
            add_user(trial.study, lead, member)
        set_account_active(trial.study, lead, survivor, active=False, reason="hands over the lead")
        outcomes = pair.round((a, "deactivate", (b,)), (b, "deactivate", (a,)))
        _one_wins(outcomes, "account.last_investigator", "auth.not_signed_in")
        with Session(trial.engine) as session:
            active = session.scalars(
                select(User.username).where(User.role == Role.INVESTIGATOR, User.active.is_(True))
            ).all()
        assert len(active) == 1
        survivor = active[0]
        trial.actors.pop(survivor, None)
        trial.actors[survivor] = trial.actor(survivor)


def test_consents_saved_at_once_get_distinct_study_ids(trial: Trial, engine: Engine) -> None:
    racers = Racers(engine.url.render_as_string(hide_password=False), size=3)
    try:
        for index in range(ROUNDS):
            screenings = [screened(trial, f"cs{index}{n}") for n in range(3)]
            on = SCREENED_ON.isoformat()
            outcomes = racers.round(*((COORDINATOR, "consent", (s, on)) for s in screenings))
            assert [kind for kind, _ in outcomes] == ["ok"] * 3, outcomes
            assert len({pid for _, pid in outcomes}) == 3
    finally:
        racers.close()
    with Session(engine) as session:
        study_ids = session.scalars(select(Participant.study_id)).all()
    assert len(study_ids) == len(set(study_ids)) == 3 * ROUNDS
