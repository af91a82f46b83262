"""Issue 8, finding 4: "today" was the server's date, not the site's. Each site now has a time
zone, and a record's dates are checked against the day at its own site: Kiritimati (UTC+14)
and Pago Pago (UTC-11) are always on different days, so a date that is today at one is still
in the future at the other, whatever the hour and the server's zone."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from services_helpers import (
    INVESTIGATOR,
    PASSWORD,
    Trial,
    eligible_items,
    refused,
    set_up_trial,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    CandidateInput,
    ConsentInput,
    CorrectionInput,
    InvalidInput,
    SiteInput,
    TeamMember,
    add_site,
    add_user,
    correct_record,
    record_consent,
    screen,
    sign_in,
)
from endotrial.services.context import context_of
from endotrial.store import Consent, Role, Site, User

EAST = "Pacific/Kiritimati"  # UTC+14
WEST = "Pacific/Pago_Pago"  # UTC-11


def _today_in(zone: str) -> dt.date:
    return dt.datetime.now(ZoneInfo(zone)).date()


@pytest.fixture
def trial(engine: Engine, seed_protocol: Protocol) -> Trial:
    return set_up_trial(engine, seed_protocol)


@pytest.fixture
def sites(trial: Trial) -> tuple[int, int]:
    pi = trial.actor(INVESTIGATOR)
    east = add_site(trial.study, pi, SiteInput(code="KI1", name="Line Islands", time_zone=EAST))
    west = add_site(trial.study, pi, SiteInput(code="AS1", name="Tutuila", time_zone=WEST))
    return east, west


def _screening(trial: Trial, site_id: int, ref: str, on: dt.date) -> int:
    items = eligible_items(screening_date=on)
    candidate = CandidateInput(candidate_ref=ref, items=items, site_id=site_id)
    return screen(trial.study, trial.actor(INVESTIGATOR), candidate).screening_id


def test_the_two_sites_are_never_on_the_same_day() -> None:
    """The premise of the tests below: 25 hours apart."""
    assert _today_in(WEST) < _today_in(EAST)


def test_a_date_is_checked_against_the_day_at_the_records_site(
    trial: Trial, sites: tuple[int, int]
) -> None:
    east, west = sites
    east_today = _today_in(EAST)
    earlier = east_today - dt.timedelta(days=3)  # past everywhere
    consent = {"form_version": "v1", "consent_date": east_today, "taken_by": INVESTIGATOR}
    at_east = _screening(trial, east, "k1", earlier)
    record_consent(
        trial.study, trial.actor(INVESTIGATOR), ConsentInput(screening_id=at_east, **consent)
    )
    at_west = _screening(trial, west, "p1", earlier)
    with refused("date.future", field="consent_date"):
        record_consent(
            trial.study, trial.actor(INVESTIGATOR), ConsentInput(screening_id=at_west, **consent)
        )


def test_screening_is_dated_by_the_screening_sites_day(
    trial: Trial, sites: tuple[int, int]
) -> None:
    east, west = sites
    assert _screening(trial, east, "k1", _today_in(EAST))
    with refused("input.candidate_values", kind=InvalidInput) as caught:
        _screening(trial, west, "p1", _today_in(EAST))
    assert "is a date in the future" in str(caught.value)


def test_a_site_has_a_checked_time_zone_and_china_by_default(
    trial: Trial, sites: tuple[int, int]
) -> None:
    pi = trial.actor(INVESTIGATOR)
    with refused("site.time_zone", field="time_zone", kind=InvalidInput):
        add_site(trial.study, pi, SiteInput(code="XX1", name="Nowhere", time_zone="Mars/Olympus"))
    plain = add_site(trial.study, pi, SiteInput(code="SZ2", name="Second Hospital"))
    with Session(trial.engine) as session:
        zones = {row.id: row.time_zone for row in session.execute(select(Site.id, Site.time_zone))}
    assert zones == {
        trial.site_id: "Asia/Shanghai",
        sites[0]: EAST,
        sites[1]: WEST,
        plain: "Asia/Shanghai",
    }


def test_a_members_day_is_her_home_sites(trial: Trial, sites: tuple[int, int]) -> None:
    east, _ = sites
    member = TeamMember(
        username="coord.ki", full_name="KI", role=Role.COORDINATOR, password=PASSWORD, site_id=east
    )
    add_user(trial.study, trial.actor(INVESTIGATOR), member)
    sign_in(trial.study, "coord.ki", PASSWORD)
    with Session(trial.engine) as session:
        user = session.scalars(select(User).where(User.username == "coord.ki")).one()
        context = context_of(session, user)
    assert context.time_zone == EAST
    assert context.today() in (_today_in(EAST), _today_in(EAST) - dt.timedelta(days=1))


def test_a_corrected_date_is_checked_against_the_day_at_the_records_site(
    trial: Trial, sites: tuple[int, int], engine: Engine
) -> None:
    """A correction judges a date as entry does: by the day at her site, without the grace
    that only a record without a site gets."""
    _east, west = sites
    earlier = _today_in(WEST) - dt.timedelta(days=3)
    at_west = _screening(trial, west, "p1", earlier)
    consent = ConsentInput(
        screening_id=at_west, form_version="v1", consent_date=earlier, taken_by=INVESTIGATOR
    )
    participant_id = record_consent(trial.study, trial.actor(INVESTIGATOR), consent)
    with Session(engine) as session:
        consent_id = session.scalars(
            select(Consent.id).where(Consent.participant_id == participant_id)
        ).one()
    correction = CorrectionInput(
        record="consent", record_id=consent_id, field="consent_date",
        new_value=_today_in(EAST), reason="the date on the signed form was misread",
    )  # fmt: skip
    with refused("date.future", field="consent_date"):
        correct_record(trial.study, trial.actor(INVESTIGATOR), correction)


def test_her_account_gives_the_day_at_her_home_site(trial: Trial, sites: tuple[int, int]) -> None:
    """What a form offers as today's date (a consent, an enrolment): her site's day, not the
    server's nor UTC's."""
    from endotrial.services import my_account

    pi = trial.actor(INVESTIGATOR)
    days = {}
    for username, site_id, zone in (("ki.coord", sites[0], EAST), ("as.coord", sites[1], WEST)):
        member = TeamMember(
            username=username, full_name=username, role=Role.COORDINATOR,
            password=PASSWORD, site_id=site_id,
        )  # fmt: skip
        add_user(trial.study, pi, member)
        before = _today_in(zone)
        days[zone] = my_account(trial.study, sign_in(trial.study, username, PASSWORD)).today
        assert days[zone] in {before, _today_in(zone)}
    assert days[WEST] < days[EAST]
