"""Issue 6, finding 9: a site's team reached another site's accounts, queries, candidates and
reads. A team member works on her own site's data only; central staff on every site's."""

import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    MONITOR,
    PASSWORD,
    SCREENED_ON,
    allocated,
    eligible_items,
    screened,
    set_up_trial,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from two_sites import add_site_b

from endotrial.protocol import Protocol
from endotrial.services import (
    CandidateInput,
    ConsentInput,
    NotFoundError,
    PermissionDenied,
    QueryAnswer,
    QueryClosure,
    QueryInput,
    ServiceError,
    SiteInput,
    TeamMember,
    add_site,
    add_user,
    answer_query,
    close_query,
    is_locked,
    list_queries,
    open_query,
    participant_queries,
    record_consent,
    screen,
    set_account_active,
    sign_in,
)
from endotrial.store import DataQuery, Role, User


def _member(username: str, site_id: int | None, role: Role = Role.COORDINATOR) -> TeamMember:
    return TeamMember(
        username=username, full_name=username, role=role, password=PASSWORD, site_id=site_id
    )


def test_a_site_investigator_cannot_create_a_central_account(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    site_b = add_site_b(trial)
    with pytest.raises(PermissionDenied) as refused:
        add_user(trial.study, site_b.investigator, _member("everywhere", None, Role.MONITOR))
    assert refused.value.code == "auth.central_only"
    with pytest.raises(PermissionDenied):
        add_site(trial.study, site_b.investigator, SiteInput(code="X9", name="Her own new site"))


def test_a_site_investigator_cannot_create_accounts_at_another_site(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    site_b = add_site_b(trial)
    with pytest.raises(PermissionDenied) as refused:
        add_user(trial.study, site_b.investigator, _member("spy", trial.site_id))
    assert refused.value.code == "auth.other_site"
    add_user(trial.study, site_b.investigator, _member("coord.b2", site_b.site_id))
    with Session(engine) as session:
        assert session.scalar(select(User).where(User.username == "spy")) is None


def test_a_site_investigator_cannot_deactivate_another_sites_account(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    site_b = add_site_b(trial)
    add_user(
        trial.study, trial.actor(INVESTIGATOR), _member("pi.a", trial.site_id, Role.INVESTIGATOR)
    )
    with pytest.raises(NotFoundError):
        set_account_active(
            trial.study, site_b.investigator, "pi.a", active=False, reason="a hostile takeover"
        )
    with pytest.raises(NotFoundError):  # nor the central investigator's
        set_account_active(
            trial.study, site_b.investigator, INVESTIGATOR, active=False, reason="a hostile move"
        )
    with Session(engine) as session:
        assert session.scalar(select(User.active).where(User.username == "pi.a")) is True


def test_another_sites_queries_can_be_neither_seen_nor_closed(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    site_b = add_site_b(trial)
    pid = allocated(trial, "c1", "control")
    query = QueryInput(entity="participants", row_id=pid, field="status", text="Source check?")
    query_id = open_query(trial.study, trial.actor(MONITOR), query)
    with pytest.raises(NotFoundError):
        open_query(trial.study, site_b.monitor, query)
    answer_query(
        trial.study, trial.actor(COORDINATOR), QueryAnswer(query_id=query_id, answer="checked")
    )
    with pytest.raises(NotFoundError):
        close_query(trial.study, site_b.monitor, QueryClosure(query_id=query_id))
    with pytest.raises(NotFoundError):
        answer_query(trial.study, site_b.coordinator, QueryAnswer(query_id=query_id, answer="x"))
    assert list_queries(trial.study, site_b.monitor) == []
    assert [q.query_id for q in list_queries(trial.study, trial.actor(MONITOR))] == [query_id]
    with Session(engine) as session:
        assert session.get_one(DataQuery, query_id).closed_at is None


def test_a_coordinator_cannot_consent_another_sites_candidate(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    site_b = add_site_b(trial)
    screening_id = screened(trial, "SC-1")
    consent = ConsentInput(
        screening_id=screening_id, form_version="v1", consent_date=SCREENED_ON, taken_by="coord.b"
    )
    with pytest.raises(NotFoundError) as refused:
        record_consent(trial.study, site_b.coordinator, consent)
    assert refused.value.code == "record.not_found"
    assert "SC-1" not in str(refused.value)  # another site's candidate is not even named


def test_a_consent_taken_by_another_sites_member_is_refused(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    add_site_b(trial)
    consent = ConsentInput(
        screening_id=screened(trial, "SC-1"),
        form_version="v1",
        consent_date=SCREENED_ON,
        taken_by="coord.b",
    )
    with pytest.raises(ServiceError) as refused:
        record_consent(trial.study, trial.actor(COORDINATOR), consent)
    assert refused.value.code == "consent.taker"


def test_screening_needs_a_site_the_screener_works_at(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    site_b = add_site_b(trial)
    no_site = CandidateInput(candidate_ref="c1", items=eligible_items())
    record = screen(trial.study, site_b.coordinator, no_site)
    assert record.site_id == site_b.site_id  # her own site
    with pytest.raises(PermissionDenied) as central:
        screen(trial.study, trial.actor(INVESTIGATOR), no_site)  # central: say which site
    assert central.value.code == "auth.site_required"
    elsewhere = CandidateInput(candidate_ref="c2", items=eligible_items(), site_id=trial.site_id)
    with pytest.raises(PermissionDenied):
        screen(trial.study, site_b.coordinator, elsewhere)


def test_reads_are_limited_to_the_readers_sites(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    site_b = add_site_b(trial)
    pid = allocated(trial, "c1", "control")
    assert is_locked(trial.study, trial.actor(COORDINATOR), pid) is False
    for reader in (site_b.coordinator, site_b.monitor, site_b.investigator):
        with pytest.raises(NotFoundError):
            is_locked(trial.study, reader, pid)
        with pytest.raises(NotFoundError):
            participant_queries(trial.study, reader, pid)
    central_monitor = _member("monitor.central", None, Role.MONITOR)
    add_user(trial.study, trial.actor(INVESTIGATOR), central_monitor)
    central = sign_in(trial.study, "monitor.central", PASSWORD)
    assert is_locked(trial.study, central, pid) is False
