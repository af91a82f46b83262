"""The services read settings declared by the format and find events by role (issue 9,
finding 4): a protocol without a setting an engine once read by name no longer crashes, and a
protocol whose events have other ids than the seed's still gets its outcome windows."""

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from services_helpers import (
    COORDINATOR,
    EMBRYOLOGIST,
    INVESTIGATOR,
    TRANSFER_DAY,
    Trial,
    allocated,
    queries,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol, bundled_protocol_files, load_protocol_file
from endotrial.services import (
    AdverseEventInput,
    AllocationInput,
    CandidateInput,
    ConsentInput,
    CycleStartInput,
    EnrolmentInput,
    OutcomeInput,
    TransferInput,
    allocate,
    enrol,
    record_consent,
    record_outcome,
    record_transfer,
    report_adverse_event,
    screen,
    start_cycle,
)
from endotrial.store import AdverseEvent, PregnancyOutcome

DAY = dt.timedelta(days=1)


def _seed_with_other_event_ids(tmp_path: Path) -> Protocol:
    """The seed, its β-hCG test and pregnancy scan renamed (their roles kept)."""
    data: dict[str, Any] = yaml.safe_load(
        bundled_protocol_files()["nct07176143"].read_text(encoding="utf-8")
    )
    renamed = {"beta_hcg": "serum_hcg_day12", "clinical_pregnancy_ultrasound": "sac_scan_7w"}
    for event in data["schedule"]:
        event["id"] = renamed.get(event["id"], event["id"])
    path = tmp_path / "renamed.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return load_protocol_file(path)


def test_outcome_windows_are_found_by_role_not_by_the_seeds_event_ids(
    engine: Engine, tmp_path: Path
) -> None:
    trial = set_up_trial(engine, _seed_with_other_event_ids(tmp_path))
    pid = start_transfer_cycle(trial, allocated(trial, "r1", "control"))
    transfer = TransferInput(participant_id=pid, transfer_date=TRANSFER_DAY, embryo_grades=["4AB"])
    transfer_id = record_transfer(trial.study, trial.actor(EMBRYOLOGIST), transfer)
    facts = OutcomeInput(
        transfer_id=transfer_id,
        beta_hcg_miu_ml=250.0,
        beta_hcg_date=TRANSFER_DAY + 20 * DAY,  # planned day 12, window -3/+2: late
        ultrasound_date=TRANSFER_DAY + 30 * DAY,
        gestational_sacs=1,
    )
    record_outcome(trial.study, trial.actor(COORDINATOR), facts)
    with Session(trial.engine) as session:
        outcome = session.query(PregnancyOutcome).one()
    assert (outcome.beta_hcg_event_id, outcome.ultrasound_event_id) == (
        "serum_hcg_day12",
        "sac_scan_7w",
    )
    late = [q for q in queries(trial) if q.opened_by == "edit_check:visit_window"]
    assert [q.field for q in late] == ["beta_hcg_date"]


def _second_trial_participant(trial: Trial) -> int:
    """A participant of the second protocol (no embryo transfer, no settings) in its cycle."""
    coordinator = trial.actor(COORDINATOR)
    items: dict[str, str | bool | int | float | dt.date | None] = {
        "screening_date": dt.date(2026, 3, 2),
        "age_years": 33,
        "thickness_mm": 5.8,
        "scan_date": dt.date(2026, 2, 20),
        "amh_ng_ml": 2.4,
        "smoker": "never",
        "latex_allergy": False,
    }
    candidate = CandidateInput(candidate_ref="s1", items=items, site_id=trial.site_id)
    record = screen(trial.study, coordinator, candidate)
    consent = ConsentInput(
        screening_id=record.screening_id,
        form_version="v2",
        consent_date=dt.date(2026, 3, 2),
        taken_by=COORDINATOR,
    )
    pid = record_consent(trial.study, coordinator, consent)
    enrolment = EnrolmentInput(screening_id=record.screening_id, enrolled_on=dt.date(2026, 3, 2))
    enrol(trial.study, coordinator, enrolment)
    allocation = AllocationInput(
        participant_id=pid, arm="hrt_only", basis="randomised", allocated_on=dt.date(2026, 3, 2)
    )
    allocate(trial.study, trial.actor(INVESTIGATOR), allocation)
    start = CycleStartInput(participant_id=pid, cycle="main", start_date=dt.date(2026, 3, 9))
    start_cycle(trial.study, coordinator, start)
    return pid


@pytest.mark.parametrize("onset_hour", [None, 9])
def test_a_serious_ae_without_the_report_hours_setting_is_due_in_24_hours(
    engine: Engine, second_protocol: Protocol, onset_hour: int | None
) -> None:
    assert "serious_ae_report_hours" not in second_protocol.settings
    trial = set_up_trial(engine, second_protocol)
    pid = _second_trial_participant(trial)
    onset_day = dt.date(2026, 3, 12)
    onset_at = None if onset_hour is None else dt.datetime(2026, 3, 12, onset_hour, tzinfo=dt.UTC)
    event = AdverseEventInput(
        participant_id=pid,
        term="Pelvic pain",
        ctcae_grade=3,
        serious=True,
        onset_date=onset_day,
        onset_at=onset_at,
    )
    ae_id = report_adverse_event(trial.study, trial.actor(INVESTIGATOR), event)
    with Session(trial.engine) as session:
        due = session.get_one(AdverseEvent, ae_id).expedited_report_due_at
    start = onset_at or dt.datetime(2026, 3, 12, tzinfo=dt.UTC)
    assert due is not None
    assert due.replace(tzinfo=dt.UTC) == start + dt.timedelta(hours=24)


def test_a_transfer_in_a_protocol_without_transfer_rules_is_not_checked_against_a_threshold(
    engine: Engine, second_protocol: Protocol
) -> None:
    """The second protocol has no embryo transfer, hence no thickness threshold: recording a
    transfer (done outside the protocol) does not crash on the missing setting."""
    trial = set_up_trial(engine, second_protocol)
    pid = _second_trial_participant(trial)
    transfer = TransferInput(
        participant_id=pid, transfer_date=dt.date(2026, 3, 30), embryo_grades=["4AB"]
    )
    record_transfer(trial.study, trial.actor(EMBRYOLOGIST), transfer)
    assert not [q for q in queries(trial) if q.opened_by == "edit_check:transfer_threshold"]
