"""Issue 10: the data-entry forms generated from the protocol's events and items, on her page
(/participants/{id}/record/{event}), the procedure page with its dry run, the deviation and
withdrawal forms: recorded through the services, refused with the message beside the field
it names and everything typed kept, closed to the anonymous, to the wrong role and to another
site."""

import datetime as dt
import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from measure_helpers import AT_6M, BASELINE, before_after_participant, before_after_protocol
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    MONITOR,
    RADIOLOGIST,
    RELEASED,
    STATISTICIAN,
    TRANSFER_CYCLE_START,
    TREATMENT_START,
    Trial,
    allocated,
    audit_rows,
    set_up_trial,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from web_helpers import WebTrial, client_of, csrf_of, signed_in

from endotrial.protocol import load_protocol
from endotrial.services import medication, participant_records, participant_timeline
from endotrial.store import Procedure
from endotrial.web.data_entry import procedure_form

INJECTION = "<script>alert('x')</script>'; DROP TABLE participants;--"
DAY_10 = TREATMENT_START + dt.timedelta(days=9)


@dataclass
class Site:
    client: TestClient
    web_trial: WebTrial
    cells: int
    """A participant of the stem-cell arm, allocated, her treatment cycle started."""

    @property
    def home(self) -> int:
        return self.web_trial.home_participant

    def post(self, path: str, data: dict[str, str], **kwargs: object) -> object:
        token = csrf_of(self.client.get("/dashboard").text)
        return self.client.post(path, data={**data, "csrf_token": token}, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def site(web_trial: WebTrial) -> Site:
    cells = allocated(web_trial.trial, "SC-CELLS", "hbmsc")
    client = signed_in(client_of(web_trial.trial.study), COORDINATOR)
    return Site(client, web_trial, cells)


def _records(site: Site, participant_id: int, entity: str) -> list[dict[str, str | None]]:
    trial = site.web_trial.trial
    rows = participant_records(trial.study, trial.actor(COORDINATOR), participant_id)
    return [{f.name: f.value for f in r.fields} for r in rows if r.entity == entity]


def _field_block(html: str, name: str) -> str:
    """The HTML of one field of a form (its input, its hint, its refusal)."""
    start = html.index(f'id="field-{name.replace(".", "-")}"')
    end = html.find('<div class="field', start)
    return html[start : end if end > 0 else len(html)]


def _state(site: Site, participant_id: int, event_id: str) -> str:
    trial = site.web_trial.trial
    timeline = participant_timeline(trial.study, trial.actor(COORDINATOR), participant_id)
    return next(e.state.value for e in timeline.events if e.event_id == event_id)


def test_her_timeline_links_each_event_to_its_form_with_units_ranges_and_window(
    site: Site,
) -> None:
    page = site.client.get(f"/participants/{site.home}").text
    assert f'href="/participants/{site.home}/record/baseline_ultrasound"' in page
    assert f'href="/participants/{site.home}/deviation"' in page
    form = site.client.get(f"/participants/{site.home}/record/baseline_ultrasound")
    assert form.status_code == 200
    html = form.text
    assert 'name="scan_date"' in html and 'value="2025-10-14"' in html  # cycle day 9
    assert 'id="event-window"' in html and "Oct 13, 2025" in html  # a day before allowed
    thickness = _field_block(html, "thickness_mm")
    assert "(mm)" in thickness and "allowed 0–100" in thickness and "plausible 0–30" in thickness
    medication_form = site.client.get(
        f"/participants/{site.home}/record/tx_dydrogesterone_start"
    ).text
    regimen = _field_block(medication_form, "regimen_id")
    assert "Dydrogesterone 10 mg bid (treatment cycle days 19-28)" in regimen
    assert 'value="2025-10-24"' in medication_form  # day 19, its first day


def test_the_cycle_medication_scan_visit_transfer_and_outcome_are_recorded(site: Site) -> None:
    home, cells = site.home, site.cells
    taken = site.post(
        f"/participants/{home}/record/tx_estradiol_valerate_start",
        {"regimen_id": "tx_estradiol_valerate", "first_day": "2025-10-06",
         "last_day": "2025-10-15", "doses_taken": "20"},
        follow_redirects=False,
    )  # fmt: skip
    assert taken.status_code == 303, taken.text  # type: ignore[attr-defined]
    trial = site.web_trial.trial
    (period,) = medication(trial.study, trial.actor(COORDINATOR), home)
    assert (period.first_day, period.doses_taken, period.doses_planned) == (
        TREATMENT_START, 20, 20,
    )  # fmt: skip
    scanned = site.post(
        f"/participants/{home}/record/baseline_ultrasound",
        {"scan_date": "2025-10-14", "thickness_mm": "6.5", "trilaminar": "yes"},
        follow_redirects=False,
    )
    assert scanned.status_code == 303  # type: ignore[attr-defined]
    (scan,) = _records(site, home, "ultrasounds")
    assert (scan["thickness_mm"], scan["trilaminar"], scan["event_id"]) == (
        "6.5", "yes", "baseline_ultrasound",
    )  # fmt: skip
    assert _state(site, home, "baseline_ultrasound") == "done"
    visited = site.post(
        f"/participants/{cells}/record/post_procedure_visit",
        {"visit_date": "2025-10-22", "attended": "on", "notes": "puncture site clean"},
        follow_redirects=False,
    )
    assert visited.status_code == 303  # type: ignore[attr-defined]
    assert _records(site, cells, "visits")[0]["notes"] == "puncture site clean"

    started = site.post(
        f"/participants/{home}/record/transfer_cycle_start",
        {"start_date": TRANSFER_CYCLE_START.isoformat()}, follow_redirects=False,
    )  # fmt: skip
    assert started.status_code == 303  # type: ignore[attr-defined]
    transfer_day = TRANSFER_CYCLE_START + dt.timedelta(days=18)
    moved = site.post(
        f"/participants/{home}/record/embryo_transfer",
        {"transfer_date": transfer_day.isoformat(), "embryo_grades": "4AB", "embryo_day": "5"},
        follow_redirects=False,
    )
    assert moved.status_code == 303, moved.text  # type: ignore[attr-defined]
    hcg_day = transfer_day + dt.timedelta(days=12)
    tested = site.post(
        f"/participants/{home}/record/beta_hcg",
        {"beta_hcg_miu_ml": "350", "beta_hcg_date": hcg_day.isoformat()},
        follow_redirects=False,
    )
    assert tested.status_code == 303, tested.text  # type: ignore[attr-defined]
    scan_form = site.client.get(f"/participants/{home}/record/clinical_pregnancy_ultrasound")
    assert 'value="350.0"' in scan_form.text and 'name="reason"' in scan_form.text  # kept
    sac_day = transfer_day + dt.timedelta(days=30)
    seen = site.post(
        f"/participants/{home}/record/clinical_pregnancy_ultrasound",
        {"beta_hcg_miu_ml": "350.0", "beta_hcg_date": hcg_day.isoformat(),
         "ultrasound_date": sac_day.isoformat(), "gestational_sacs": "1",
         "reason": "the 7-week scan shows one sac"},
        follow_redirects=False,
    )  # fmt: skip
    assert seen.status_code == 303, seen.text  # type: ignore[attr-defined]
    page = site.client.get(f"/participants/{home}").text
    assert '<strong class="outcome">clinical pregnancy</strong>' in page
    assert _state(site, home, "clinical_pregnancy_ultrasound") == "done"


def test_her_first_cycle_is_started_from_her_page(site: Site) -> None:
    trial = site.web_trial.trial
    waiting = allocated(trial, "SC-WAIT", "control", start_treatment=False)
    page = site.client.get(f"/participants/{waiting}").text
    assert f'href="/participants/{waiting}/start-cycle"' in page
    form = site.client.get(f"/participants/{waiting}/start-cycle")
    assert form.url.path == f"/participants/{waiting}/record/treatment_cycle_start"
    started = site.post(
        form.url.path, {"start_date": TREATMENT_START.isoformat()}, follow_redirects=False
    )
    assert started.status_code == 303  # type: ignore[attr-defined]
    assert _state(site, waiting, "treatment_cycle_start") == "done"


def test_a_deviation_and_a_withdrawal_are_recorded(site: Site) -> None:
    home = site.home
    deviated = site.post(
        f"/participants/{home}/deviation",
        {"occurred_on": "2025-10-16", "category": "visit window", "description": "late scan",
         "major": ""},
        follow_redirects=False,
    )  # fmt: skip
    assert deviated.status_code == 303  # type: ignore[attr-defined]
    (row,) = _records(site, home, "protocol_deviations")
    assert (row["category"], row["major"]) == ("visit window", "no")
    left = site.post(
        f"/participants/{home}/withdrawal",
        {"withdrawn_on": "2025-10-20", "initiated_by": "participant", "reason": "moved away",
         "data_use_allowed": "on"},
        follow_redirects=False,
    )  # fmt: skip
    assert left.status_code == 303  # type: ignore[attr-defined]
    (withdrawal,) = _records(site, home, "withdrawals")
    assert (withdrawal["initiated_by"], withdrawal["data_use_allowed"]) == ("participant", "yes")


REFUSALS = [
    ("record/baseline_ultrasound", {"scan_date": "2025-10-14", "thickness_mm": "6,5"},
     "thickness_mm", 422),
    ("record/tx_estradiol_valerate_start",
     {"regimen_id": "tx_estradiol_valerate", "first_day": "2025-10-06", "last_day": "2025-10-07",
      "doses_taken": "9"}, "doses_taken", 409),
    ("record/transfer_cycle_start", {"start_date": "soon"}, "start_date", 422),
    ("deviation", {"occurred_on": "2025-10-16", "category": "dosing", "description": "  "},
     "description", 422),
    ("withdrawal", {"withdrawn_on": "2025-10-20", "initiated_by": "nobody",
                    "reason": "moved away"}, "initiated_by", 422),
    ("record/embryo_transfer", {"transfer_date": "2025-11-24", "embryo_grades": "4AB",
                                "embryo_day": "5", "cancel_reason": "thin endometrium"},
     "embryo_grades", 409),
    ("record/pregnancy_28_weeks", {"visit_date": "tomorrow", "notes": "phoned her"},
     "visit_date", 422),
]  # fmt: skip


@pytest.mark.parametrize(("path", "typed", "field", "status"), REFUSALS)
def test_a_refused_form_names_the_field_and_keeps_what_was_typed(
    site: Site, path: str, typed: dict[str, str], field: str, status: int
) -> None:
    before = audit_rows(site.web_trial.trial.engine)
    refused = site.post(f"/participants/{site.home}/{path}", typed)
    assert refused.status_code == status, refused.text  # type: ignore[attr-defined]
    html = refused.text  # type: ignore[attr-defined]
    block = _field_block(html, field)
    assert 'role="alert"' in block and 'aria-invalid="true"' in block, block
    for name, value in typed.items():
        if value.strip() and name != "initiated_by":
            assert value in _field_block(html, name)  # nothing typed is lost
    assert audit_rows(site.web_trial.trial.engine) == before


def test_an_outcome_before_any_transfer_is_refused_with_what_was_typed(site: Site) -> None:
    path = f"/participants/{site.home}/record/beta_hcg"
    assert "Record her embryo transfer first." in site.client.get(path).text
    refused = site.post(path, {"beta_hcg_miu_ml": "412", "beta_hcg_date": "2025-12-06"})
    html = refused.text  # type: ignore[attr-defined]
    assert refused.status_code == 422 and 'id="form-error"' in html  # type: ignore[attr-defined]
    assert "transfer_id" in html and 'value="412"' in html and 'value="2025-12-06"' in html


def test_a_refusal_is_shown_in_the_readers_language(site: Site) -> None:
    token = csrf_of(site.client.get("/dashboard").text)
    site.client.post("/language", data={"language": "zh_Hans", "csrf_token": token})
    refused = site.post(
        f"/participants/{site.home}/record/baseline_ultrasound",
        {"scan_date": "2099-01-01", "thickness_mm": "6.5"},
    )
    block = _field_block(refused.text, "scan_date")  # type: ignore[attr-defined]
    assert 'role="alert"' in block and re.search(r"[\u4e00-\u9fff]", block), block


def test_the_anonymous_are_sent_to_sign_in_and_write_nothing(web_trial: WebTrial) -> None:
    client = client_of(web_trial.trial.study)
    home = web_trial.home_participant
    before = audit_rows(web_trial.trial.engine)
    for path in ("record/baseline_ultrasound", "deviation", "procedure/hbmsc_infusion"):
        answer = client.get(f"/participants/{home}/{path}", follow_redirects=False)
        assert answer.status_code == 303 and "/sign-in" in answer.headers["location"]
    token = csrf_of(client.get("/sign-in").text)  # a session with a form token, not signed in
    posted = client.post(
        f"/participants/{home}/deviation",
        data={"occurred_on": "2025-10-16", "category": "dosing", "description": "x",
              "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert posted.status_code == 303 and "/sign-in" in posted.headers["location"]
    assert audit_rows(web_trial.trial.engine) == before


def test_a_role_that_may_not_record_is_refused(site: Site) -> None:
    trial = site.web_trial.trial
    monitor = signed_in(client_of(trial.study), MONITOR)
    path = f"/participants/{site.home}/record/baseline_ultrasound"
    form = monitor.get(path).text
    assert "Your role cannot record this." in form and "disabled" in form
    before = audit_rows(trial.engine)
    refused = monitor.post(
        path, data={"scan_date": "2025-10-14", "thickness_mm": "6.5",
                    "csrf_token": csrf_of(form)},
    )  # fmt: skip
    assert refused.status_code == 403 and 'value="6.5"' in refused.text
    statistician = signed_in(client_of(trial.study), STATISTICIAN)
    assert statistician.get(path).status_code == 403  # reads no participant's page
    assert audit_rows(trial.engine) == before


def test_another_sites_participant_is_not_found(site: Site) -> None:
    other = site.web_trial.other_participant
    before = audit_rows(site.web_trial.trial.engine)
    for path in ("record/baseline_ultrasound", "deviation", "procedure/hbmsc_infusion"):
        assert site.client.get(f"/participants/{other}/{path}").status_code == 404
    posted = site.post(
        f"/participants/{other}/record/baseline_ultrasound",
        {"scan_date": "2025-10-14", "thickness_mm": "6.5"},
    )
    assert posted.status_code == 404  # type: ignore[attr-defined]
    assert audit_rows(site.web_trial.trial.engine) == before


def test_an_unknown_event_is_not_found(site: Site) -> None:
    assert site.client.get(f"/participants/{site.home}/record/no_such_event").status_code == 404
    # the control arm has no procedure
    assert site.client.get(f"/participants/{site.home}/procedure/hbmsc_infusion").status_code == 404


def test_injection_is_stored_verbatim_and_shown_escaped(site: Site) -> None:
    home = site.home
    refused = site.post(
        f"/participants/{home}/deviation",
        {"occurred_on": "2099-01-01", "category": INJECTION, "description": INJECTION},
    )
    assert refused.status_code == 409  # type: ignore[attr-defined]
    assert "<script>alert('x')" not in refused.text  # type: ignore[attr-defined]
    assert "&lt;script&gt;" in refused.text  # type: ignore[attr-defined]
    site.post(
        f"/participants/{home}/deviation",
        {"occurred_on": "2025-10-16", "category": "other", "description": INJECTION},
    )
    (row,) = _records(site, home, "protocol_deviations")
    assert row["description"] == INJECTION
    page = site.client.get(f"/participants/{home}").text
    assert "<script>alert('x')" not in page and "&lt;script&gt;alert(" in page


def _infusion_form(**changes: str) -> dict[str, str]:
    form = {
        "procedure_date": DAY_10.isoformat(), "weight_kg": "58", "viability_pct": "92",
        "dose_given_cells": "58000000", "cell_lot": "LOT-7",
        "pre_checks.iodine_allergy_test": "negative", "pre_checks.groin_preparation": "done",
        "pre_checks.cell_product_release": "checked", "checklist.step_1": "on",
        **{f"release_results.{k}": str(v) for k, v in RELEASED.items()},
    }  # fmt: skip
    form.update(changes)
    return form


def _procedures(site: Site) -> int:
    with Session(site.web_trial.trial.engine) as session:
        return int(session.scalar(select(func.count()).select_from(Procedure)) or 0)


@pytest.fixture
def radiologist(site: Site) -> Site:
    client = signed_in(client_of(site.web_trial.trial.study), RADIOLOGIST)
    return Site(client, site.web_trial, site.cells)


def test_the_procedure_page_shows_checklist_pre_checks_dose_rule_and_release_criteria(
    radiologist: Site,
) -> None:
    html = radiologist.client.get(f"/participants/{radiologist.cells}/procedure/hbmsc_infusion")
    assert html.status_code == 200
    text = html.text
    assert "Seldinger" in text and 'name="checklist.step_4"' in text
    iodine = _field_block(text, "pre_checks.iodine_allergy_test")
    assert '<option value="positive"' in iodine and "override: never" in iodine
    assert "1,000,000 cells per kg" in text and "cap 90,000,000 cells" in text
    viability = _field_block(text, "viability_pct")
    assert "release limit ≥ 80 %" in viability and "override down to 70" in viability
    assert "no override" in _field_block(text, "release_results.sterility")
    timeline = radiologist.client.get(f"/participants/{radiologist.cells}").text
    assert f'href="/participants/{radiologist.cells}/record/hbmsc_infusion"' in timeline
    followed = radiologist.client.get(
        f"/participants/{radiologist.cells}/record/iodine_allergy_test", follow_redirects=False
    )
    assert (
        followed.headers["location"]
        == f"/participants/{radiologist.cells}/procedure/hbmsc_infusion"
    )


@pytest.mark.parametrize(
    ("changes", "says", "override"),
    [
        ({}, "It would be accepted as entered.", None),
        ({"viability_pct": "75"}, "release check viability_pct fail",
         "An investigator may go ahead over these"),
        ({"release_results.sterility": "positive"}, "release check sterility fail",
         "The protocol allows no override"),
        ({"pre_checks.iodine_allergy_test": "positive"}, "Iodine (contrast) allergy test",
         "The protocol allows no override"),
    ],
)  # fmt: skip
def test_the_check_shows_the_dose_and_what_needs_an_override_and_saves_nothing(
    radiologist: Site, changes: dict[str, str], says: str, override: str | None
) -> None:
    engine = radiologist.web_trial.trial.engine
    before = (audit_rows(engine), _procedures(radiologist))
    checked = radiologist.post(
        f"/participants/{radiologist.cells}/procedure/hbmsc_infusion",
        {**_infusion_form(**changes), "action": "check"},
    )
    assert checked.status_code == 200, checked.text  # type: ignore[attr-defined]
    html = checked.text  # type: ignore[attr-defined]
    assert 'id="check"' in html and says in html
    assert "<strong>58,000,000</strong> viable cells (58 kg × 1,000,000)" in html
    if override:
        assert override in html
    assert 'value="LOT-7"' in html  # what was typed stays
    assert (audit_rows(engine), _procedures(radiologist)) == before


def test_the_procedure_is_recorded_and_an_override_needs_the_investigator(
    radiologist: Site,
) -> None:
    cells = radiologist.cells
    path = f"/participants/{cells}/procedure/hbmsc_infusion"
    reason = "only lot available; PI accepts 75% viability"
    low = _infusion_form(viability_pct="75", override_reason=reason)
    refused = radiologist.post(path, {**low, "action": "record"})
    assert refused.status_code == 403 and "investigator" in refused.text  # type: ignore[attr-defined]
    assert _procedures(radiologist) == 0
    pi = signed_in(client_of(radiologist.web_trial.trial.study), INVESTIGATOR)
    token = csrf_of(pi.get(path).text)
    done = pi.post(path, data={**low, "action": "record", "csrf_token": token},
                   follow_redirects=False)  # fmt: skip
    assert done.status_code == 303, done.text
    (row,) = _records(radiologist, cells, "procedures")
    assert row["override_reason"] == "only lot available; PI accepts 75% viability"
    assert (
        row["dose_cells"] == "58000000" and _state(radiologist, cells, "hbmsc_infusion") == "done"
    )


def test_a_refused_procedure_names_the_pre_check_and_keeps_the_form(radiologist: Site) -> None:
    form = _infusion_form(**{"pre_checks.groin_preparation": "", "action": "record"})
    refused = radiologist.post(f"/participants/{radiologist.cells}/procedure/hbmsc_infusion", form)
    html = refused.text  # type: ignore[attr-defined]
    assert refused.status_code == 409  # type: ignore[attr-defined]
    assert 'role="alert"' in _field_block(html, "pre_checks.groin_preparation")
    assert 'value="58000000"' in html and 'value="LOT-7"' in html
    assert _procedures(radiologist) == 0


def test_a_vehicle_arm_gets_no_cells_fields_and_a_fixed_dose_no_weight_needed() -> None:
    from pathlib import Path

    protocol = load_protocol(
        Path(__file__).parents[1] / "fixtures" / "protocols" / "fixed_dose_groups.yaml"
    )
    spec = protocol.procedure("injection")
    vehicle = procedure_form(protocol, "vehicle", spec, "en")
    names = {f.name for f in vehicle.fields}
    assert vehicle.rule is None and not vehicle.release
    assert not names & {"viability_pct", "dose_given_cells", "cell_lot"}
    fixed = procedure_form(protocol, "low", spec, "en")
    weight = next(f for f in fixed.fields if f.name == "weight_kg")
    assert fixed.rule is not None and fixed.rule.kind == "fixed" and not weight.required
    # the viability is the procedure's own field (checked against its release limit)
    assert {f.name for f in fixed.release} == {"release_results.sterility"}


@pytest.fixture
def before_after(engine: Engine) -> tuple[TestClient, int, Trial]:
    """A participant of a trial whose outcome measures ask for values at her events."""
    trial = set_up_trial(engine, before_after_protocol())
    participant_id = before_after_participant(trial, "M-1")
    return signed_in(client_of(trial.study), RADIOLOGIST), participant_id, trial


def test_the_measurements_an_event_asks_for_are_recorded_typed_by_their_item(
    before_after: tuple[TestClient, int, Trial],
) -> None:
    client, pid, trial = before_after
    page = client.get(f"/participants/{pid}").text
    path = f"/participants/{pid}/measure/baseline_scan/thickness_mm"
    assert f'href="{path}"' in page
    form = client.get(path).text
    value = _field_block(form, "value")
    assert "Endometrial thickness" in value and "(mm)" in value and "Thickness at baseline" in value
    assert "allowed 0–30" in value and f'value="{BASELINE.isoformat()}"' in form
    token = csrf_of(form)
    before = audit_rows(trial.engine)
    refused = client.post(path, data={"value": "45", "measured_date": str(BASELINE),
                                      "csrf_token": token})  # fmt: skip
    assert refused.status_code == 422 and 'value="45"' in refused.text
    assert 'role="alert"' in _field_block(refused.text, "value")
    assert audit_rows(trial.engine) == before
    done = client.post(
        path, data={"value": "4.2", "measured_date": str(BASELINE), "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303, done.text
    grade = client.get(f"/participants/{pid}/measure/follow_up_6m/adhesion_grade").text
    assert '<option value="mild"' in _field_block(grade, "value")
    niche = f"/participants/{pid}/measure/follow_up_6m/niche_present"
    assert 'value="yes"' in _field_block(client.get(niche).text, "value")
    saved = client.post(niche, data={"value": "yes", "measured_date": str(AT_6M),
                                     "csrf_token": token}, follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303, saved.text
    rows = _measurements(trial, pid)
    assert rows == {
        ("baseline_scan", "thickness_mm"): "4.2",
        ("follow_up_6m", "niche_present"): "yes",
    }
    page = client.get(f"/participants/{pid}").text
    assert f'href="{path}"' not in page and "thickness_mm = 4.2" in page
    assert client.get(f"/participants/{pid}/measure/baseline_scan/pain_vas").status_code == 404


def _measurements(trial: Trial, pid: int) -> dict[tuple[str, str], str | None]:
    rows = participant_records(trial.study, trial.actor(COORDINATOR), pid)
    found = {}
    for r in rows:
        if r.entity == "measurements":
            fields = {f.name: f.value for f in r.fields}
            value = (
                fields.get("value_number")
                or fields.get("value_boolean")
                or fields.get("value_text")
            )
            found[(str(fields["event_id"]), str(fields["item"]))] = value
    return found


def test_a_repeated_procedures_events_lead_to_its_page() -> None:
    """A procedure the protocol repeats names its repeat's events `<id>@<cycle>`."""
    from pathlib import Path

    from endotrial.web.data_entry import _procedure_of

    protocol = load_protocol(
        Path(__file__).parents[1] / "fixtures" / "protocols" / "two_cycle_placement.yaml"
    )
    for event_id in ("scaffold_placement", "scaffold_placement@placement_2",
                     "pregnancy_test@placement_2"):  # fmt: skip
        assert _procedure_of(protocol, "scaffold", event_id).id == "scaffold_placement"
