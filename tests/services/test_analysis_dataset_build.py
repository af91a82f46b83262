"""The analysis dataset built from a small trial entered through the services."""

import datetime as dt

import pandas as pd
import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    TRANSFER_DAY,
    TREATMENT_START,
    Trial,
    allocated,
    infusion,
    screened,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine

from endotrial.errors import InputError
from endotrial.protocol import Protocol
from endotrial.reporting.dataset_build import AnalysisDataset, build_dataset, protocol_sha256
from endotrial.services import (
    AdverseEventInput,
    DeviationInput,
    OutcomeInput,
    TransferInput,
    UltrasoundInput,
    WithdrawalInput,
    record_deviation,
    record_outcome,
    record_procedure,
    record_transfer,
    record_ultrasound,
    report_adverse_event,
    withdraw,
)
from endotrial.services.context import protocol_sha256 as services_protocol_sha256
from endotrial.store import Relatedness


def _scan(trial: Trial, pid: int, on: dt.date, thickness_mm: float) -> None:
    scan = UltrasoundInput(participant_id=pid, scan_date=on, thickness_mm=thickness_mm)
    record_ultrasound(trial.study, trial.actor(COORDINATOR), scan)


def _transfer(trial: Trial, pid: int, *grades: str, cancel: str | None = None) -> int:
    transfer = TransferInput(
        participant_id=pid, transfer_date=TRANSFER_DAY, embryo_grades=list(grades),
        cancel_reason=cancel,
    )  # fmt: skip
    return record_transfer(trial.study, trial.actor(COORDINATOR), transfer)


def _small_trial(engine: Engine, protocol: Protocol) -> Trial:
    """Four women: a stem-cell pregnancy from two embryos, a control transfer cancelled, a
    stem-cell woman withdrawn before her infusion, a control woman with a major deviation and
    a negative test; and one candidate screened out."""
    trial = set_up_trial(engine, protocol)
    screened(trial, "out1", hydrosalpinx=True)
    pregnant = allocated(trial, "c1", "hbmsc")
    record_procedure(trial.study, trial.actor(INVESTIGATOR), infusion(pregnant, 58_000_000))
    _scan(trial, pregnant, TREATMENT_START + dt.timedelta(days=8), 5.1)
    start_transfer_cycle(trial, pregnant)
    transfer = _transfer(trial, pregnant, "4AB", "3CC")
    record_outcome(
        trial.study,
        trial.actor(COORDINATOR),
        OutcomeInput(
            transfer_id=transfer,
            beta_hcg_miu_ml=480.0,
            beta_hcg_date=TRANSFER_DAY + dt.timedelta(days=12),
            ultrasound_date=TRANSFER_DAY + dt.timedelta(days=30),
            gestational_sacs=1,
        ),
    )
    report_adverse_event(
        trial.study,
        trial.actor(INVESTIGATOR),
        AdverseEventInput(
            participant_id=pregnant, term="Groin haematoma", ctcae_grade=2, serious=False,
            onset_date=TREATMENT_START + dt.timedelta(days=9),
            related_procedure=Relatedness.PROBABLE,
        ),
    )  # fmt: skip
    cancelled = allocated(trial, "c2", "control")
    start_transfer_cycle(trial, cancelled)
    _transfer(trial, cancelled, cancel="thin endometrium (5.2 mm)")
    gone = allocated(trial, "c3", "hbmsc")
    withdraw(
        trial.study,
        trial.actor(INVESTIGATOR),
        WithdrawalInput(
            participant_id=gone, withdrawn_on=TREATMENT_START + dt.timedelta(days=3),
            initiated_by="participant", reason="moved away",
        ),
    )  # fmt: skip
    deviant = allocated(trial, "c4", "control")
    record_deviation(
        trial.study,
        trial.actor(INVESTIGATOR),
        DeviationInput(
            participant_id=deviant, occurred_on=TREATMENT_START + dt.timedelta(days=2),
            category="wrong dose", description="estradiol 6 mg a day for a week", major=True,
        ),
    )  # fmt: skip
    start_transfer_cycle(trial, deviant)
    negative = _transfer(trial, deviant, "5AA")
    record_outcome(
        trial.study,
        trial.actor(COORDINATOR),
        OutcomeInput(
            transfer_id=negative, beta_hcg_miu_ml=2.0,
            beta_hcg_date=TRANSFER_DAY + dt.timedelta(days=12),
        ),
    )  # fmt: skip
    return trial


def test_the_dataset_of_a_small_trial(engine: Engine, seed_protocol: Protocol) -> None:
    """One trial set up (the costly part), every table checked."""
    _small_trial(engine, seed_protocol)
    dataset = build_dataset(engine, seed_protocol)
    _check_participants(dataset)
    _check_covariates(dataset)
    _check_other_tables(dataset, seed_protocol)
    _check_no_identity(dataset)


def _check_participants(dataset: AnalysisDataset) -> None:
    """One row per participant, sets by the protocol's rules, outcomes derived again."""
    rows = dataset.participants.set_index("participant_id")
    assert list(rows.index) == ["GZ6-001", "GZ6-002", "GZ6-003", "GZ6-004"]
    assert list(rows["arm"]) == ["hbmsc", "control", "hbmsc", "control"]
    # Safety by treatment received: no infusion attempted for the withdrawn stem-cell woman.
    assert list(rows["arm_received"]) == ["hbmsc", "control", "control", "control"]
    assert rows["in_full_analysis_set"].all()
    assert list(rows["in_per_protocol_set"]) == [True, False, False, False]
    assert list(rows["received_intervention"]) == [True, True, False, True]
    assert list(rows["major_deviation"]) == [False, False, False, True]
    assert rows.loc["GZ6-001", "dose_cells"] == 58_000_000
    assert rows.loc["GZ6-001", "baseline_thickness_mm"] == 5.1
    # Outcomes derived again from the facts: a pregnancy, a cancelled transfer (composite:
    # no pregnancy), a withdrawal before transfer (unknown), a negative test.
    assert rows["clinical_pregnancy"].tolist()[:2] == [True, False]
    assert pd.isna(rows.loc["GZ6-003", "clinical_pregnancy"])
    assert not rows.loc["GZ6-004", "clinical_pregnancy"]
    assert list(rows["lost_to_follow_up"]) == [False, False, True, False]
    assert rows.loc["GZ6-003", "withdrawal_reason"] == "moved away"
    assert list(rows["embryos_transferred"].astype("Int64")) == [2, 0, pd.NA, 1]


def _check_covariates(dataset: AnalysisDataset) -> None:
    """Baseline covariates cast by the item types."""
    participants = dataset.participants
    assert str(participants["age_years"].dtype) == "Int64"
    assert str(participants["good_blastocysts"].dtype) == "Int64"
    assert str(participants["hydrosalpinx"].dtype) == "boolean"
    assert str(participants["hiv_ab"].dtype) == "string"
    assert participants["screening_date"].dtype.kind == "M"
    # The BMI the screening did not keep is derived again from weight and height.
    assert participants["bmi_kg_m2"].notna().all()


def _check_other_tables(dataset: AnalysisDataset, protocol: Protocol) -> None:
    embryos = dataset.embryos
    assert embryos["participant_id"].tolist() == ["GZ6-001", "GZ6-001", "GZ6-004"]
    # One sac from two embryos: the first counts as implanted; 3CC is not good quality.
    assert embryos["implanted"].tolist() == [True, False, False]
    assert embryos["good_quality"].tolist() == [True, False, True]
    (event,) = dataset.adverse_events.itertuples()
    assert (event.participant_id, event.arm, event.term) == ("GZ6-001", "hbmsc", "Groin haematoma")
    assert event.related_procedure == "probable"
    measured = dataset.measurements.set_index(["participant_id", "measurement"])
    scan = measured.loc[("GZ6-001", "thickness_mm")]
    assert (scan["scheduled_event"], scan["cycle"], scan["day_from_cycle_start"]) == (
        "baseline_ultrasound",
        "treatment",
        8,
    )
    assert measured.loc[("GZ6-001", "beta_hcg_miu_ml"), "scheduled_event"] == "beta_hcg"
    log = dataset.screenings
    assert log["decision"].tolist() == [
        "ineligible",
        "eligible",
        "eligible",
        "eligible",
        "eligible",
    ]
    assert log["participant_id"].isna().tolist() == [True, False, False, False, False]
    assert "E" in log.loc[0, "failed_criteria"]
    assert dataset.row_counts() == {
        "participants": 4,
        "embryos": 3,
        "adverse_events": 1,
        "measurements": 3,
        "screenings": 5,
    }
    assert dataset.protocol_sha256 == protocol_sha256(protocol)


def _check_no_identity(dataset: AnalysisDataset) -> None:
    columns = {c for frame in (*dataset.frames().values(), dataset.screenings) for c in frame}
    assert not columns & {"birth_date", "candidate_ref", "pseudonym", "name", "person_id"}
    text = pd.concat([*dataset.frames().values(), dataset.screenings]).to_csv()
    for candidate_id in ("out1", "c1", "c2", "c3", "c4"):
        assert f",{candidate_id}," not in text


def test_an_empty_trial_gives_empty_typed_tables(engine: Engine, seed_protocol: Protocol) -> None:
    set_up_trial(engine, seed_protocol)
    dataset = build_dataset(engine, seed_protocol)
    assert all(count == 0 for count in dataset.row_counts().values())
    assert "in_full_analysis_set" in dataset.participants.columns


def test_the_dataset_is_read_with_the_protocol_the_database_runs(
    engine: Engine, seed_protocol: Protocol, second_protocol: Protocol
) -> None:
    set_up_trial(engine, seed_protocol)
    # The hash the report records is the one the services record in the database.
    assert protocol_sha256(seed_protocol) == services_protocol_sha256(seed_protocol)
    with pytest.raises(InputError, match="analyse it with the protocol file it was set up with"):
        build_dataset(engine, second_protocol)
