"""Holes a hostile review found after the issue-6 fixes (one test each, failing before its fix):
clinical acts on a participant whose latest screening or withdrawal forbids them, overrides
without bounds, forged writes through a read session, other sites' records named in errors,
the sign-in throttle raced, variant candidate ids, contradictory outcomes, raw exceptions."""

import datetime as dt
from typing import Any

import pytest
from racers import Racers
from services_helpers import (
    COORDINATOR,
    DAY_10,
    EMBRYOLOGIST,
    INVESTIGATOR,
    MONITOR,
    PASSWORD,
    RADIOLOGIST,
    SCREENED_ON,
    TRANSFER_DAY,
    Trial,
    allocated,
    eligible_items,
    infusion,
    screened,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session
from two_sites import add_site_b

from endotrial.errors import EndotrialError
from endotrial.protocol import Protocol
from endotrial.services import (
    AdverseEventInput,
    CandidateInput,
    ConsentInput,
    InvalidInput,
    MedicationInput,
    NotFoundError,
    NotSignedIn,
    OutcomeInput,
    PermissionDenied,
    QueryClosure,
    RuleViolation,
    TeamMember,
    TransferInput,
    UltrasoundInput,
    WithdrawalInput,
    add_user,
    close_query,
    list_queries,
    participant_queries,
    pregnancy_outcome,
    record_consent,
    record_medication,
    record_outcome,
    record_procedure,
    record_transfer,
    record_ultrasound,
    report_adverse_event,
    screen,
    sign_in,
    sign_out,
    unblock_sign_in,
    withdraw,
)
from endotrial.services import context as service_context
from endotrial.services.context import MAX_FAILED_SIGN_INS
from endotrial.store import (
    AuditError,
    DataQuery,
    Participant,
    Procedure,
    Role,
    Withdrawal,
    read_session,
    reconcile_with_trail,
)
from endotrial.store.engine import parse_database_url, shown_url

DOSE = 58_000_000


def _procedures(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Procedure)) or 0)


def _rescreen(trial: Trial, ref: str, **changes: object) -> None:
    items = eligible_items(screening_date=SCREENED_ON + dt.timedelta(days=6), **changes)
    candidate = CandidateInput(candidate_ref=ref, items=items, site_id=trial.site_id)
    screen(trial.study, trial.actor(COORDINATOR), candidate)


@pytest.mark.parametrize("changes", [{"iodine_allergy": True}, {"hiv_ab": "positive"}])
def test_an_allergy_or_ineligibility_found_after_allocation_stops_the_infusion(
    engine: Engine, seed_protocol: Protocol, changes: dict[str, Any]
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "p-1", "hbmsc")
    _rescreen(trial, "p-1", **changes)
    with pytest.raises(RuleViolation) as refused:
        record_procedure(trial.study, trial.actor(RADIOLOGIST), infusion(pid, DOSE))
    assert refused.value.code == "allocation.arm_closed"
    assert _procedures(engine) == 0


def test_an_allergy_recorded_then_reversed_opens_a_query(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    screened(trial, "p-2", iodine_allergy=True)
    _rescreen(trial, "p-2", iodine_allergy=False)
    with Session(engine) as session:
        (query,) = session.scalars(select(DataQuery).where(DataQuery.entity == "screenings"))
    assert "IODINE failed at an earlier screening" in query.text


def test_nothing_is_given_after_a_withdrawal(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "p-3", "hbmsc")
    withdrawal = WithdrawalInput(
        participant_id=pid,
        withdrawn_on=SCREENED_ON + dt.timedelta(days=7),
        initiated_by="participant",
        reason="She withdrew her consent to the trial",
        data_use_allowed=False,
    )
    withdraw(trial.study, trial.actor(COORDINATOR), withdrawal)
    medication = MedicationInput(
        participant_id=pid, regimen_id="tx_estradiol_valerate", taken_on=DAY_10, doses_taken=2
    )
    scan = UltrasoundInput(participant_id=pid, scan_date=DAY_10, thickness_mm=6.0)
    for act in (
        lambda: record_procedure(trial.study, trial.actor(RADIOLOGIST), infusion(pid, DOSE)),
        lambda: record_medication(trial.study, trial.actor(COORDINATOR), medication),
        lambda: record_ultrasound(trial.study, trial.actor(COORDINATOR), scan),
    ):
        with pytest.raises(RuleViolation) as refused:
            act()
        assert refused.value.code == "record.withdrawn"
    event = AdverseEventInput(
        participant_id=pid, term="Pelvic pain", ctcae_grade=1, serious=False, onset_date=DAY_10
    )
    assert report_adverse_event(trial.study, trial.actor(COORDINATOR), event) > 0  # safety


@pytest.mark.parametrize(
    "changes",
    [
        {"dose_given_cells": 9_999_999_999_999},
        {"dose_given_cells": 30_000_000},  # 48 % short
        {"viability_pct": 50.0},
        {"release_results_cd105": 80.0},
    ],
)
def test_an_override_has_bounds(
    engine: Engine, seed_protocol: Protocol, changes: dict[str, Any]
) -> None:
    changes = dict(changes)  # the same parameters serve SQLite and PostgreSQL: do not consume
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "p-4", "hbmsc")
    values: dict[str, Any] = {"override_reason": "the lab prepared another vial by mistake"}
    if "release_results_cd105" in changes:
        from services_helpers import RELEASED

        values["release_results"] = {**RELEASED, "cd105_pct": changes.pop("release_results_cd105")}
    procedure = infusion(pid, changes.pop("dose_given_cells", DOSE), **values, **changes)
    with pytest.raises(RuleViolation) as refused:
        record_procedure(trial.study, trial.actor(INVESTIGATOR), procedure)
    assert refused.value.code == "procedure.blocked"
    assert _procedures(engine) == 0


def test_a_read_session_cannot_be_turned_into_a_writer(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """The attack: flip the session's flags and name someone as the actor."""
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "p-5", "control")
    with pytest.raises(AuditError), read_session(engine) as session:
        session.info.pop("endotrial.read_only", None)
        session.info.update({"endotrial.writer": True, "endotrial.user": INVESTIGATOR})
        session.get_one(Participant, pid).arm = "hbmsc"
        session.commit()
    with pytest.raises(AuditError), Session(engine) as session:
        session.execute(
            insert(Withdrawal).values(
                participant_id=pid, withdrawn_on=DAY_10, initiated_by="sponsor",
                reason="forged", data_use_allowed=True, version=1,
            )
        )  # fmt: skip
        session.commit()
    assert reconcile_with_trail(engine).ok


def test_another_sites_records_are_not_found_rather_than_named(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    site_b = add_site_b(trial)
    pid = start_transfer_cycle(trial, allocated(trial, "p-6", "control"))
    transfer = TransferInput(participant_id=pid, transfer_date=TRANSFER_DAY, embryo_grades=["4AB"])
    transfer_id = record_transfer(trial.study, trial.actor(EMBRYOLOGIST), transfer)
    scan = UltrasoundInput(participant_id=pid, scan_date=DAY_10, thickness_mm=6.0)
    for act, table in (
        (lambda: record_ultrasound(trial.study, site_b.coordinator, scan), "participants"),
        (
            lambda: pregnancy_outcome(trial.study, site_b.coordinator, transfer_id),
            "embryo_transfers",
        ),
        (
            lambda: record_outcome(
                trial.study, site_b.coordinator, OutcomeInput(transfer_id=transfer_id)
            ),
            "embryo_transfers",
        ),
    ):
        with pytest.raises(NotFoundError) as refused:
            act()
        assert refused.value.params["table"] == table and "GZ6" not in str(refused.value)


def test_parallel_password_guesses_are_throttled(engine: Engine, seed_protocol: Protocol) -> None:
    set_up_trial(engine, seed_protocol)
    size = MAX_FAILED_SIGN_INS + 2
    racers = Racers(engine.url.render_as_string(hide_password=False), size=size)
    try:
        outcomes = racers.round(*((RADIOLOGIST, "guess", (COORDINATOR,)) for _ in range(size)))
    finally:
        racers.close()
    codes = sorted(code for _, code in outcomes)
    assert codes.count("auth.bad_credentials") == MAX_FAILED_SIGN_INS, outcomes
    assert codes.count("auth.throttled") == size - MAX_FAILED_SIGN_INS


def test_a_locked_out_account_is_unblocked_by_an_investigator(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    for _ in range(MAX_FAILED_SIGN_INS):
        with pytest.raises(NotSignedIn):
            sign_in(trial.study, COORDINATOR, "guess")
    with pytest.raises(PermissionDenied):
        sign_in(trial.study, COORDINATOR, PASSWORD)
    unblock_sign_in(
        trial.study, trial.actor(INVESTIGATOR), COORDINATOR, reason="someone guessed at it"
    )
    assert sign_in(trial.study, COORDINATOR, PASSWORD).username == COORDINATOR


def test_an_unknown_username_costs_a_password_check_too(
    engine: Engine, seed_protocol: Protocol, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time a sign-in takes must not tell which usernames exist."""
    trial = set_up_trial(engine, seed_protocol)
    checked: list[str] = []
    real = service_context.verify_password

    def counting(stored: str, password: str) -> bool:
        checked.append(stored)
        return real(stored, password)

    monkeypatch.setattr(service_context, "verify_password", counting)
    with pytest.raises(NotSignedIn):
        sign_in(trial.study, "nobody.here", "a wrong guess")
    assert len(checked) == 1


@pytest.mark.parametrize(
    "hostile",
    [
        lambda t: sign_in(t.study, "pi1\ud800", PASSWORD),
        lambda t: sign_in(t.study, "pi1\x00", PASSWORD),
        lambda t: sign_in(t.study, INVESTIGATOR, "\ud800"),
        lambda t: sign_out(t.study, None),  # type: ignore[arg-type]
        lambda t: list_queries(t.study, t.actor(MONITOR), status="bogus"),  # type: ignore[arg-type]
        lambda t: participant_queries(t.study, t.actor(MONITOR), 2**63),
        lambda t: pregnancy_outcome(t.study, t.actor(MONITOR), []),  # type: ignore[arg-type]
        lambda t: CandidateInput(candidate_ref="c\ud800", items={}),
        lambda t: screen(
            t.study,
            t.actor(COORDINATOR),
            CandidateInput(candidate_ref="c1", items={**eligible_items(), "afc": 2**70}),
        ),
        lambda t: TeamMember(
            username="x1", full_name="X", role=Role.COORDINATOR, password="p" * 1001
        ),
    ],
)
def test_hostile_calls_get_the_projects_errors(
    engine: Engine, seed_protocol: Protocol, hostile: Any
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    with pytest.raises(EndotrialError) as refused:
        hostile(trial)
    assert "pppp" not in str(refused.value)  # a password is never echoed


@pytest.mark.parametrize("ref", ["sc-1", "SC-1", "Sc\u20111", "ＳＣ－１", " sc-1 "])
def test_one_candidate_id_one_spelling(engine: Engine, seed_protocol: Protocol, ref: str) -> None:
    trial = set_up_trial(engine, seed_protocol)
    first = screened(trial, "SC-1", hydrosalpinx=True)
    candidate = CandidateInput(candidate_ref=ref, items=eligible_items(), site_id=trial.site_id)
    again = screen(trial.study, trial.actor(COORDINATOR), candidate)
    assert again.candidate_ref == "SC-1" and again.screening_id != first
    for invisible in ("SC-1\u200b", "SC-1\u202e", "=HYPERLINK(1)"):
        with pytest.raises(InvalidInput):
            CandidateInput(candidate_ref=invisible, items={})


def test_contradictory_outcomes_open_queries(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = start_transfer_cycle(trial, allocated(trial, "p-7", "control"))
    transfer = TransferInput(participant_id=pid, transfer_date=TRANSFER_DAY, embryo_grades=["4AB"])
    transfer_id = record_transfer(trial.study, trial.actor(EMBRYOLOGIST), transfer)
    facts = OutcomeInput(
        transfer_id=transfer_id,
        beta_hcg_miu_ml=0.0,
        ectopic=True,
        live_born_count=1,
        fetal_heartbeat_12_weeks=False,
    )
    record_outcome(trial.study, trial.actor(COORDINATOR), facts)
    with Session(engine) as session:
        fields = set(
            session.scalars(
                select(DataQuery.field).where(DataQuery.opened_by == "edit_check:contradiction")
            )
        )
    assert fields == {"ectopic", "beta_hcg_miu_ml", "birth_date", "fetal_heartbeat"}


def test_a_fatal_event_cannot_have_recovered(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "p-8", "control")
    event = AdverseEventInput(
        participant_id=pid, term="Sepsis", ctcae_grade=5, serious=True, onset_date=DAY_10,
        outcome="recovered",
    )  # fmt: skip
    with pytest.raises(RuleViolation) as refused:
        report_adverse_event(trial.study, trial.actor(COORDINATOR), event)
    assert refused.value.code == "ae.fatal_outcome"


def test_procedure_times_on_its_date_and_a_traceable_lot(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "p-9", "hbmsc")
    early = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)
    for changes, code in (
        ({"started_at": early}, "procedure.time_off_date"),
        ({"cell_lot": None}, "procedure.no_lot"),
    ):
        with pytest.raises(RuleViolation) as refused:
            record_procedure(trial.study, trial.actor(RADIOLOGIST), infusion(pid, DOSE, **changes))
        assert refused.value.code == code
    with pytest.raises(InvalidInput):
        infusion(pid, DOSE, cell_lot="\x07")
    with pytest.raises(InvalidInput):
        AdverseEventInput(
            participant_id=pid, term="Pain", ctcae_grade=1, serious=False, onset_date=DAY_10,
            outcome="\x00\x1b[31m",
        )  # fmt: skip


def test_an_unanswered_query_is_closed_only_by_who_raised_it(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "p-10", "control")
    scan = UltrasoundInput(participant_id=pid, scan_date=DAY_10, thickness_mm=45.0)
    record_ultrasound(trial.study, trial.actor(COORDINATOR), scan)
    (query,) = list_queries(trial.study, trial.actor(MONITOR))
    with pytest.raises(RuleViolation) as refused:
        close_query(trial.study, trial.actor(INVESTIGATOR), QueryClosure(query_id=query.query_id))
    assert refused.value.code == "query.unanswered"


def test_a_consent_is_taken_by_a_coordinator_or_investigator(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    member = TeamMember(
        username="stat.b", full_name="S", role=Role.STATISTICIAN, password=PASSWORD,
        site_id=trial.site_id,
    )  # fmt: skip
    add_user(trial.study, trial.actor(INVESTIGATOR), member)
    consent = ConsentInput(
        screening_id=screened(trial, "p-11"), form_version="v1", consent_date=SCREENED_ON,
        taken_by="stat.b",
    )  # fmt: skip
    with pytest.raises(RuleViolation) as refused:
        record_consent(trial.study, trial.actor(COORDINATOR), consent)
    assert refused.value.code == "consent.taker"


def test_a_blank_allergy_is_unknown_not_failed(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    candidate = CandidateInput(
        candidate_ref="p-12", items=eligible_items(iodine_allergy="  "), site_id=trial.site_id
    )
    record = screen(trial.study, trial.actor(COORDINATOR), candidate)
    assert "IODINE" in record.unknown_criteria and "IODINE" not in record.failed_criteria


def test_a_password_in_a_url_query_is_hidden_and_a_bad_port_refused() -> None:
    url = "postgresql+psycopg://endotrial@127.0.0.1:5432/nodb?password=SUPERSECRET"
    assert "SUPERSECRET" not in shown_url(url)
    with pytest.raises(EndotrialError):
        parse_database_url("postgresql+psycopg://u:pw@host:notaport/x")
