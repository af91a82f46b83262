"""The seed's five related trials, screened from their bundled protocol files at the edges of
their criteria: each test starts from a candidate who meets every criterion and changes one
or two items. The eligibility engine reads only the files: no trial is named in it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from endotrial.eligibility import CandidateResult, screen_candidate
from endotrial.protocol import Protocol, load_protocol

TODAY = dt.date(2026, 3, 2)

#: A candidate meeting every criterion of each related trial (change an item to fail one).
ELIGIBLE: dict[str, dict[str, Any]] = {
    "nct03724617": {
        "screening_date": TODAY,
        "sex": "F",
        "age_years": 31,
        "wishes_to_conceive": True,
        "prior_adhesiolyses": 3,
        "cavity_basically_normal": True,
        "max_endometrial_thickness_mm": 4.5,
        "estrogen_escalation_ineffective": True,
        "cancelled_fet_thin_endometrium": True,
    },
    "nct05495711": {
        "screening_date": TODAY,
        "sex": "F",
        "age_years": 31,
        "infertility": "secondary",
        "good_frozen_embryos": 5,
        "prior_adhesiolyses": 2,
        "cavity_restored": True,
        "max_endometrial_thickness_mm": 6.0,
        "high_dose_estrogen_days": 14,
        "adjuvants_tried": False,
        "luteal_max_thickness_mm": 5.0,
        "bmi_kg_m2": 21.0,
        "covid19_nat": "negative",
        "uncured_std": False,
        "last_other_trial_date": None,
    },
    "nct03386708": {
        "screening_date": TODAY,
        "sex": "F",
        "age_years": 32,
        "bmi_kg_m2": 21.0,
        "poor_healing_uterine_injury": True,
        "uterine_injury": "cesarean_scar_diverticulum",
        "smoker": False,
        "last_stem_cell_treatment_date": None,
        "pregnant": False,
        "breastfeeding": False,
        "serious_medical_history": False,
        "hiv_ab": "negative",
        "syphilis": "negative",
    },
    "nct03181087": {
        "screening_date": TODAY,
        "sex": "F",
        "age_years": 28,
        "primiparous": True,
        "cesarean_delivery_planned": True,
        "gestational_age_weeks": 39.0,
        "fibroids": False,
        "placenta_previa_or_abruption": False,
        "multiple_gestation": False,
        "antepartum_haemorrhage": False,
        "preeclampsia_or_eclampsia": False,
        "hepatic_or_renal_dysfunction": False,
        "uncontrolled_systemic_disease": False,
    },
    "nct02065167": {
        "screening_date": TODAY,
        "sex": "F",
        "age_years": 45,
        "avn_femoral_head_mri": True,
        "ficat_arlet_stage": "I",
        "steinberg_stage": "IIA",
        "symptom_duration_months": 3.0,
        "pregnant": False,
        "breastfeeding": False,
        "inadequate_contraception": False,
        "last_other_trial_date": None,
        "femoral_head_collapse": False,
        "septic_arthritis": False,
        "stress_fracture": False,
        "metabolic_bone_disease": False,
        "bisphosphonates": False,
    },
}

Case = tuple[dict[str, Any], list[str]]


@pytest.fixture(scope="module")
def protocols() -> dict[str, Protocol]:
    return {protocol_id: load_protocol(protocol_id) for protocol_id in ELIGIBLE}


def _screen(protocols: dict[str, Protocol], protocol_id: str, **changes: Any) -> CandidateResult:
    items = {**ELIGIBLE[protocol_id], **changes}
    return screen_candidate(protocols[protocol_id], items, today=TODAY)


def _check(protocols: dict[str, Protocol], protocol_id: str, case: Case) -> None:
    """Eligible when no criterion is named; otherwise ineligible, failing exactly those."""
    changes, failed = case
    result = _screen(protocols, protocol_id, **changes)
    assert result.errors == ()
    assert [cid for cid, _ in result.failed] == failed
    assert result.decision == ("ineligible" if failed else "eligible")


@pytest.mark.parametrize("protocol_id", sorted(ELIGIBLE))
def test_the_base_candidate_is_eligible_for_every_arm(
    protocols: dict[str, Protocol], protocol_id: str
) -> None:
    result = _screen(protocols, protocol_id)
    assert (result.decision, result.errors, result.unknown) == ("eligible", (), ())
    assert result.eligible_arms == tuple(arm.id for arm in protocols[protocol_id].arms)


@pytest.mark.parametrize(
    "case",
    [
        ({"age_years": 20}, []),
        ({"age_years": 40}, []),
        ({"age_years": 19}, ["I1"]),
        ({"age_years": 41}, ["I1"]),
        ({"wishes_to_conceive": False}, ["I1"]),
        ({"max_endometrial_thickness_mm": 5.5}, []),
        ({"max_endometrial_thickness_mm": 5.6}, ["I3"]),
        ({"estrogen_escalation_ineffective": False}, ["I3"]),
        ({"prior_adhesiolyses": 3}, []),
        ({"prior_adhesiolyses": 2}, ["I2"]),  # "more than 2"
        ({"cavity_basically_normal": False}, ["I2"]),
        ({"cancelled_fet_thin_endometrium": False}, ["I4"]),
        ({"sex": "M"}, ["SEX"]),
    ],
)
def test_nct03724617_at_its_boundaries(protocols: dict[str, Protocol], case: Case) -> None:
    _check(protocols, "nct03724617", case)


def test_nct03724617_a_missing_thickness_leaves_her_incomplete(
    protocols: dict[str, Protocol],
) -> None:
    result = _screen(protocols, "nct03724617", max_endometrial_thickness_mm=None)
    assert result.decision == "incomplete"
    assert result.unknown == (("I3", ("max_endometrial_thickness_mm",)),)


@pytest.mark.parametrize(
    "case",
    [
        ({"age_years": 20}, []),
        ({"age_years": 39}, []),
        ({"age_years": 19}, ["I1"]),
        ({"age_years": 40}, ["I1"]),
        ({"bmi_kg_m2": 18}, []),
        ({"bmi_kg_m2": 24}, []),
        ({"bmi_kg_m2": 17.9}, ["I7"]),
        ({"bmi_kg_m2": 24.1}, ["I7"]),
        ({"bmi_kg_m2": None, "weight_kg": 46.08, "height_cm": 160}, []),  # computed 18.0
        ({"bmi_kg_m2": None, "weight_kg": 61.44, "height_cm": 160}, []),  # computed 24.0
        ({"bmi_kg_m2": None, "weight_kg": 61.7, "height_cm": 160}, ["I7"]),  # computed 24.1
        ({"infertility": "primary"}, []),
        ({"infertility": "none"}, ["I2"]),
        ({"good_frozen_embryos": 4}, []),
        ({"good_frozen_embryos": 3}, ["I3"]),
        ({"prior_adhesiolyses": 1}, ["I4"]),
        ({"max_endometrial_thickness_mm": 7.0}, []),
        ({"max_endometrial_thickness_mm": 7.1}, ["I5"]),
        ({"high_dose_estrogen_days": 12}, []),
        ({"high_dose_estrogen_days": 11}, ["I5"]),
        ({"high_dose_estrogen_days": 11, "adjuvants_tried": True}, []),  # "or adjuvants"
        ({"luteal_max_thickness_mm": 5.9}, []),
        ({"luteal_max_thickness_mm": 6.0}, ["I6"]),
        ({"covid19_nat": "positive"}, ["I8"]),
        ({"sex": "M"}, ["SEX"]),
        ({"uncured_std": True}, ["E1"]),
        ({"last_other_trial_date": dt.date(2025, 12, 2)}, ["E2"]),  # exactly 3 months ago
        ({"last_other_trial_date": dt.date(2025, 12, 1)}, []),
    ],
)
def test_nct05495711_at_its_boundaries(protocols: dict[str, Protocol], case: Case) -> None:
    _check(protocols, "nct05495711", case)


@pytest.mark.parametrize(
    "case",
    [
        ({"age_years": 18}, []),
        ({"age_years": 40}, []),
        ({"age_years": 17}, ["E2"]),
        ({"age_years": 41}, ["E2"]),
        ({"bmi_kg_m2": 18}, []),
        ({"bmi_kg_m2": 24}, []),
        ({"bmi_kg_m2": 17.9}, ["I2"]),
        ({"bmi_kg_m2": 24.1}, ["I2"]),
        ({"poor_healing_uterine_injury": False}, ["I3"]),
        ({"smoker": True}, ["I4"]),
        # "No stem-cell treatment in the previous 6 months": exactly 6 months ago is within.
        ({"last_stem_cell_treatment_date": dt.date(2025, 9, 2)}, ["I5"]),
        ({"last_stem_cell_treatment_date": dt.date(2025, 9, 1)}, []),
        ({"pregnant": True}, ["E1"]),
        ({"breastfeeding": True}, ["E1"]),
        ({"serious_medical_history": True}, ["E3"]),
        ({"hiv_ab": "positive"}, ["E4"]),
        ({"syphilis": "positive"}, ["E4"]),
        ({"sex": "M"}, ["I1"]),
    ],
)
def test_nct03386708_at_its_boundaries(protocols: dict[str, Protocol], case: Case) -> None:
    _check(protocols, "nct03386708", case)


@pytest.mark.parametrize(
    "case",
    [
        ({"age_years": 21}, []),
        ({"age_years": 35}, []),
        ({"age_years": 20}, ["I2"]),
        ({"age_years": 36}, ["I2"]),
        ({"gestational_age_weeks": 37.0}, []),
        ({"gestational_age_weeks": 36.9}, ["I3"]),
        ({"gestational_age_weeks": 41.9}, []),
        ({"gestational_age_weeks": 42.0}, ["I3"]),
        ({"primiparous": False}, ["I1"]),
        ({"cesarean_delivery_planned": False}, ["I1"]),
        ({"sex": "M"}, ["SEX"]),
        ({"fibroids": True}, ["E1"]),
        ({"placenta_previa_or_abruption": True}, ["E2"]),
        ({"multiple_gestation": True}, ["E3"]),
        ({"antepartum_haemorrhage": True}, ["E4"]),
        ({"preeclampsia_or_eclampsia": True}, ["E5"]),
        ({"hepatic_or_renal_dysfunction": True}, ["E6"]),
        ({"uncontrolled_systemic_disease": True}, ["E7"]),
    ],
)
def test_nct03181087_at_its_boundaries(protocols: dict[str, Protocol], case: Case) -> None:
    """The trial was withdrawn with no one enrolled; its file still screens (and the services
    refuse the enrolment: see tests/services/test_related_trials_services.py)."""
    _check(protocols, "nct03181087", case)


@pytest.mark.parametrize(
    "case",
    [
        ({"age_years": 18}, []),
        ({"age_years": 65}, []),
        ({"age_years": 17}, ["AGE"]),
        ({"age_years": 66}, ["AGE"]),
        # Sex ALL: a man is screened like a woman.
        ({"sex": "M"}, []),
        ({"ficat_arlet_stage": "0", "steinberg_stage": "0"}, []),
        ({"ficat_arlet_stage": "II", "steinberg_stage": "IIC"}, []),
        # A late stage on either classification: not early (I1) and excluded (E3).
        ({"ficat_arlet_stage": "III"}, ["I1", "E3"]),
        ({"ficat_arlet_stage": "IV"}, ["I1", "E3"]),
        ({"steinberg_stage": "III"}, ["I1", "E3"]),
        ({"ficat_arlet_stage": "II", "steinberg_stage": "VI"}, ["I1", "E3"]),
        ({"avn_femoral_head_mri": False}, ["I1"]),
        ({"symptom_duration_months": 5.9}, []),
        ({"symptom_duration_months": 6.0}, ["I2"]),
        ({"inadequate_contraception": True}, ["E1"]),
        ({"pregnant": True}, ["E1"]),
        ({"last_other_trial_date": dt.date(2025, 12, 2)}, ["E2"]),
        ({"femoral_head_collapse": True}, ["E4"]),
        ({"septic_arthritis": True}, ["E5"]),
        ({"stress_fracture": True}, ["E6"]),
        ({"metabolic_bone_disease": True}, ["E7"]),
        ({"bisphosphonates": True}, ["E8"]),
    ],
)
def test_nct02065167_at_its_boundaries(protocols: dict[str, Protocol], case: Case) -> None:
    _check(protocols, "nct02065167", case)


@pytest.mark.parametrize("blank", ["ficat_arlet_stage", "steinberg_stage"])
def test_nct02065167_without_both_stages_is_incomplete(
    protocols: dict[str, Protocol], blank: str
) -> None:
    """An early stage on one classification does not hide a stage not yet recorded on the
    other: the inclusion and the late-stage exclusion stay open."""
    result = _screen(protocols, "nct02065167", **{blank: None})
    assert result.decision == "incomplete"
    assert result.unknown == (("I1", (blank,)), ("E3", (blank,)))


@pytest.mark.parametrize(
    ("protocol_id", "criterion"),
    [
        ("nct03724617", "SEX"),
        ("nct05495711", "SEX"),
        ("nct03386708", "I1"),
        ("nct03181087", "SEX"),
    ],
)
def test_a_women_only_trial_refuses_a_man_and_sex_all_accepts_him(
    protocols: dict[str, Protocol], protocol_id: str, criterion: str
) -> None:
    assert protocols[protocol_id].design.sex == "FEMALE"
    man = _screen(protocols, protocol_id, sex="M")
    assert (man.decision, [cid for cid, _ in man.failed]) == ("ineligible", [criterion])
    assert protocols["nct02065167"].design.sex == "ALL"
    assert _screen(protocols, "nct02065167", sex="M").decision == "eligible"
