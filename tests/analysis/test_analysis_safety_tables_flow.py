"""Safety tables and the TREND participant flow, on frames made here."""

import pandas as pd

from endotrial.analysis.flow import participant_flow
from endotrial.analysis.safety_tables import by_category, by_worst_grade, overview, safety_tables


def _participants() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": ["A1", "A2", "A3", "B1", "B2", "B3", "B4"],
            "arm": ["hbmsc", "hbmsc", "hbmsc", "control", "control", "control", None],
            # A3 never had her catheterisation: the safety set counts her as control.
            "arm_received": ["hbmsc", "hbmsc", "control", "control", "control", "control", None],
            "in_safety_set": [True, True, True, True, True, False, False],
            "in_full_analysis_set": [True, True, True, True, True, True, False],
            "in_per_protocol_set": [True, False, False, True, True, False, False],
            "received_intervention": [True, True, False, True, True, True, False],
            "lost_to_follow_up": [False, False, True, False, False, True, False],
            "withdrawal_reason": [None, None, "moved away", None, None, "moved away", None],
        }
    )


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ae_id": ["1", "2", "3", "4", "5", "6"],
            "participant_id": ["A1", "A1", "A2", "A3", "B1", "B3"],
            "arm": "ignored",
            "term": ["Fever", "Fever", "Hematoma", "Fever", "Nausea", "Fever"],
            "ctcae_grade": [1, 2, 3, 1, 1, 4],
            "serious": [False, False, True, False, False, True],
            "related_procedure": ["not_related", "not_related", "definite"] + ["not_related"] * 3,
            "related_cells": ["probable", "possible"] + ["not_related"] * 4,
            "related_hrt": ["not_related"] * 4 + ["probable", "not_related"],
        }
    )


def test_overview_counts_participants_once_and_by_treatment_received() -> None:
    table = overview(_participants(), _events(), ["hbmsc", "control"]).set_index(
        "women with at least one"
    )
    # hbmsc received: A1, A2 (both with events); control received: A3, B1, B2 (B3 is outside
    # the safety set, her grade-4 event is not counted).
    assert table.loc["any adverse event", "hbmsc: participants"] == "2 (100.0%)"
    assert table.loc["any adverse event", "hbmsc: events"] == 3
    assert table.loc["any adverse event", "control: participants"] == "2 (66.7%)"
    assert table.loc["serious adverse event", "control: participants"] == "0 (0.0%)"
    assert table.loc["CTCAE grade 3 or more", "hbmsc: participants"] == "1 (50.0%)"
    assert table.loc["related to any study treatment", "control: events"] == 1
    # Clopper-Pearson 2/3: 0.0943 to 0.9916 (R: binom.test(2, 3)$conf.int).
    assert table.loc["any adverse event", "control: 95% CI"] == "9.4 to 99.2%"


def test_by_term_is_most_frequent_first_and_worst_grade_counts_each_woman_once() -> None:
    terms = by_category(_participants(), _events(), "term", arms=["hbmsc", "control"])
    assert terms["term"].tolist() == ["Fever", "Hematoma", "Nausea"]
    fever = terms.iloc[0]
    assert (fever["hbmsc: participants"], fever["hbmsc: events"]) == ("1 (50.0%)", 2)
    assert (fever["control: participants"], fever["total events"]) == ("1 (33.3%)", 3)
    worst = by_worst_grade(_participants(), _events(), ["hbmsc", "control"])
    assert worst["hbmsc: participants"].tolist() == [
        "0 (0.0%)", "0 (0.0%)", "1 (50.0%)", "1 (50.0%)", "0 (0.0%)", "0 (0.0%)",
    ]  # fmt: skip
    assert worst["control: participants"].tolist()[:2] == ["1 (33.3%)", "2 (66.7%)"]
    tables = safety_tables(_participants(), _events(), ["hbmsc", "control"])
    related = tables["Adverse events by relatedness"]
    cells = related[related["to"] == "cells"].set_index("relatedness")
    assert (
        cells.loc["probable", "hbmsc: events"] == 1 and cells.loc["possible", "hbmsc: events"] == 1
    )


def test_the_flow_from_screening_to_analysis() -> None:
    screenings = pd.DataFrame(
        {
            "screening_number": range(1, 11),
            "decision": ["ineligible"] * 2 + ["incomplete"] + ["eligible"] * 7,
            "failed_criteria": ["I2, E8", "E8"] + [""] * 8,
            "participant_id": [None, None, None, None, "A1", "A2", "A3", "B1", "B2", "B3"],
        }
    )
    participants = _participants().iloc[:6]
    flow = participant_flow(
        screenings, participants, arms=["hbmsc", "control"], criteria={"E8": "Severe disease"}
    )
    assert (flow.assessed, flow.excluded, flow.not_eligible, flow.incomplete) == (10, 4, 2, 1)
    assert flow.eligible_not_enrolled == 1 and flow.enrolled == 6
    assert flow.exclusion_reasons == {"E8: Severe disease": 2, "I2": 1}
    hbmsc, control = flow.arms
    assert (hbmsc.allocated, hbmsc.received, hbmsc.not_received, hbmsc.lost) == (3, 2, 1, 1)
    assert hbmsc.lost_reasons == {"moved away": 1}
    assert (control.analysed, control.per_protocol) == (3, 2)
    table = flow.table()
    assert table.iloc[0].tolist() == ["Assessed for eligibility", "", 10]
