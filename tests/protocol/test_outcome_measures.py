"""Outcome measures in the protocol file (issue 9, finding 8): a file that names an unknown
item, event or outcome, derives a change from a yes/no item, or sets a threshold its item
cannot take is refused at load, naming the line and the measure's field."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from endotrial.errors import ProtocolError
from endotrial.protocol import load_protocol
from endotrial.protocol.models import MeasureDerivation

FIXTURE = Path(__file__).parents[1] / "fixtures" / "protocols" / "thickness_before_after.yaml"


def _data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    return data


def _measure(data: dict[str, Any], measure_id: str) -> dict[str, Any]:
    return next(m for m in data["outcome_measures"] if m["id"] == measure_id)


def _refused(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> tuple[str, str]:
    data = _data()
    mutate(data)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    return str(caught.value), text


def _assert_at(message: str, text: str, needle: str, field: str) -> None:
    """The message names the line holding `needle` (the first after `outcome_measures:`)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines, 1) if line.startswith("outcome_measures:"))
    line = next(i for i, content in enumerate(lines, 1) if i > start and needle in content)
    assert re.search(rf"bad\.yaml:{line}: {re.escape(field)}: ", message), message


def test_the_fixture_loads_with_every_kind_of_measure() -> None:
    protocol = load_protocol(FIXTURE)
    kinds = {m.derivation for m in protocol.outcome_measures}
    assert kinds == set(MeasureDerivation)


@pytest.mark.parametrize(
    ("measure_id", "field", "value", "needle", "words"),
    [
        ("thickness_3m_mm", "item", "thickness_cm", "thickness_cm", "data item 'thickness_cm'"),
        ("thickness_3m_mm", "event", "scan_3m", "scan_3m", "schedule event 'scan_3m'"),
        ("niche_6m", "outcome", "niches", "niches", "outcome 'niches'"),
        (
            "thickness_change_6m_mm", "baseline_event", "baseline_us", "baseline_us",
            "schedule event 'baseline_us'",
        ),
        (
            "thickness_change_6m_mm", "baseline_event", "follow_up_6m", "baseline_event: "
            "follow_up_6m", "its own event",
        ),
        ("thickness_3m_mm", "item", "screening_date", "screening_date", "a date item"),
    ],
)  # fmt: skip
def test_a_measure_naming_what_the_file_lacks_is_refused_at_its_field(
    tmp_path: Path, measure_id: str, field: str, value: str, needle: str, words: str
) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _measure(data, measure_id)[field] = value

    message, text = _refused(tmp_path, mutate)
    index = [m["id"] for m in _data()["outcome_measures"]].index(measure_id)
    _assert_at(message, text, needle, f"outcome_measures[{index}].{field}")
    assert words in message


def test_a_change_from_baseline_needs_a_number_item(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        measure = _measure(data, "thickness_change_6m_mm")
        measure["item"] = "niche_present"

    message, _ = _refused(tmp_path, mutate)
    assert "outcome_measures[2].derivation: " in message
    assert "a change needs a number or integer item" in message


@pytest.mark.parametrize(
    ("measure_id", "threshold", "words"),
    [
        ("niche_6m", {"comparison": "==", "value": 1.0}, "a boolean item"),
        ("niche_6m", {"comparison": ">", "value": True}, "a boolean item"),
        ("adhesion_free_6m", {"comparison": "==", "value": "absent"}, "one of its values"),
        ("adhesion_free_6m", {"comparison": "<", "value": "mild"}, "a category item"),
        ("pain_3m", {"comparison": ">=", "value": "high"}, "give a number"),
        ("pain_3m", {"comparison": ">=", "value": True}, "give a number"),
    ],
)
def test_a_threshold_its_item_cannot_take_is_refused(
    tmp_path: Path, measure_id: str, threshold: dict[str, Any], words: str
) -> None:
    def mutate(data: dict[str, Any]) -> None:
        measure = _measure(data, measure_id)
        measure["derivation"] = "meets_threshold"
        measure["threshold"] = threshold

    message, _ = _refused(tmp_path, mutate)
    index = [m["id"] for m in _data()["outcome_measures"]].index(measure_id)
    assert f"outcome_measures[{index}].threshold.value: " in message
    assert words in message


def test_a_measure_id_given_twice_is_refused(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _measure(data, "pain_3m")["id"] = "niche_6m"

    message, text = _refused(tmp_path, mutate)
    second = [i for i, line in enumerate(text.splitlines(), 1) if "id: niche_6m" in line][-1]
    assert f"bad.yaml:{second}: outcome_measures[6].id: " in message, message
    assert "id 'niche_6m' is used twice in outcome_measures" in message


def test_a_derivation_without_what_it_needs_is_refused(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        del _measure(data, "thickness_change_6m_mm")["baseline_event"]

    message, _ = _refused(tmp_path, mutate)
    assert "baseline_event" in message and "outcome_measures[2]" in message
