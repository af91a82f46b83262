"""Issue 6, finding 8: every operation trusted `user=` as given. Operations now take an actor
proven by a sign-in, and nothing outside the services writes trial data."""

import datetime as dt

import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    PASSWORD,
    SCREENED_ON,
    eligible_items,
    set_up_trial,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    Actor,
    CandidateInput,
    InvalidInput,
    NotSignedIn,
    PermissionDenied,
    SiteInput,
    TeamMember,
    add_user,
    screen,
    set_account_active,
    set_up_study,
    sign_in,
    sign_out,
)
from endotrial.services.context import MAX_FAILED_SIGN_INS
from endotrial.store import AuditError, AuthenticationError, Role, Screening, Site, User
from endotrial.store.unit_of_work import unit_of_work


def _candidate(ref: str = "c1") -> CandidateInput:
    return CandidateInput(candidate_ref=ref, items=eligible_items())


def _screenings(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Screening)) or 0)


def test_an_actor_made_up_by_the_caller_can_do_nothing(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    for forged in (Actor(INVESTIGATOR, "made-up"), Actor(COORDINATOR, ""), "pi1", None):
        with pytest.raises(NotSignedIn) as refused:
            screen(trial.study, forged, _candidate())  # type: ignore[arg-type]
        assert refused.value.code == "auth.not_signed_in"
    assert _screenings(engine) == 0


def test_a_token_stops_working_at_sign_out(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    coordinator = sign_in(trial.study, COORDINATOR, PASSWORD)
    screen(trial.study, coordinator, _candidate("c1"))
    sign_out(trial.study, coordinator)
    with pytest.raises(NotSignedIn):
        screen(trial.study, coordinator, _candidate("c2"))
    assert _screenings(engine) == 1


def test_a_deactivated_account_is_signed_out_everywhere(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    coordinator = trial.actor(COORDINATOR)
    set_account_active(
        trial.study, trial.actor(INVESTIGATOR), COORDINATOR, active=False, reason="left the team"
    )
    with pytest.raises(NotSignedIn):
        screen(trial.study, coordinator, _candidate())
    with pytest.raises(NotSignedIn) as refused:
        sign_in(trial.study, COORDINATOR, PASSWORD)
    assert refused.value.code == "auth.bad_credentials"


def test_a_wrong_password_says_nothing_of_which_part_was_wrong(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    with pytest.raises(NotSignedIn) as wrong_password:
        sign_in(trial.study, COORDINATOR, "not the password")
    with pytest.raises(NotSignedIn) as no_account:
        sign_in(trial.study, "nobody", "not the password")
    assert str(wrong_password.value) == str(no_account.value)


def test_password_guessing_is_throttled(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    for _ in range(MAX_FAILED_SIGN_INS):
        with pytest.raises(NotSignedIn):
            sign_in(trial.study, COORDINATOR, "guess")
    with pytest.raises(PermissionDenied) as throttled:
        sign_in(trial.study, COORDINATOR, PASSWORD)  # even the right one, for a while
    assert throttled.value.code == "auth.throttled"
    sign_in(trial.study, INVESTIGATOR, PASSWORD)  # another account is not affected


def test_usernames_ignore_case(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    twin = TeamMember(
        username="Coord1", full_name="Look-alike", role=Role.COORDINATOR, password=PASSWORD,
        site_id=trial.site_id,
    )  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        add_user(trial.study, trial.actor(INVESTIGATOR), twin)
    assert refused.value.code == "input.username_taken"
    assert sign_in(trial.study, "COORD1", PASSWORD).username == COORDINATOR


@pytest.mark.parametrize("password", ["", "x", "short pw", "coord.new is me"])
def test_weak_passwords_are_refused(engine: Engine, seed_protocol: Protocol, password: str) -> None:
    trial = set_up_trial(engine, seed_protocol)
    member = TeamMember(
        username="coord.new", full_name="New", role=Role.COORDINATOR, password=password,
        site_id=trial.site_id,
    )  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        add_user(trial.study, trial.actor(INVESTIGATOR), member)
    assert refused.value.field == "password"
    assert refused.value.code in ("input.password_short", "input.password_like_username")


@pytest.mark.parametrize("username", ["", "a", "coord li", "coord\x00li", "-lead", "x" * 65])
def test_malformed_usernames_are_refused(
    engine: Engine, seed_protocol: Protocol, username: str
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    with pytest.raises(InvalidInput):
        member = TeamMember(
            username=username, full_name="N", role=Role.COORDINATOR, password=PASSWORD,
            site_id=trial.site_id,
        )  # fmt: skip
        add_user(trial.study, trial.actor(INVESTIGATOR), member)


def test_a_second_set_up_is_refused(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    intruder = TeamMember(
        username="intruder", full_name="I", role=Role.INVESTIGATOR, password=PASSWORD
    )
    with pytest.raises(NotSignedIn) as refused:
        set_up_study(trial.study, SiteInput(code="X1", name="Elsewhere"), intruder)
    assert refused.value.code == "setup.done"
    with Session(engine) as session:
        assert session.scalar(select(User).where(User.username == "intruder")) is None
        assert session.scalar(select(Site).where(Site.code == "X1")) is None


def test_the_store_writes_nothing_without_a_sign_in(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    scan_free = Screening(
        candidate_ref="raw",
        site_id=trial.site_id,
        item_values={},
        decision="eligible",
        failed_criteria=[],
        unknown_criteria=[],
        eligible_arms=["control", "hbmsc"],
        screened_at=dt.datetime.now(dt.UTC),
        screened_by="pi1",
    )
    with pytest.raises(AuthenticationError), unit_of_work(engine, token="guessed") as session:
        session.add(scan_free)
    with pytest.raises(AuditError, match="only through the services"), Session(engine) as session:
        session.add(scan_free)
        session.commit()
    assert _screenings(engine) == 0


def test_a_screening_is_recorded_as_the_signed_in_user(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    screen(trial.study, trial.actor(COORDINATOR), _candidate())
    with Session(engine) as session:
        (row,) = session.scalars(select(Screening))
        assert row.screened_by == COORDINATOR and row.site_id == trial.site_id
        assert row.item_values["screening_date"] == SCREENED_ON.isoformat()
