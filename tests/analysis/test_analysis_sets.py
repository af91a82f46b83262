"""The plan's analysis sets and expression covariates, evaluated on a participants frame."""

import pandas as pd
import pytest

from endotrial.analysis.sets import apply_analysis_plan
from endotrial.errors import InputError
from endotrial.protocol import Protocol
from endotrial.protocol.models import Covariate


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3", "P4"],
            "allocated": [True, True, True, False],
            "received_intervention": [True, False, True, False],
            "transfer_done": pd.array([True, True, None, False], dtype="boolean"),
            "major_deviation": [False, False, False, False],
            "started_treatment": [True, True, False, False],
            "bmi_kg_m2": [31.0, 22.0, None, 24.0],
        }
    )


def test_sets_follow_the_rules_and_unknown_counts_as_outside(seed_protocol: Protocol) -> None:
    result = apply_analysis_plan(_frame(), seed_protocol)
    assert result["in_full_analysis_set"].tolist() == [True, True, True, False]
    # P3's transfer is unknown: the rule is UNKNOWN, so she is outside the per-protocol set.
    assert result["in_per_protocol_set"].tolist() == [True, False, False, False]
    assert result["in_safety_set"].tolist() == [True, True, False, False]


def test_an_expression_covariate_is_computed_and_typed(seed_protocol: Protocol) -> None:
    plan = seed_protocol.analysis_plan.model_copy(
        update={"covariates": [Covariate(name="obese", expression="bmi_kg_m2 >= 30")]}
    )
    protocol = seed_protocol.model_copy(update={"analysis_plan": plan})
    result = apply_analysis_plan(_frame(), protocol)
    assert str(result["obese"].dtype) == "boolean"
    assert result["obese"].tolist()[:2] == [True, False] and pd.isna(result["obese"][2])


def test_a_column_the_rules_read_must_be_there(seed_protocol: Protocol) -> None:
    with pytest.raises(InputError, match="lacks major_deviation, transfer_done"):
        apply_analysis_plan(
            _frame().drop(columns=["transfer_done", "major_deviation"]), seed_protocol
        )


def test_a_plan_without_sets_is_refused(seed_protocol: Protocol) -> None:
    plan = seed_protocol.analysis_plan.model_copy(update={"analysis_sets": None})
    protocol = seed_protocol.model_copy(update={"analysis_plan": plan})
    with pytest.raises(InputError, match="declares no analysis sets"):
        apply_analysis_plan(_frame(), protocol)
