"""Issue 8, finding 4: a user had one site. A site's team member may now work at several
(her home site and memberships a central investigator gives or takes, audited); what she may
read and write follows the real set, and where one site is meant she says which."""

import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    PASSWORD,
    Trial,
    eligible_items,
    refused,
    set_up_trial,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from two_sites import SiteB, add_site_b, screen_at

from endotrial.protocol import Protocol
from endotrial.services import (
    CandidateInput,
    DeviationInput,
    InvalidInput,
    MembershipInput,
    PermissionDenied,
    TeamMember,
    add_user,
    record_deviation,
    screen,
    set_site_membership,
    sign_in,
)
from endotrial.services.context import context_of
from endotrial.store import AuditEntry, Role, SiteMembership, User

TRAVELLER = "coord.both"
ON = eligible_items()["screening_date"]


@pytest.fixture
def trial(engine: Engine, seed_protocol: Protocol) -> Trial:
    return set_up_trial(engine, seed_protocol)


@pytest.fixture
def site_b(trial: Trial) -> SiteB:
    return add_site_b(trial)


def _sites_of(trial: Trial, username: str) -> frozenset[int] | None:
    with Session(trial.engine) as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        return context_of(session, user).site_ids


def _membership(trial: Trial, username: str, site_id: int, *, member: bool) -> None:
    change = MembershipInput(
        username=username, site_id=site_id, member=member, reason="covers both clinics now"
    )
    set_site_membership(trial.study, trial.actor(INVESTIGATOR), change)


def test_a_member_of_two_sites_works_at_both_and_says_which(trial: Trial, site_b: SiteB) -> None:
    member = TeamMember(
        username=TRAVELLER,
        full_name="Travelling coordinator",
        role=Role.COORDINATOR,
        password=PASSWORD,
        site_ids=[trial.site_id, site_b.site_id],
    )
    add_user(trial.study, trial.actor(INVESTIGATOR), member)
    assert _sites_of(trial, TRAVELLER) == {trial.site_id, site_b.site_id}
    traveller = sign_in(trial.study, TRAVELLER, PASSWORD)
    screen_at(trial, traveller, trial.site_id, "a1")
    screen_at(trial, traveller, site_b.site_id, "b1")
    unsaid = CandidateInput(candidate_ref="c1", items=eligible_items())
    with refused("auth.which_site", field="site_id", kind=InvalidInput) as caught:
        screen(trial.study, traveller, unsaid)
    assert "GZ6, SZ2" in str(caught.value)
    deviation = DeviationInput(occurred_on=ON, category="visit", description="late visit")
    with refused("auth.which_site", field="site_id"):
        record_deviation(trial.study, traveller, deviation)
    one_site = CandidateInput(candidate_ref="c1", items=eligible_items())
    assert screen(trial.study, trial.actor(COORDINATOR), one_site).site_id == trial.site_id


def test_a_central_investigator_gives_and_takes_a_site_audited(trial: Trial, site_b: SiteB) -> None:
    coordinator = trial.actor(COORDINATOR)
    with refused("auth.other_site", kind=PermissionDenied):
        screen_at(trial, coordinator, site_b.site_id, "b1")
    _membership(trial, COORDINATOR, site_b.site_id, member=True)
    assert _sites_of(trial, COORDINATOR) == {trial.site_id, site_b.site_id}
    screen_at(trial, coordinator, site_b.site_id, "b1")
    _membership(trial, COORDINATOR, site_b.site_id, member=False)
    with refused("auth.other_site"):
        screen_at(trial, coordinator, site_b.site_id, "b2")
    with Session(trial.engine) as session:
        reasons = session.scalars(
            select(AuditEntry.reason).where(AuditEntry.entity == "site_memberships")
        ).all()
    assert "site removed: covers both clinics now" in reasons


def test_only_a_central_investigator_changes_sites_and_a_last_site_stays(
    trial: Trial, site_b: SiteB
) -> None:
    change = MembershipInput(
        username=COORDINATOR, site_id=site_b.site_id, member=True, reason="covers both clinics"
    )
    with refused("auth.central_only", kind=PermissionDenied):
        set_site_membership(trial.study, site_b.investigator, change)
    with refused("membership.last_site", field="site_id"):
        _membership(trial, COORDINATOR, trial.site_id, member=False)
    with refused("membership.central", field="username"):
        _membership(trial, INVESTIGATOR, site_b.site_id, member=True)
    with refused("membership.not_member", field="site_id"):
        _membership(trial, COORDINATOR, site_b.site_id, member=False)
    _membership(trial, COORDINATOR, site_b.site_id, member=True)
    with refused("membership.already", field="site_id"):
        _membership(trial, COORDINATOR, site_b.site_id, member=True)


def test_removing_her_home_site_moves_her_home_to_her_next_site(
    trial: Trial, site_b: SiteB
) -> None:
    _membership(trial, COORDINATOR, site_b.site_id, member=True)
    _membership(trial, COORDINATOR, trial.site_id, member=False)
    assert _sites_of(trial, COORDINATOR) == {site_b.site_id}
    with Session(trial.engine) as session:
        home = session.scalars(select(User.site_id).where(User.username == COORDINATOR)).one()
        rows = session.scalars(select(SiteMembership)).all()
    assert home == site_b.site_id and rows == []


def test_a_site_investigator_adds_accounts_only_at_her_sites(trial: Trial, site_b: SiteB) -> None:
    both = TeamMember(
        username="coord.new",
        full_name="New",
        role=Role.COORDINATOR,
        password=PASSWORD,
        site_ids=[site_b.site_id, trial.site_id],
    )
    with refused("auth.other_site"):
        add_user(trial.study, site_b.investigator, both)
    with refused("input.invalid", field="site_ids", kind=InvalidInput):
        add_user(
            trial.study,
            trial.actor(INVESTIGATOR),
            both.model_copy(update={"site_ids": [site_b.site_id, site_b.site_id]}),
        )
