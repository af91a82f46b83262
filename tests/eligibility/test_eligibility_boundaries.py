"""Every seed criterion at its boundaries, one item changed from a fully eligible candidate."""

from __future__ import annotations

import datetime as dt

import pytest

from endotrial.eligibility import CandidateResult

Case = tuple[dict[str, object], bool]


def failed_ids(result: CandidateResult) -> list[str]:
    return [cid for cid, _ in result.failed]


def test_the_base_candidate_is_eligible_for_both_arms(screen) -> None:
    result = screen()
    assert result.decision == "eligible"
    assert result.eligible_arms == ("control", "hbmsc")
    assert result.errors == () and result.unknown == () and result.arm_notes == ()
    assert [cid for cid, _ in result.to_confirm] == ["I1"]


BOUNDARIES: dict[str, list[Case]] = {
    "I2": [
        ({"age_years": 20}, True),
        ({"age_years": 38}, True),
        ({"age_years": 19}, False),
        ({"age_years": 39}, False),
        ({"age_years": None, "birth_date": dt.date(2005, 6, 2)}, True),  # 20th birthday today
        ({"age_years": None, "birth_date": dt.date(2005, 6, 3)}, False),  # 20 tomorrow
        ({"age_years": None, "birth_date": dt.date(1986, 6, 3)}, True),  # 39 tomorrow
        ({"age_years": None, "birth_date": dt.date(1986, 6, 2)}, False),  # turned 39 today
    ],
    "I3": [
        ({"bmi_kg_m2": 18}, True),
        ({"bmi_kg_m2": 27}, True),
        ({"bmi_kg_m2": 17.9}, False),
        ({"bmi_kg_m2": 27.1}, False),
        ({"bmi_kg_m2": None, "weight_kg": 46.08, "height_cm": 160}, True),  # 18.0
        ({"bmi_kg_m2": None, "weight_kg": 45.9, "height_cm": 160}, False),  # 17.9
        ({"bmi_kg_m2": None, "weight_kg": 69.12, "height_cm": 160}, True),  # 27.0
        ({"bmi_kg_m2": None, "weight_kg": 69.4, "height_cm": 160}, False),  # 27.1
        # Typed or computed, 27.04 is outside: one rule for both (no rounding to 27.0).
        ({"bmi_kg_m2": 27.04}, False),
        ({"bmi_kg_m2": None, "weight_kg": 69.22, "height_cm": 160}, False),  # 27.04
        ({"bmi_kg_m2": None, "weight_kg": 69.2, "height_cm": 160}, False),  # 27.03
        # Typed within 0.5 of the computed BMI (no conflict): the computed one decides.
        ({"bmi_kg_m2": 27.3, "weight_kg": 69, "height_cm": 160}, True),  # computed 26.95
        ({"bmi_kg_m2": 26.9, "weight_kg": 70, "height_cm": 160}, False),  # computed 27.34
        ({"bmi_kg_m2": 17.6, "weight_kg": 46.08, "height_cm": 160}, True),  # computed 18.0
        ({"bmi_kg_m2": 18.3, "weight_kg": 45.9, "height_cm": 160}, False),  # computed 17.93
        # Typed alone (no weight, or no height): the typed BMI decides.
        ({"bmi_kg_m2": 26.9, "weight_kg": None, "height_cm": None}, True),
        ({"bmi_kg_m2": 27.3, "weight_kg": 69, "height_cm": None}, False),
        ({"bmi_kg_m2": 26.9, "weight_kg": None, "height_cm": 160}, True),
    ],
    "I4": [
        ({"cycle_length_days": 27}, True),
        ({"cycle_length_days": 35}, True),
        ({"cycle_length_days": 26}, False),
        ({"cycle_length_days": 36}, False),
        ({"regular_cycle_months": 6}, True),
        ({"regular_cycle_months": 5}, False),
    ],
    "I5": [
        ({"afc": 6}, True),
        ({"afc": 5}, False),
        ({"fsh_iu_l": 1}, True),
        ({"fsh_iu_l": 10}, True),
        ({"fsh_iu_l": 0.9}, False),
        ({"fsh_iu_l": 10.1}, False),
        ({"sex_hormones_normal": False}, False),
    ],
    "I6": [
        ({"hiv_ab": "positive"}, False),
        ({"tpa": "positive"}, False),
        ({"hbsag": "positive"}, False),
        ({"hcv_ab": "positive"}, False),
        ({"serology_date": dt.date(2024, 12, 2)}, True),  # exactly 6 months
        ({"serology_date": dt.date(2024, 12, 1)}, False),
    ],
    "I7": [({"good_blastocysts": 2}, True), ({"good_blastocysts": 1}, False)],
    "I8": [
        ({"normal_cavity_hysteroscopy_date": dt.date(2025, 3, 2)}, True),  # exactly 3 months
        ({"normal_cavity_hysteroscopy_date": dt.date(2025, 3, 1)}, False),
        ({"severe_iua_electroresection": False}, False),
    ],
    "I9": [({"cancelled_fet_thin_endometrium": False}, False)],
    "SEX": [({"sex": "M"}, False)],
    "E3": [
        ({"consecutive_failed_transfers": 3, "failed_good_embryos": 6}, False),
        ({"consecutive_failed_transfers": 2, "failed_good_embryos": 6}, True),
        ({"consecutive_failed_transfers": 3, "failed_good_embryos": 5}, True),
    ],
    "E10": [
        ({"platelets_1e9_l": 100}, True),
        ({"platelets_1e9_l": 99}, False),
        ({"hemoglobin_g_l": 100}, True),
        ({"hemoglobin_g_l": 99}, False),
    ],
    "E16": [
        ({"last_other_trial_date": dt.date(2025, 3, 2)}, False),  # exactly 3 months ago
        ({"last_other_trial_date": dt.date(2025, 3, 1)}, True),
        ({"last_other_trial_date": None}, True),
    ],
}
CASES = [
    pytest.param(criterion, changes, eligible, id=f"{criterion}-{changes}")
    for criterion, cases in BOUNDARIES.items()
    for changes, eligible in cases
]


@pytest.mark.parametrize(("criterion", "changes", "eligible"), CASES)
def test_boundary(screen, criterion: str, changes: dict[str, object], eligible: bool) -> None:
    result = screen(**changes)
    if eligible:
        assert result.decision == "eligible", result
    else:
        assert result.decision == "ineligible", result
        assert failed_ids(result) == [criterion]
        assert result.eligible_arms == ()
    assert result.errors == ()


def test_each_exclusion_flag_excludes_naming_its_criterion(screen, exclusion_flags) -> None:
    for criterion, flags in exclusion_flags.items():
        for flag in flags:
            result = screen(**{flag: True})
            assert result.decision == "ineligible", flag
            assert failed_ids(result) == [criterion], flag
            assert dict(result.failed)[criterion]  # the registry text comes along


def test_several_failures_are_all_named(screen) -> None:
    result = screen(age_years=45, hypertension=True, hiv_ab="positive")
    assert failed_ids(result) == ["I2", "I6", "E8"]


def test_iodine_allergy_leaves_the_trial_open_through_the_control_arm(screen) -> None:
    result = screen(iodine_allergy=True)
    assert result.decision == "eligible"
    assert result.eligible_arms == ("control",)
    (note,) = result.arm_notes
    assert note.startswith("IODINE: iodine (contrast) allergy rules out the stem-cell arm")
    assert "not the trial" in note


def test_unknown_iodine_allergy_keeps_its_arm_closed_and_says_why(screen) -> None:
    """Fail closed: the arm the allergy guards opens only once the allergy is recorded."""
    result = screen(iodine_allergy=None)
    assert result.decision == "eligible"
    assert result.eligible_arms == ("control",)
    assert result.arm_notes == (
        "IODINE: iodine_allergy not recorded; needed before allocation to hbmsc",
    )


def test_missing_items_make_the_candidate_incomplete_naming_them(screen) -> None:
    result = screen(afc=None, age_years=None, hbsag=None)
    assert result.decision == "incomplete"
    assert result.unknown == (
        ("I2", ("age_years (or birth_date)",)),
        ("I5", ("afc",)),
        ("I6", ("hbsag",)),
    )
    assert result.missing_items == ("age_years (or birth_date)", "afc", "hbsag")
    assert result.eligible_arms == ("control", "hbmsc")


def test_missing_bmi_names_what_would_supply_it(screen) -> None:
    result = screen(bmi_kg_m2=None, weight_kg=60)
    assert result.unknown == (("I3", ("bmi_kg_m2 (or weight_kg + height_cm)",)),)


def test_missing_screening_date_is_named_for_every_window(screen) -> None:
    result = screen(screening_date=None, age_years=None, birth_date=dt.date(1990, 1, 1))
    assert result.decision == "incomplete"
    assert [cid for cid, _ in result.unknown] == ["I2", "I6", "I8"]  # E16: no trial date
    assert "screening_date" in result.missing_items


def test_a_true_exclusion_decides_even_with_items_missing(screen) -> None:
    result = screen(afc=None, age_years=None, cardiac_disease=True)
    assert result.decision == "ineligible"
    assert failed_ids(result) == ["E8"]
    assert result.unknown == ()


def test_unknown_or_false_exclusion_parts_follow_three_valued_logic(screen) -> None:
    # E8 = severe_hepatic_renal OR cardiac_disease OR hypertension: one TRUE decides.
    assert screen(severe_hepatic_renal=None, hypertension=True).decision == "ineligible"
    unknown = screen(severe_hepatic_renal=None)
    assert unknown.decision == "incomplete"
    assert unknown.unknown == (("E8", ("severe_hepatic_renal",)),)
    # E3 = transfers >= 3 AND embryos >= 6: one FALSE part settles it.
    assert screen(consecutive_failed_transfers=None, failed_good_embryos=2).decision == "eligible"


def test_haemoglobin_in_g_dl_is_refused_not_read_as_anaemia(screen) -> None:
    """12.5 is g/dL typed where g/L belongs: a malformed value naming the unit, not E10."""
    result = screen(hemoglobin_g_l=12.5)
    assert result.decision == "incomplete" and "E10" not in failed_ids(result)
    (error,) = result.errors
    assert "hemoglobin_g_l" in error and "below the minimum 30 g/L" in error


def test_a_true_part_decides_beside_a_bad_value(screen) -> None:
    """E10 = platelets < 100 OR haemoglobin < 100 OR disorder: platelets 50 make it TRUE whatever
    the haemoglobin, so a refused haemoglobin (g/dL typed) does not hold the decision back."""
    result = screen(platelets_1e9_l=50, hemoglobin_g_l=12.5)
    assert result.decision == "ineligible"
    assert failed_ids(result) == ["E10"]
    (error,) = result.errors
    assert "hemoglobin_g_l" in error and "below the minimum 30 g/L" in error


def test_a_bad_typed_bmi_beside_weight_and_height_is_not_a_blank(screen) -> None:
    """The computed BMI decides, but an unreadable typed one may be a conflict: I3 waits."""
    result = screen(bmi_kg_m2="abc", weight_kg=60, height_cm=160)
    assert result.decision == "incomplete"
    assert result.unknown == (("I3", ("bmi_kg_m2 (or weight_kg + height_cm)",)),)
    (error,) = result.errors
    assert "bmi_kg_m2" in error and "not a number" in error


def test_a_bad_weight_does_not_leave_the_typed_bmi_deciding(screen) -> None:
    """With a weight given the computed BMI decides; a refused weight is not a blank one."""
    result = screen(weight_kg=-60, height_cm=160)
    assert result.decision == "incomplete"
    assert result.unknown == (("I3", ("weight_kg",)),)
    assert result.missing_items == ("weight_kg",)
    (error,) = result.errors
    assert "weight_kg" in error and "below the minimum 25 kg" in error
