"""`analysis.measures` on frames made here (no database): two arms, a measure column named
`measure_<id>` when its id is taken, the paired analysis per arm and its note when an arm has
fewer than 2 pairs, and a clear error when the column is missing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from endotrial.analysis.measures import measure_column, summarise_measures
from endotrial.errors import InputError
from endotrial.protocol import Protocol, load_protocol

FIXTURE = Path(__file__).parents[1] / "fixtures" / "protocols" / "thickness_before_after.yaml"


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol(FIXTURE)


def _participants(protocol: Protocol) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3", "P4", "P5"],
            "arm": ["a", "a", "a", "b", "b"],
        }
    )
    for measure in protocol.outcome_measures:
        frame[measure.id] = pd.Series([None] * 5, dtype="object")
    frame["thickness_change_6m_mm"] = [1.0, 2.0, 4.0, 0.5, None]
    frame["niche_6m"] = pd.array([True, False, None, True, True], dtype="boolean")
    return frame


def _measurements() -> pd.DataFrame:
    rows = [
        ("P1", "baseline_scan", 4.0), ("P1", "follow_up_6m", 5.0),
        ("P2", "baseline_scan", 4.0), ("P2", "follow_up_6m", 6.0),
        ("P3", "baseline_scan", 3.0), ("P3", "follow_up_6m", 7.0),
        ("P4", "baseline_scan", 4.5), ("P4", "follow_up_6m", 5.0),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["participant_id", "scheduled_event", "value"])
    return frame.assign(measurement="thickness_mm")


def test_each_arm_is_summarised_and_paired_where_it_has_pairs(protocol: Protocol) -> None:
    summaries = summarise_measures(protocol, _participants(protocol), _measurements())
    change = next(s for s in summaries if s.measure_id == "thickness_change_6m_mm")
    arm_a, arm_b = change.arms
    assert (arm_a.arm, arm_a.n, arm_a.mean) == ("a", 3, pytest.approx(7 / 3))
    assert (arm_b.n, arm_b.missing, arm_b.sd) == (1, 1, None)  # one value: no SD
    assert arm_a.paired[0].estimate == pytest.approx(7 / 3)  # mean of 1, 2, 4
    assert arm_b.paired == ()
    assert change.notes == ("thickness_change_6m_mm, arm b: fewer than 2 complete pairs, "
                            "no paired analysis",)  # fmt: skip
    niche = next(s for s in summaries if s.measure_id == "niche_6m")
    assert [(a.arm, a.met, a.n, a.missing) for a in niche.arms] == [("a", 1, 2, 1), ("b", 2, 2, 0)]
    assert niche.unit is None and niche.summary == "proportion"


def test_a_measure_column_is_prefixed_when_its_id_is_taken(protocol: Protocol) -> None:
    assert measure_column("niche_6m", {"arm"}) == "niche_6m"
    assert measure_column("thickness_mm", {"thickness_mm"}) == "measure_thickness_mm"
    frame = _participants(protocol).rename(columns={"niche_6m": "measure_niche_6m"})
    summaries = summarise_measures(protocol, frame)
    assert next(s for s in summaries if s.measure_id == "niche_6m").column == "measure_niche_6m"


def test_a_participants_table_without_the_measure_is_refused(protocol: Protocol) -> None:
    frame = _participants(protocol).drop(columns=["pain_3m"])
    with pytest.raises(InputError, match="no column for outcome measure 'pain_3m'"):
        summarise_measures(protocol, frame)
