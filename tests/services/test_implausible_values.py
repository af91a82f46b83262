"""Issue 6, finding 7: impossible or implausible values were stored without a word. Each now
gets a refusal, or an edit-check query by a rule the protocol states."""

import datetime as dt

import pytest
from services_helpers import (
    COORDINATOR,
    DAY_10,
    EMBRYOLOGIST,
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
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
    AdverseEventInput,
    CandidateInput,
    ConsentInput,
    InvalidInput,
    OutcomeInput,
    RuleViolation,
    TransferInput,
    UltrasoundInput,
    WithdrawalInput,
    record_consent,
    record_outcome,
    record_procedure,
    record_transfer,
    record_ultrasound,
    report_adverse_event,
    screen,
    withdraw,
)
from endotrial.store import DataQuery

DOSE = 58_000_000


def _transfer(trial: Trial, embryos: int = 1) -> int:
    pid = allocated(trial, "c1", "control")
    start_transfer_cycle(trial, pid)
    transfer = TransferInput(
        participant_id=pid, transfer_date=TRANSFER_DAY, embryo_grades=["4AB"] * embryos
    )
    return record_transfer(trial.study, trial.actor(EMBRYOLOGIST), transfer)


def _queries(trial: Trial, field: str) -> list[DataQuery]:
    with Session(trial.engine) as session:
        return list(session.scalars(select(DataQuery).where(DataQuery.field == field)))


def test_a_consent_in_1900_is_refused(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    consent = ConsentInput(
        screening_id=screened(trial, "c1"),
        form_version="v1",
        consent_date=dt.date(1900, 1, 1),
        taken_by=COORDINATOR,
    )
    with pytest.raises(RuleViolation) as refused:
        record_consent(trial.study, trial.actor(COORDINATOR), consent)
    assert (refused.value.code, refused.value.field) == ("date.before_trial", "consent_date")


def test_a_scan_before_enrolment_is_refused(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control", start_treatment=False)
    scan = UltrasoundInput(
        participant_id=pid, scan_date=SCREENED_ON - dt.timedelta(days=3), thickness_mm=5.0
    )
    with pytest.raises(RuleViolation) as refused:
        record_ultrasound(trial.study, trial.actor(COORDINATOR), scan)
    assert refused.value.code == "date.before_enrolment"


def test_an_infusion_before_enrolment_is_refused(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    early = infusion(pid, DOSE, procedure_date=SCREENED_ON - dt.timedelta(days=30))
    with pytest.raises(RuleViolation) as refused:
        record_procedure(trial.study, trial.actor(RADIOLOGIST), early)
    assert refused.value.code == "date.before_enrolment"


def test_an_adverse_event_before_consent_is_refused(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    event = AdverseEventInput(
        participant_id=pid,
        term="Pelvic pain",
        ctcae_grade=1,
        serious=False,
        onset_date=SCREENED_ON - dt.timedelta(days=60),
    )
    with pytest.raises(RuleViolation) as refused:
        report_adverse_event(trial.study, trial.actor(COORDINATOR), event)
    assert refused.value.code == "date.before_consent"


def test_a_withdrawal_before_enrolment_is_refused(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "control")
    withdrawal = WithdrawalInput(
        participant_id=pid,
        withdrawn_on=SCREENED_ON - dt.timedelta(days=90),
        initiated_by="participant",
        reason="moved away",
    )
    with pytest.raises(RuleViolation) as refused:
        withdraw(trial.study, trial.actor(COORDINATOR), withdrawal)
    assert refused.value.code == "date.before_enrolment"


def test_a_birth_date_giving_an_age_of_126_is_refused(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    items = eligible_items(birth_date=dt.date(1900, 6, 1))
    del items["age_years"]
    candidate = CandidateInput(candidate_ref="c1", items=items, site_id=trial.site_id)
    with pytest.raises(InvalidInput) as refused:
        screen(trial.study, trial.actor(COORDINATOR), candidate)
    assert refused.value.code == "input.candidate_values"
    assert "impossible" in str(refused.value) and "birth_date" in str(refused.value)


def test_a_negative_beta_hcg_is_refused(engine: Engine, seed_protocol: Protocol) -> None:
    with pytest.raises(InvalidInput) as refused:
        OutcomeInput(transfer_id=1, beta_hcg_miu_ml=-5.0)
    assert refused.value.field == "beta_hcg_miu_ml"


def test_fifty_sacs_after_one_embryo_are_refused(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    transfer_id = _transfer(trial)
    facts = OutcomeInput(
        transfer_id=transfer_id,
        beta_hcg_miu_ml=800.0,
        ultrasound_date=TRANSFER_DAY + dt.timedelta(days=30),
        gestational_sacs=15,
    )
    with pytest.raises(RuleViolation) as refused:
        record_outcome(trial.study, trial.actor(COORDINATOR), facts)
    assert refused.value.code == "outcome.too_many"
    with pytest.raises(InvalidInput):
        OutcomeInput(transfer_id=transfer_id, gestational_sacs=50)


def test_two_sacs_after_one_embryo_open_a_query(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    transfer_id = _transfer(trial)
    facts = OutcomeInput(
        transfer_id=transfer_id,
        beta_hcg_miu_ml=1800.0,
        ultrasound_date=TRANSFER_DAY + dt.timedelta(days=30),
        gestational_sacs=2,
    )
    outcome = record_outcome(trial.study, trial.actor(COORDINATOR), facts)
    assert outcome.clinical_pregnancy
    (query,) = _queries(trial, "gestational_sacs")
    assert "identical twins" in query.text


@pytest.mark.parametrize(
    ("field", "days_after_transfer", "code"),
    [
        ("birth_date", 21, "outcome.birth_date_weeks"),  # 3 weeks after: 5 weeks of gestation
        ("birth_date", 330, "outcome.birth_date_weeks"),  # 50 weeks: beyond any pregnancy
        ("loss_date", 250, "outcome.loss_date_weeks"),  # 38 weeks: a delivery, not a loss
        ("loss_date", -3, "date.before_transfer"),
        ("ultrasound_date", -1, "date.before_transfer"),
    ],
)
def test_pregnancy_dates_that_cannot_be(
    engine: Engine, seed_protocol: Protocol, field: str, days_after_transfer: int, code: str
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    transfer_id = _transfer(trial)
    on = TRANSFER_DAY + dt.timedelta(days=days_after_transfer)
    facts = OutcomeInput(transfer_id=transfer_id, beta_hcg_miu_ml=900.0, **{field: on})
    with pytest.raises(RuleViolation) as refused:
        record_outcome(trial.study, trial.actor(COORDINATOR), facts)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_an_infusion_weight_far_from_the_screening_weight_opens_a_query(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """Screened at 58 kg, infused at 36 kg (38 % less): the dose follows the weight, so the
    protocol's weight_change_query_pct (10 %) queries it."""
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    light = infusion(pid, 36_000_000, weight_kg=36.0)
    record_procedure(trial.study, trial.actor(RADIOLOGIST), light)
    (query,) = _queries(trial, "weight_kg")
    assert "38%" in query.text and "58" in query.text


def test_a_weight_close_to_the_screening_weight_opens_no_query(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    record_procedure(
        trial.study, trial.actor(RADIOLOGIST), infusion(pid, 60_000_000, weight_kg=60.0)
    )
    assert _queries(trial, "weight_kg") == []


def test_a_scan_thicker_than_any_endometrium_is_refused(
    engine: Engine, seed_protocol: Protocol
) -> None:
    with pytest.raises(InvalidInput) as refused:
        UltrasoundInput(participant_id=1, scan_date=DAY_10, thickness_mm=120.0)
    assert refused.value.field == "thickness_mm"
