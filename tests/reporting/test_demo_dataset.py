"""The analysis dataset of the demo trial (its synthetic database, built once)."""

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from endotrial.analysis.dataset import validate_frames
from endotrial.reporting.dataset_build import AnalysisDataset
from endotrial.store.models import (
    AdverseEvent,
    Participant,
    Screening,
    TransferredEmbryo,
    Withdrawal,
)


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_demo_dataset_holds_every_row_of_the_store(
    demo_dataset: AnalysisDataset, demo_engine: Engine
) -> None:
    counts = demo_dataset.row_counts()
    assert counts["participants"] == _count(demo_engine, Participant) == 60
    assert counts["adverse_events"] == _count(demo_engine, AdverseEvent)
    assert counts["embryos"] == _count(demo_engine, TransferredEmbryo)
    assert counts["screenings"] == 150 <= _count(demo_engine, Screening)
    validate_frames(demo_dataset.frames())


def test_the_demo_sets_and_arms(demo_dataset: AnalysisDataset, demo_engine: Engine) -> None:
    participants = demo_dataset.participants
    assert participants["arm"].value_counts().to_dict() == {"control": 30, "hbmsc": 30}
    assert participants["in_full_analysis_set"].all()
    per_protocol = participants["in_per_protocol_set"]
    assert 0 < per_protocol.sum() < 60
    # Per protocol means: her arm's treatment, a transfer and no major deviation.
    assert not (per_protocol & ~participants["transfer_done"]).any()
    assert not (per_protocol & participants["major_deviation"]).any()
    withdrawn = participants[participants["withdrawn"]]
    assert len(withdrawn) == _count(demo_engine, Withdrawal) > 0
    assert withdrawn["withdrawal_reason"].notna().all()


def test_every_measurement_has_a_cycle_and_most_a_scheduled_event(
    demo_dataset: AnalysisDataset,
) -> None:
    scans = demo_dataset.measurements.query("measurement == 'thickness_mm'")
    assert scans["cycle"].notna().all()
    scheduled = scans["scheduled_event"].value_counts()
    assert set(scheduled.index) == {
        "baseline_ultrasound",
        "late_proliferative_ultrasound",
        "transfer_ultrasound",
    }
    assert scheduled.sum() >= 0.8 * len(scans)
