"""The analysis plan's sets and covariates are rules the loader checks, with file and line."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from endotrial.errors import ProtocolError
from endotrial.protocol import bundled_protocol_files, load_protocol
from endotrial.protocol.analysis_values import covariate_type, participant_values
from endotrial.protocol.models import ItemType

SEED_FILE = bundled_protocol_files()["nct07176143"]


def _load_mutated(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> tuple[str, str]:
    data: dict[str, Any] = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    mutate(data)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    return str(caught.value), text


def _assert_located(message: str, text: str, needle: str, field: str) -> None:
    line = next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)
    assert re.search(rf"bad\.yaml:{line}: {re.escape(field)}: ", message), message


def test_the_seed_declares_its_sets_and_covariates_as_rules() -> None:
    plan = load_protocol("nct07176143").analysis_plan
    assert plan.analysis_sets is not None
    assert plan.analysis_sets.full_analysis_set.rule == "allocated"
    assert plan.analysis_sets.safety.arm == "received"
    assert [c.name for c in plan.covariates] == [
        "age_years",
        "baseline_thickness_mm",
        "good_blastocysts",
    ]
    assert plan.serious_ae_margin == pytest.approx(0.10)


def test_covariates_take_the_type_of_their_item_or_expression() -> None:
    protocol = load_protocol("nct07176143")
    assert covariate_type(protocol, "age_years") is ItemType.integer
    assert covariate_type(protocol, "baseline_thickness_mm") is ItemType.number
    assert participant_values(protocol)["arm"].values == ["control", "hbmsc"]


def test_unknown_name_in_a_set_rule(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["analysis_plan"]["analysis_sets"]["per_protocol"]["rule"] = (
            "allocated AND transfer_dnoe"
        )

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(message, text, "transfer_dnoe", "analysis_plan.analysis_sets.per_protocol.rule")
    assert "transfer_dnoe" in message
    assert "did you mean `transfer_done`" in message


def test_a_set_rule_must_be_a_condition(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["analysis_plan"]["analysis_sets"]["safety"]["rule"] = "embryos_transferred + 1"

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(
        message, text, "embryos_transferred + 1", "analysis_plan.analysis_sets.safety.rule"
    )
    assert "not true/false" in message


def test_a_missing_set_is_refused(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        del data["analysis_plan"]["analysis_sets"]["safety"]

    message, _text = _load_mutated(tmp_path, mutate)
    assert "analysis_plan.analysis_sets.safety" in message


def test_unknown_covariate(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["analysis_plan"]["covariates"] = ["age_years", "baseline_thicknes_mm"]

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(message, text, "baseline_thicknes_mm", "analysis_plan.covariates[1].name")
    assert "baseline_thicknes_mm is neither a data item nor a participant value" in message


def test_an_identifying_item_is_no_covariate(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["analysis_plan"]["covariates"] = ["birth_date"]

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(message, text, "- birth_date", "analysis_plan.covariates[0].name")
    assert "birth_date identifies the person" in message


def test_an_identifying_item_is_refused_in_an_expression_too(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["analysis_plan"]["covariates"] = [{"name": "born", "expression": "YEAR(birth_date)"}]

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(
        message, text, "expression: YEAR(birth_date)", "analysis_plan.covariates[0].expression"
    )
    assert "birth_date identifies the person" in message


def test_a_covariate_expression_is_checked(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["analysis_plan"]["covariates"] = [
            {"name": "obese", "expression": "bmi_kg_m2 >= 30"},
            {"name": "heavy", "expression": "weight_kgg > 80"},
        ]

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(message, text, "weight_kgg", "analysis_plan.covariates[1].expression")
    assert "obese" not in message


def test_an_expression_covariate_is_typed_by_its_result(tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    data["analysis_plan"]["covariates"] = [{"name": "obese", "expression": "bmi_kg_m2 >= 30"}]
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    assert covariate_type(load_protocol(path), "obese") is ItemType.boolean


def test_a_data_item_named_like_a_value_is_ambiguous_in_the_plan(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["data_items"].append({"name": "withdrawn", "type": "boolean", "label": "x"})
        data["analysis_plan"]["analysis_sets"]["per_protocol"]["rule"] = "NOT withdrawn"

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(message, text, "NOT withdrawn", "analysis_plan.analysis_sets.per_protocol.rule")
    assert "withdrawn is both a data item and a value the engine derives" in message
