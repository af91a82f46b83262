"""Issue 6, findings 1-3: an ineligible woman enrolled through another site's candidate id, an
allergic woman reaching the contrast-guided infusion, and a product released on impossible or
contradictory results. Each test failed before its fix."""

import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    PASSED_PRE_CHECKS,
    RADIOLOGIST,
    RELEASED,
    SCREENED_ON,
    Trial,
    allocated,
    consented,
    eligible_items,
    infusion,
    set_up_trial,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from two_sites import add_site_b, screen_at

from endotrial.protocol import Protocol
from endotrial.services import (
    AllocationInput,
    CandidateInput,
    ConsentInput,
    EnrolmentInput,
    InvalidInput,
    RuleViolation,
    allocate,
    enrol,
    record_consent,
    record_procedure,
    screen,
)
from endotrial.store import Participant, Procedure, ScreeningDecision

DOSE = 58_000_000  # 58 kg × 1×10⁶ cells/kg


def _no_procedure(trial: Trial) -> None:
    with Session(trial.engine) as session:
        assert session.scalar(select(func.count()).select_from(Procedure)) == 0


# --------------------------------------------------------------------------- 1. site's ids


def test_a_candidate_id_belongs_to_its_site(engine: Engine, seed_protocol: Protocol) -> None:
    """Site A screens SC-888 (ineligible), site B screens its own SC-888 (eligible): site A's
    woman cannot be enrolled on site B's screening, nor site B's on site A's."""
    trial = set_up_trial(engine, seed_protocol)
    site_b = add_site_b(trial)
    coordinator_a = trial.actor(COORDINATOR)
    at_a = screen_at(trial, coordinator_a, trial.site_id, "SC-888", hydrosalpinx=True)
    at_b = screen_at(trial, site_b.coordinator, site_b.site_id, "SC-888")
    consent = ConsentInput(
        screening_id=at_a, form_version="v1", consent_date=SCREENED_ON, taken_by=COORDINATOR
    )
    participant_a = record_consent(trial.study, coordinator_a, consent)
    with pytest.raises(RuleViolation) as refused:
        enrol(
            trial.study, coordinator_a, EnrolmentInput(screening_id=at_a, enrolled_on=SCREENED_ON)
        )
    assert refused.value.code == "enrolment.not_eligible"
    consent_b = ConsentInput(
        screening_id=at_b, form_version="v1", consent_date=SCREENED_ON, taken_by="coord.b"
    )
    participant_b = record_consent(trial.study, site_b.coordinator, consent_b)
    assert participant_b != participant_a  # two women, two participants
    enrolment_b = EnrolmentInput(screening_id=at_b, enrolled_on=SCREENED_ON)
    assert enrol(trial.study, site_b.coordinator, enrolment_b) == participant_b
    with Session(engine) as session:
        a = session.get_one(Participant, participant_a)
        b = session.get_one(Participant, participant_b)
        assert (a.status, a.site_id) == ("consented", trial.site_id)
        assert (b.status, b.site_id) == ("enrolled", site_b.site_id)


# --------------------------------------------------------------------------- 2. iodine


@pytest.mark.parametrize("allergic", ["阳性", "pos", "+", "allergic", "Positive (mild)", "yes"])
def test_an_uncoded_allergy_result_stops_the_infusion(
    engine: Engine, seed_protocol: Protocol, allergic: str
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    pre_checks = {**PASSED_PRE_CHECKS, "iodine_allergy_test": allergic}
    with pytest.raises(InvalidInput) as refused:
        record_procedure(
            trial.study, trial.actor(RADIOLOGIST), infusion(pid, DOSE, pre_checks=pre_checks)
        )
    assert refused.value.code == "procedure.pre_check_code"
    assert refused.value.field == "pre_checks.iodine_allergy_test"
    _no_procedure(trial)


def test_a_positive_allergy_test_cannot_be_overridden(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    procedure = infusion(
        pid,
        DOSE,
        pre_checks={**PASSED_PRE_CHECKS, "iodine_allergy_test": "Positive"},
        override_reason="premedicated with steroids and antihistamine by the anaesthetist",
    )
    with pytest.raises(RuleViolation) as refused:
        record_procedure(trial.study, trial.actor(INVESTIGATOR), procedure)
    assert refused.value.code == "procedure.blocked"
    _no_procedure(trial)


@pytest.mark.parametrize(
    "pre_checks",
    [
        {},
        {"groin_preparation": "done", "cell_product_release": "checked"},
        {**PASSED_PRE_CHECKS, "iodine_allergy_test": "  "},
        {**PASSED_PRE_CHECKS, "iodine_test": "negative"},
    ],
    ids=["none", "allergy test left out", "blank result", "unknown check id"],
)
def test_pre_checks_left_out_or_unknown_are_refused(
    engine: Engine, seed_protocol: Protocol, pre_checks: dict[str, str]
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    with pytest.raises(RuleViolation) as refused:
        record_procedure(
            trial.study, trial.actor(RADIOLOGIST), infusion(pid, DOSE, pre_checks=pre_checks)
        )
    assert refused.value.code in ("procedure.pre_check_missing", "procedure.pre_check_unknown")
    _no_procedure(trial)


def test_coded_results_are_read_whatever_their_case(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    pre_checks = {**PASSED_PRE_CHECKS, "iodine_allergy_test": " Negative "}
    record = record_procedure(
        trial.study, trial.actor(RADIOLOGIST), infusion(pid, DOSE, pre_checks=pre_checks)
    )
    with Session(engine) as session:
        stored = session.get_one(Procedure, record.procedure_id)
        assert stored.pre_checks["iodine_allergy_test"] == "negative"  # stored as its code


@pytest.mark.parametrize("iodine_allergy", [None, "missing"])
def test_an_unknown_iodine_allergy_keeps_the_stem_cell_arm_closed(
    engine: Engine, seed_protocol: Protocol, iodine_allergy: str | None
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    items = eligible_items(iodine_allergy=None)
    if iodine_allergy == "missing":
        del items["iodine_allergy"]
    candidate = CandidateInput(candidate_ref="c1", items=items, site_id=trial.site_id)
    record = screen(trial.study, trial.actor(COORDINATOR), candidate)
    assert record.decision is ScreeningDecision.ELIGIBLE
    assert record.eligible_arms == ("control",)
    assert "IODINE" in record.unknown_criteria
    consented(trial, record.screening_id)
    enrolment = EnrolmentInput(screening_id=record.screening_id, enrolled_on=SCREENED_ON)
    pid = enrol(trial.study, trial.actor(COORDINATOR), enrolment)
    allocation = AllocationInput(
        participant_id=pid, arm="hbmsc", basis="her preference", allocated_on=SCREENED_ON
    )
    with pytest.raises(RuleViolation) as refused:
        allocate(trial.study, trial.actor(INVESTIGATOR), allocation)
    assert refused.value.code == "allocation.arm_closed"
    assert "IODINE" in str(refused.value)


def test_a_misspelt_item_is_refused_never_dropped(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    items = eligible_items()
    items["iodine_alergy"] = items.pop("iodine_allergy")
    candidate = CandidateInput(candidate_ref="c1", items=items, site_id=trial.site_id)
    with pytest.raises(InvalidInput) as refused:
        screen(trial.study, trial.actor(COORDINATOR), candidate)
    assert refused.value.code == "input.unknown_items"
    assert "did you mean 'iodine_allergy'" in str(refused.value)


# --------------------------------------------------------------------------- 3. release


@pytest.mark.parametrize(
    ("test_id", "value"),
    [("endotoxin_eu_ml", -1.0), ("cd105_pct", 150.0), ("cd45_pct", -0.1)],
)
def test_impossible_release_results_are_refused(
    engine: Engine, seed_protocol: Protocol, test_id: str, value: float
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    results = {**RELEASED, test_id: value}
    with pytest.raises(InvalidInput) as refused:
        record_procedure(
            trial.study, trial.actor(RADIOLOGIST), infusion(pid, DOSE, release_results=results)
        )
    assert "impossible" in str(refused.value)
    assert refused.value.field == f"release_results.{test_id}"
    _no_procedure(trial)


@pytest.mark.parametrize("test_id", ["sterility", "mycoplasma"])
def test_a_positive_sterility_or_mycoplasma_test_is_never_overridden(
    engine: Engine, seed_protocol: Protocol, test_id: str
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    procedure = infusion(
        pid,
        DOSE,
        release_results={**RELEASED, test_id: "positive"},
        override_reason="the repeat culture was negative according to the cell lab",
    )
    with pytest.raises(RuleViolation) as refused:
        record_procedure(trial.study, trial.actor(INVESTIGATOR), procedure)
    assert refused.value.code == "procedure.blocked"
    _no_procedure(trial)


@pytest.mark.parametrize("reason", ["ok", "OK!", "override", "n/a", "fixed", "  yes  ", "x" * 30])
def test_an_override_needs_a_reason_that_says_something(
    engine: Engine, seed_protocol: Protocol, reason: str
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    low_dose = infusion(pid, 45_000_000, override_reason=reason)
    with pytest.raises(InvalidInput) as refused:
        record_procedure(trial.study, trial.actor(INVESTIGATOR), low_dose)
    assert refused.value.code == "input.reason_required"
    _no_procedure(trial)


def test_an_overridable_failure_goes_ahead_on_an_investigators_reason(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    reason = "细胞扩增不足，研究者同意较低剂量"  # cells short after expansion; PI accepts
    low_dose = infusion(pid, 45_000_000, override_reason=reason)
    with pytest.raises(RuleViolation) as radiologist:
        record_procedure(trial.study, trial.actor(RADIOLOGIST), low_dose)
    assert radiologist.value.code == "auth.needs_role"
    record = record_procedure(trial.study, trial.actor(INVESTIGATOR), low_dose)
    assert record.overridden and "outside" in record.problems[0]


def test_a_release_test_without_a_result_refuses_the_infusion(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    untested = {k: v for k, v in RELEASED.items() if k != "endotoxin_eu_ml"}
    procedure = infusion(
        pid,
        DOSE,
        release_results=untested,
        override_reason="the endotoxin result is expected tomorrow morning",
    )
    with pytest.raises(RuleViolation) as refused:
        record_procedure(trial.study, trial.actor(INVESTIGATOR), procedure)
    assert refused.value.code == "procedure.blocked"
    assert "endotoxin_eu_ml not tested" in str(refused.value)
