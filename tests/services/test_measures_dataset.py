"""Outcome measures in the analysis dataset (issue 9, finding 8): one column per measure in
`participants` (the derived value, change or threshold met), the number values in
`measurements`, and their summary by arm with the paired analysis of a change from baseline.
The protocol is the before-after test file shaped like NCT03724617."""

from __future__ import annotations

from typing import Any

import pytest
from measure_helpers import (
    AT_3M,
    AT_6M,
    BASELINE,
    before_after_participant,
    before_after_protocol,
)
from services_helpers import RADIOLOGIST, Trial, set_up_trial
from sqlalchemy import Engine

from endotrial.analysis.measures import summarise_measures, summary_frame
from endotrial.analysis.paired import paired_change
from endotrial.reporting.dataset_build import build_dataset
from endotrial.services import MeasurementInput, record_measurement

#: (baseline, 3 months, 6 months) thickness in mm, a niche at 6 months, adhesions at 6 months.
WOMEN: list[tuple[float, float | None, float | None, bool | None, str | None]] = [
    (4.1, 5.6, 5.9, False, "none"),
    (3.8, 5.2, 6.4, True, "mild"),
    (4.4, 6.1, 5.1, False, "none"),
    (4.0, None, None, None, None),  # lost before 3 months
]


def _measure(trial: Trial, pid: int, event: str, item: str, value: Any, on: Any) -> None:
    given = MeasurementInput(
        participant_id=pid, event_id=event, item=item, value=value, measured_date=on
    )
    record_measurement(trial.study, trial.actor(RADIOLOGIST), given)


@pytest.fixture
def trial(engine: Engine) -> Trial:
    trial = set_up_trial(engine, before_after_protocol())
    for i, (baseline, at_3m, at_6m, niche, grade) in enumerate(WOMEN):
        pid = before_after_participant(trial, f"C-{i}")
        _measure(trial, pid, "baseline_scan", "thickness_mm", baseline, BASELINE)
        if at_3m is not None:
            _measure(trial, pid, "follow_up_3m", "thickness_mm", at_3m, AT_3M)
        if at_6m is not None:
            _measure(trial, pid, "follow_up_6m", "thickness_mm", at_6m, AT_6M)
            _measure(trial, pid, "follow_up_6m", "niche_present", niche, AT_6M)
            _measure(trial, pid, "follow_up_6m", "adhesion_grade", grade, AT_6M)
    return trial


def test_each_measure_is_a_typed_column_of_participants(trial: Trial) -> None:
    dataset = build_dataset(trial.engine, trial.protocol)
    frame = dataset.participants.set_index("participant_id").sort_index()
    change = frame["thickness_change_6m_mm"]
    assert str(change.dtype) == "float64"
    assert change.tolist()[:3] == pytest.approx([1.8, 2.6, 0.7])
    assert change.isna().tolist() == [False, False, False, True]
    assert str(frame["niche_6m"].dtype) == "boolean"
    assert frame["niche_6m"].tolist()[:3] == [False, True, False]
    assert frame["adhesion_free_6m"].tolist()[:3] == [True, False, True]
    assert str(frame["adhesion_grade_6m"].dtype) == "string"
    assert str(frame["pain_3m"].dtype) == "Int64" and frame["pain_3m"].isna().all()
    rows = dataset.measurements
    mine = rows[rows["scheduled_event"] == "follow_up_6m"]
    assert sorted(mine["value"]) == [5.1, 5.9, 6.4]
    assert set(mine["unit"]) == {"mm"}


def test_the_summary_by_arm_has_mean_sd_proportions_counts_and_the_paired_analysis(
    trial: Trial,
) -> None:
    dataset = build_dataset(trial.engine, trial.protocol)
    summaries = {
        s.measure_id: s
        for s in summarise_measures(trial.protocol, dataset.participants, dataset.measurements)
    }
    (change,) = summaries["thickness_change_6m_mm"].arms
    assert (change.n, change.missing) == (3, 1)
    assert change.mean == pytest.approx((1.8 + 2.6 + 0.7) / 3)
    assert change.sd == pytest.approx(0.953939, abs=1e-6)  # sd(c(1.8, 2.6, 0.7)) in R
    expected = paired_change([4.1, 3.8, 4.4], [5.9, 6.4, 5.1])
    assert [r.estimate for r in change.paired] == pytest.approx([r.estimate for r in expected])
    assert change.paired[0].p_value == pytest.approx(expected[0].p_value)
    (niche,) = summaries["niche_6m"].arms
    assert (niche.met, niche.n, niche.missing) == (1, 3, 1)
    assert niche.proportion == pytest.approx(1 / 3)
    # Wilson 95% interval for 1 of 3: prop.test(1, 3, correct = FALSE)$conf.int in R
    assert (niche.low, niche.high) == pytest.approx((0.0614919, 0.7923404), abs=1e-6)
    (grades,) = summaries["adhesion_grade_6m"].arms
    assert grades.counts == (("none", 2), ("mild", 1), ("moderate", 0), ("severe", 0))
    assert summaries["thickness_baseline_mm"].arms[0].mean == pytest.approx(16.3 / 4)
    table = summary_frame(tuple(summaries.values())).set_index("measure")
    assert table.loc["niche_6m", "proportion"] == pytest.approx(1 / 3)
    assert table.loc["adhesion_grade_6m", "counts"] == "none: 2, mild: 1, moderate: 0, severe: 0"
    assert table.loc["thickness_change_6m_mm", "paired_p"] == pytest.approx(expected[0].p_value)


def test_the_seed_trial_has_no_measure_columns(engine: Engine, seed_protocol: Any) -> None:
    set_up_trial(engine, seed_protocol)
    dataset = build_dataset(engine, seed_protocol)
    assert summarise_measures(seed_protocol, dataset.participants, dataset.measurements) == ()
    assert not [c for c in dataset.participants.columns if c.startswith("measure_")]
