"""The seed protocol holds every fact of the registry record (../shared/seed/)."""

import datetime as dt

from endotrial.protocol import Protocol
from endotrial.protocol.summary import assumptions


def test_identity_status_and_dates(seed_protocol: Protocol) -> None:
    identity = seed_protocol.identity
    assert identity.nct_id == "NCT07176143"
    assert identity.org_study_id == "2024ZSLYFEC-013"
    assert identity.sponsor == "Sixth Affiliated Hospital, Sun Yat-sen University"
    assert identity.overall_status == "NOT_YET_RECRUITING"
    assert identity.phase == "NA"
    assert identity.study_type == "INTERVENTIONAL"
    assert identity.start_date == dt.date(2025, 9, 30)
    assert identity.completion_date == dt.date(2028, 12, 30)
    assert identity.enrollment_target == 60


def test_design(seed_protocol: Protocol) -> None:
    design = seed_protocol.design
    assert (design.allocation, design.intervention_model) == ("NON_RANDOMIZED", "PARALLEL")
    assert (design.primary_purpose, design.masking) == ("TREATMENT", "NONE")
    assert (design.sex, design.minimum_age_years, design.maximum_age_years) == ("FEMALE", 20, 38)
    assert design.healthy_volunteers is False


def test_the_hrt_regimen_of_the_treatment_cycle(seed_protocol: Protocol) -> None:
    estradiol = seed_protocol.regimen("tx_estradiol_valerate")
    dydrogesterone = seed_protocol.regimen("tx_dydrogesterone")
    assert (estradiol.dose, estradiol.unit, estradiol.frequency) == (3, "mg", "bid")
    assert (estradiol.first_day, estradiol.last_day) == (1, 28)
    assert (dydrogesterone.dose, dydrogesterone.frequency) == (10, "bid")
    assert (dydrogesterone.first_day, dydrogesterone.last_day) == (19, 28)
    assert seed_protocol.cycle("treatment").length_days == 28


def test_both_arms(seed_protocol: Protocol) -> None:
    control, stem_cell = seed_protocol.arm("control"), seed_protocol.arm("hbmsc")
    assert control.procedures == [] and stem_cell.procedures == ["hbmsc_infusion"]
    assert control.regimens == stem_cell.regimens


def test_the_procedure(seed_protocol: Protocol) -> None:
    procedure = seed_protocol.procedure("hbmsc_infusion")
    assert procedure.cycle_day == 10
    assert [step.number for step in procedure.steps] == [1, 2, 3, 4, 5, 6]
    assert "Seldinger" in procedure.steps[1].description
    assert "angiography" in procedure.steps[2].description
    assert {check.id for check in procedure.pre_checks} >= {
        "iodine_allergy_test",
        "groin_preparation",
    }
    assert procedure.observation_hours == 48
    assert procedure.frequency == "Single intervention"
    rule = seed_protocol.dose_rule(procedure.dose_rule)
    assert (rule.cells_per_kg, rule.volume_ml) == (1e6, 15)


def test_all_registry_criteria_with_their_numbers(seed_protocol: Protocol) -> None:
    numbered = {(c.kind, c.number) for c in seed_protocol.criteria if c.number is not None}
    assert {("inclusion", n) for n in range(1, 10)} <= numbered
    assert {("exclusion", n) for n in range(2, 19)} <= numbered
    gaps = {(g.kind, g.number) for g in seed_protocol.criteria_gaps}
    assert gaps == {("exclusion", 1), ("exclusion", 19)}
    inclusion_one = next(c for c in seed_protocol.criteria if c.id == "I1")
    assert inclusion_one.expression is None and "consent" in (inclusion_one.enforced_by or "")


def test_iodine_allergy_rules_out_the_procedure_not_the_trial(seed_protocol: Protocol) -> None:
    iodine = next(c for c in seed_protocol.criteria if c.id == "IODINE")
    assert iodine.arms == ["hbmsc"] and iodine.expression == "iodine_allergy"


def test_outcomes_and_objectives(seed_protocol: Protocol) -> None:
    primary = [o for o in seed_protocol.outcomes if o.kind == "primary"]
    assert [o.id for o in primary] == ["clinical_pregnancy"]
    secondary = {o.id for o in seed_protocol.outcomes if o.kind == "secondary"}
    assert {"implantation_rate", "endometrial_thickness", "adverse_events"} <= secondary
    assert len(seed_protocol.objectives) == 3


def test_every_open_value_is_a_labelled_assumption(seed_protocol: Protocol) -> None:
    found = {entry.location for entry in assumptions(seed_protocol)}
    for location in (
        "cycles[transfer]",
        "settings.transfer_thickness_min_mm",
        "settings.good_blastocyst_min_expansion",
        "settings.recurrent_miscarriage_min_losses",
        "settings.pregnancy_loss_boundary_weeks",
        "dose_rules[hbmsc_weight_based].release_criteria[viability_pct]",
        "schedule[beta_hcg]",
        "schedule[clinical_pregnancy_ultrasound]",
        "analysis_plan",
    ):
        assert location in found, location
    assert all(len(entry.reason) > 10 for entry in assumptions(seed_protocol))
