"""One participant of each of the seed's five related trials, run through the services from
her bundled protocol file: screened, consented, enrolled, allocated, her cycle(s) started, her
procedure(s) recorded with the protocol's fixed dose (no weight needed), and the value of her
primary outcome measure recorded at its schedule event, then read back derived (a change
from baseline, or whether a threshold is met). Each participant's dates fall in her trial's
own years; every event is on time, so no query is opened."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from services_helpers import (
    COORDINATOR,
    RADIOLOGIST,
    Trial,
    allocated_from_screening,
    queries,
    refused,
)
from services_helpers import set_up_trial as _set_up_trial
from sqlalchemy import Engine

from endotrial.protocol import load_protocol
from endotrial.services import (
    CandidateInput,
    ConsentInput,
    CycleStartInput,
    EnrolmentInput,
    MeasurementInput,
    MeasureView,
    ProcedureInput,
    ProcedureRecord,
    enrol,
    outcome_measures,
    record_consent,
    record_measurement,
    record_procedure,
    screen,
    start_cycle,
)

DAY = dt.timedelta(days=1)
RELEASED: dict[str, str | float] = {"sterility": "negative", "mycoplasma": "negative"}


def _days(n: int) -> dt.timedelta:
    return n * DAY


def _eligible_participant(
    trial: Trial, screened_on: dt.date, items: dict[str, Any], arm: str
) -> int:
    """Screened eligible, consented, enrolled and allocated to `arm` on `screened_on`."""
    coordinator = trial.actor(COORDINATOR)
    record = screen(
        trial.study,
        coordinator,
        CandidateInput(candidate_ref="R-001", items=items, site_id=trial.site_id),
    )
    assert (record.decision, arm in record.eligible_arms) == ("eligible", True)
    basis = "the trial's one group" if len(trial.protocol.arms) == 1 else "randomised"
    return allocated_from_screening(trial, record.screening_id, arm, on=screened_on, basis=basis)


def _start(trial: Trial, participant_id: int, cycle: str, on: dt.date) -> None:
    start = CycleStartInput(participant_id=participant_id, cycle=cycle, start_date=on)
    start_cycle(trial.study, trial.actor(COORDINATOR), start)


def _given(
    trial: Trial, participant_id: int, on: dt.date, cells: int, pre_checks: dict[str, str]
) -> ProcedureRecord:
    """The procedure with her fixed dose of cells: no weight is given, none is needed."""
    procedure = ProcedureInput(
        participant_id=participant_id,
        procedure_date=on,
        pre_checks=pre_checks,
        viability_pct=91.0,
        dose_given_cells=cells,
        release_results=RELEASED,
        cell_lot="LOT-1",
    )
    return record_procedure(trial.study, trial.actor(RADIOLOGIST), procedure)


def _measured(
    trial: Trial, participant_id: int, event_id: str, item: str, value: Any, on: dt.date
) -> None:
    measurement = MeasurementInput(
        participant_id=participant_id,
        event_id=event_id,
        item=item,
        value=value,
        measured_date=on,
    )
    record_measurement(trial.study, trial.actor(COORDINATOR), measurement)


def _primary(trial: Trial, participant_id: int, on: dt.date) -> MeasureView:
    """Her first outcome measure of the protocol's primary outcome, as the services read it."""
    primary = {o.id for o in trial.protocol.outcomes if o.kind == "primary"}
    views = outcome_measures(trial.study, trial.actor(COORDINATOR), participant_id, on=on)
    return next(v for v in views if v.outcome_id in primary)


def _dosed(record: ProcedureRecord, cells: float, volume_ml: float) -> None:
    assert record.plan is not None and record.plan.kind == "fixed"
    assert (record.plan.dose_viable_cells, record.plan.volume_ml) == (cells, volume_ml)
    assert record.plan.weight_kg is None and record.plan.released and not record.overridden


def test_nct03724617_two_scaffold_placements_to_thickness_at_6_months(engine: Engine) -> None:
    """Single group: 2 × 10⁷ cells on the scaffold in each of two consecutive cycles (the
    second filed under the second cycle), then her thickness before and 6 months after."""
    trial = _set_up_trial(engine, load_protocol("nct03724617"))
    screened_on = dt.date(2019, 3, 1)
    items = {
        "screening_date": screened_on,
        "sex": "F",
        "age_years": 33,
        "wishes_to_conceive": True,
        "prior_adhesiolyses": 3,
        "cavity_basically_normal": True,
        "max_endometrial_thickness_mm": 4.1,
        "estrogen_escalation_ineffective": True,
        "cancelled_fet_thin_endometrium": True,
    }
    pid = _eligible_participant(trial, screened_on, items, "scaffold_msc")
    menses_1 = screened_on + _days(21)
    _start(trial, pid, "placement_1", menses_1)
    checks = {"pregnancy_test": "negative", "cell_product_release": "checked"}
    _dosed(_given(trial, pid, menses_1 + _days(4), 20_000_000, checks), 2e7, 1.0)
    menses_2 = menses_1 + _days(28)
    _start(trial, pid, "placement_2", menses_2)
    _dosed(_given(trial, pid, menses_2 + _days(4), 20_000_000, checks), 2e7, 1.0)
    with refused("procedure.all_given", field="cycle"):  # two placements, no third
        _given(trial, pid, menses_2 + _days(6), 20_000_000, checks)
    item = "endometrial_thickness_mm"
    _measured(trial, pid, "baseline_ultrasound", item, 4.1, menses_1 - _days(16))
    six_months = menses_2 + _days(11 + 182)  # balloon out on day 12, then 182 days
    assert _primary(trial, pid, six_months).state == "due"
    _measured(trial, pid, "scan_6_months", item, 5.9, six_months)
    view = _primary(trial, pid, six_months)
    assert (view.measure_id, view.derivation, view.state) == (
        "thickness_6m_change",
        "change_from_baseline",
        "derived",
    )
    assert view.result == pytest.approx(1.8)
    assert queries(trial) == []


def test_nct05495711_the_high_dose_group_to_thickness_at_3_months(engine: Engine) -> None:
    """Two dose groups share one injection: her arm's fixed dose (2 × 10⁷) is hers; the
    lower group's dose is refused for her as out of tolerance."""
    trial = _set_up_trial(engine, load_protocol("nct05495711"))
    screened_on = dt.date(2020, 6, 1)
    items = {
        "screening_date": screened_on,
        "sex": "F",
        "age_years": 30,
        "infertility": "primary",
        "good_frozen_embryos": 4,
        "prior_adhesiolyses": 2,
        "cavity_restored": True,
        "max_endometrial_thickness_mm": 6.2,
        "high_dose_estrogen_days": 12,
        "adjuvants_tried": True,
        "luteal_max_thickness_mm": 5.1,
        "bmi_kg_m2": 22.4,
        "covid19_nat": "negative",
        "uncured_std": False,
        "last_other_trial_date": None,
    }
    pid = _eligible_participant(trial, screened_on, items, "high_dose")
    cycle_day_1 = screened_on + _days(20)
    _start(trial, pid, "treatment", cycle_day_1)
    checks = {"pregnancy_test": "negative", "cell_product_release": "checked"}
    injected = cycle_day_1 + _days(4)
    with refused("procedure.blocked"):
        _given(trial, pid, injected, 10_000_000, checks)
    _dosed(_given(trial, pid, injected, 20_000_000, checks), 2e7, 1.0)
    item = "endometrial_thickness_mm"
    _measured(trial, pid, "baseline_ultrasound", item, 5.8, cycle_day_1 - _days(16))
    three_months = injected + _days(91)
    _measured(trial, pid, "follow_up_3_months", item, 7.3, three_months)
    view = _primary(trial, pid, three_months)
    assert (view.measure_id, view.state) == ("thickness_3m_change", "derived")
    assert view.result == pytest.approx(1.5)
    assert queries(trial) == []


def test_nct03386708_two_injections_to_the_safety_panel_at_6_months(engine: Engine) -> None:
    """Single group, self-control: one injection in each of two cycles, then the safety
    panel at 6 months after the second, a threshold measure (normal: true)."""
    trial = _set_up_trial(engine, load_protocol("nct03386708"))
    screened_on = dt.date(2018, 2, 1)
    items = {
        "screening_date": screened_on,
        "sex": "F",
        "age_years": 29,
        "weight_kg": 55.0,
        "height_cm": 160.0,
        "poor_healing_uterine_injury": True,
        "uterine_injury": "cesarean_scar_diverticulum",
        "smoker": False,
        "last_stem_cell_treatment_date": None,
        "pregnant": False,
        "breastfeeding": False,
        "serious_medical_history": False,
        "hiv_ab": "negative",
        "syphilis": "negative",
    }
    pid = _eligible_participant(trial, screened_on, items, "huc_msc")
    first = screened_on + _days(10)
    _start(trial, pid, "injection_1", first)
    checks = {"pregnancy_test": "negative", "cell_product_release": "checked"}
    _dosed(_given(trial, pid, first + _days(4), 10_000_000, checks), 1e7, 1.0)
    second = first + _days(28)
    _start(trial, pid, "injection_2", second)
    _dosed(_given(trial, pid, second + _days(4), 10_000_000, checks), 1e7, 1.0)
    six_months = second + _days(186)
    _measured(trial, pid, "follow_up_6_months", "safety_labs_normal", True, six_months)
    view = _primary(trial, pid, six_months)
    assert (view.measure_id, view.derivation, view.threshold) == (
        "safety_panel_6m",
        "meets_threshold",
        "== true",
    )
    assert (view.result, view.state) == (True, "derived")
    assert queries(trial) == []


def test_nct03181087_withdrawn_it_screens_and_consents_but_enrols_no_one(
    engine: Engine,
) -> None:
    """NCT03181087 was withdrawn before enrolling anyone (enrollment_target 0). Running it
    means what the registry says happened: candidates are screened and may consent, and every
    enrolment is refused, the target (0) being reached. Its file still loads, screens, builds
    its schedule and doses (tests/protocol/test_bundled_related.py); the next test runs the
    rest of its protocol as if one place had been open."""
    trial = _set_up_trial(engine, load_protocol("nct03181087"))
    screened_on = dt.date(2021, 12, 13)
    record = screen(
        trial.study,
        trial.actor(COORDINATOR),
        CandidateInput(candidate_ref="F-001", items=_cesarean(screened_on), site_id=1),
    )
    assert record.decision == "eligible"
    consent = ConsentInput(
        screening_id=record.screening_id,
        form_version="v1",
        consent_date=screened_on,
        taken_by=COORDINATOR,
    )
    record_consent(trial.study, trial.actor(COORDINATOR), consent)
    enrolment = EnrolmentInput(screening_id=record.screening_id, enrolled_on=screened_on)
    with refused("enrolment.target_reached") as caught:
        enrol(trial.study, trial.actor(COORDINATOR), enrolment)
    assert caught.value.params["target"] == 0


def test_nct03181087_as_if_one_place_were_open_to_the_niche_free_safety_at_6_months(
    engine: Engine,
) -> None:
    """The same protocol with a target of 1 in place of 0 (the only change): the injection
    of 1 × 10⁷ cells on the day of the cesarean delivery, then her laboratory tests at 6
    months (the primary safety measure) and a niche at 6 months (a secondary threshold)."""
    withdrawn = load_protocol("nct03181087")
    identity = withdrawn.identity.model_copy(update={"enrollment_target": 1})
    trial = _set_up_trial(engine, withdrawn.model_copy(update={"identity": identity}))
    screened_on = dt.date(2021, 12, 13)
    pid = _eligible_participant(trial, screened_on, _cesarean(screened_on), "uc_msc")
    delivered = screened_on + _days(9)
    _start(trial, pid, "delivery", delivered)
    record = _given(trial, pid, delivered, 10_000_000, {"cell_product_release": "checked"})
    _dosed(record, 1e7, 1.0)
    six_months = delivered + _days(182)
    _measured(trial, pid, "follow_up_6_months", "safety_labs_normal", True, six_months)
    _measured(trial, pid, "follow_up_6_months", "uterine_niche_present", False, six_months)
    view = _primary(trial, pid, six_months)
    assert (view.measure_id, view.result, view.state) == ("safety_labs_6m", True, "derived")
    views = outcome_measures(trial.study, trial.actor(COORDINATOR), pid, on=six_months)
    (niche,) = [v for v in views if v.measure_id == "niche_6m"]
    assert (niche.result, niche.state) == (False, "derived")
    assert queries(trial) == []


def _cesarean(screened_on: dt.date) -> dict[str, Any]:
    return {
        "screening_date": screened_on,
        "sex": "F",
        "age_years": 27,
        "primiparous": True,
        "cesarean_delivery_planned": True,
        "gestational_age_weeks": 38.4,
        "fibroids": False,
        "placenta_previa_or_abruption": False,
        "multiple_gestation": False,
        "antepartum_haemorrhage": False,
        "preeclampsia_or_eclampsia": False,
        "hepatic_or_renal_dysfunction": False,
        "uncontrolled_systemic_disease": False,
    }


def test_nct02065167_a_man_to_no_collapse_at_12_months(engine: Engine) -> None:
    """Sex ALL: a man is screened, enrolled and treated like a woman; his pregnancy test is
    coded not applicable. 1.4 × 10⁸ autologous cells through the core-decompression track
    three weeks after the harvest, then no collapse at 12 months (threshold: collapse false)."""
    trial = _set_up_trial(engine, load_protocol("nct02065167"))
    screened_on = dt.date(2014, 3, 3)
    items = {
        "screening_date": screened_on,
        "sex": "M",
        "age_years": 44,
        "avn_femoral_head_mri": True,
        "ficat_arlet_stage": "II",
        "steinberg_stage": "IIB",
        "symptom_duration_months": 4.0,
        "pregnant": False,
        "breastfeeding": False,
        "inadequate_contraception": False,
        "last_other_trial_date": None,
        "femoral_head_collapse": False,
        "septic_arthritis": False,
        "stress_fracture": False,
        "metabolic_bone_disease": False,
        "bisphosphonates": False,
    }
    pid = _eligible_participant(trial, screened_on, items, "bm_msc")
    harvest = screened_on + _days(7)
    _start(trial, pid, "expansion", harvest)
    checks = {"pregnancy_test": "not_applicable", "cell_product_release": "checked"}
    injected = harvest + _days(21)
    _dosed(_given(trial, pid, injected, 140_000_000, checks), 1.4e8, 7.0)
    one_year = injected + _days(365)
    _measured(trial, pid, "follow_up_12_months", "femoral_head_collapse", False, one_year)
    view = _primary(trial, pid, one_year)
    assert (view.measure_id, view.threshold) == ("no_collapse_12m", "== false")
    assert (view.result, view.state) == (True, "derived")
    assert queries(trial) == []
