"""Bad protocol files are refused at load, naming file, line and field."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from endotrial.errors import ProtocolError
from endotrial.protocol import bundled_protocol_files, load_protocol

SEED_FILE = bundled_protocol_files()["nct07176143"]


def _seed_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    return data


def _load_mutated(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> tuple[str, str]:
    """Write the seed with one change, load it, and return (error message, file text)."""
    data = _seed_data()
    mutate(data)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    return str(caught.value), text


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _criterion(data: dict[str, Any], criterion_id: str) -> dict[str, Any]:
    return next(c for c in data["criteria"] if c["id"] == criterion_id)


def _assert_located(message: str, text: str, needle: str, field: str) -> None:
    line = _line_of(text, needle)
    assert re.search(rf"bad\.yaml:{line}: {re.escape(field)}: ", message), message


def test_the_seed_protocol_loads() -> None:
    assert load_protocol("NCT07176143").identity.nct_id == "NCT07176143"


def test_unknown_item_in_an_expression(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _criterion(data, "I5")["expression"] = "afc >= 6 AND fsh_iu_per_l BETWEEN 1 AND 10"

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(message, text, "fsh_iu_per_l", "criteria[4].expression")
    assert "unknown data item `fsh_iu_per_l`" in message
    assert "did you mean `fsh_iu_l`" in message


def test_expression_that_is_not_boolean(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _criterion(data, "I2")["expression"] = "age_years + 1"

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(message, text, "age_years + 1", "criteria[1].expression")
    assert "gives a number, not true/false" in message


@pytest.mark.parametrize(
    "expression",
    ["random() < 0.5 AND age_years > 20", "read_csv('/etc/passwd') IS NULL", "upper(sex) = 'F'"],
)
def test_function_outside_the_allow_list(tmp_path: Path, expression: str) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _criterion(data, "I2")["expression"] = expression

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(message, text, expression, "criteria[1].expression")
    assert "is not allowed in a criterion" in message


@pytest.mark.parametrize(
    "expression",
    [
        "age_years IN (SELECT age FROM patients)",
        "EXISTS (SELECT 1 FROM patients)",
        "patients.age_years > 20",
        "(SELECT max(age_years) FROM candidates) > 20",
    ],
)
def test_expression_that_reads_a_table(tmp_path: Path, expression: str) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _criterion(data, "I2")["expression"] = expression

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(message, text, expression, "criteria[1].expression")
    assert "table" in message or "query" in message


def test_several_statements_are_refused(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _criterion(data, "I2")["expression"] = "age_years > 20; DROP TABLE candidates"

    message, _ = _load_mutated(tmp_path, mutate)
    assert "criteria[1].expression" in message


def test_type_error_and_unknown_category_value(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _criterion(data, "I2")["expression"] = "age_years BETWEEN '20' AND 38"
        _criterion(data, "I6")["expression"] = "hiv_ab = 'negtive'"

    message, _ = _load_mutated(tmp_path, mutate)
    assert "2 problems" in message
    assert "compares a number (`age_years`) with a text" in message
    assert "`hiv_ab` is never 'negtive'" in message


def test_schedule_anchors_that_form_a_cycle(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        events = {e["id"]: e for e in data["schedule"]}
        events["progesterone_start"]["anchor"] = "beta_hcg"

    message, _ = _load_mutated(tmp_path, mutate)
    assert "anchors form a cycle" in message
    assert "beta_hcg" in message and "embryo_transfer" in message
    assert re.search(r"bad\.yaml:\d+: schedule\[\d+\]\.anchor", message)


def test_schedule_anchor_naming_a_missing_event(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        events = {e["id"]: e for e in data["schedule"]}
        events["beta_hcg"]["anchor"] = "embryo_transfr"

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(message, text, "anchor: embryo_transfr", "schedule[8].anchor")
    assert "'embryo_transfr'" in message


def test_regimen_days_outside_the_cycle(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["regimens"][1]["last_day"] = 30

    message, _ = _load_mutated(tmp_path, mutate)
    assert "regimens[1].last_day: day 30 falls outside cycle 'treatment'" in message
    assert "lasts 28 days" in message


def test_regimen_that_ends_before_it_starts(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["regimens"][1]["last_day"] = 5

    message, _ = _load_mutated(tmp_path, mutate)
    assert "regimens[1]" in message and "before first_day 19" in message


def test_regimen_end_given_twice_or_to_an_unknown_event(tmp_path: Path) -> None:
    def both_forms(data: dict[str, Any]) -> None:
        data["regimens"][1]["starts"] = {"anchor": "baseline_ultrasound"}

    message, _ = _load_mutated(tmp_path, both_forms)
    assert "regimens[1]" in message and "exactly one of `first_day` or `starts`" in message

    def unknown_anchor(data: dict[str, Any]) -> None:
        luteal = next(r for r in data["regimens"] if r["id"] == "fet_luteal_dydrogesterone")
        luteal["stops"] = {"anchor": "luteal_suport_end"}

    message, text = _load_mutated(tmp_path, unknown_anchor)
    index = next(i for i, r in enumerate(_seed_data()["regimens"]) if "luteal" in r["id"])
    _assert_located(message, text, "luteal_suport_end", f"regimens[{index}].stops.anchor")
    assert "'luteal_support_end'" in message  # the did-you-mean


def _regimen(data: dict[str, Any], regimen_id: str) -> dict[str, Any]:
    return next(r for r in data["regimens"] if r["id"] == regimen_id)


def _event(data: dict[str, Any], event_id: str) -> dict[str, Any]:
    return next(e for e in data["schedule"] if e["id"] == event_id)


def _index(data: dict[str, Any], section: str, entry_id: str) -> int:
    return next(i for i, entry in enumerate(data[section]) if entry["id"] == entry_id)


def _line_after(text: str, first: str, needle: str) -> int:
    """The first line holding `needle` after the first line holding `first`."""
    start = _line_of(text, first)
    lines = text.splitlines()
    return next(i for i, line in enumerate(lines, 1) if i > start and needle in line)


def test_regimen_anchored_to_an_event_another_arm_lacks(tmp_path: Path) -> None:
    # Both arms list tx_dydrogesterone; post_procedure_visit is for the hbmsc arm only.
    def mutate(data: dict[str, Any]) -> None:
        regimen = _regimen(data, "tx_dydrogesterone")
        del regimen["first_day"]
        regimen["starts"] = {"anchor": "post_procedure_visit", "offset_days": 2}

    message, text = _load_mutated(tmp_path, mutate)
    index = _index(_seed_data(), "regimens", "tx_dydrogesterone")
    line = _line_after(text, "id: tx_dydrogesterone", "anchor: post_procedure_visit")
    assert f"bad.yaml:{line}: regimens[{index}].starts.anchor: " in message, message
    assert "1 problem" in message
    assert "regimen 'tx_dydrogesterone' starts from 'post_procedure_visit' +2 d" in message
    assert "arm 'control' does not have (only arm 'hbmsc' has it)" in message


def test_regimen_anchored_to_a_chain_that_leaves_the_arm(tmp_path: Path) -> None:
    # The regimen's own anchor is in every arm, but it hangs from the infusion (hbmsc only).
    def mutate(data: dict[str, Any]) -> None:
        _event(data, "post_procedure_visit").pop("arms")
        data["schedule"].append(
            {
                "id": "extra_visit",
                "label": "Extra visit",
                "kind": "visit",
                "anchor": "post_procedure_visit",
                "offset_days": 1,
            }
        )
        luteal = _regimen(data, "fet_luteal_dydrogesterone")
        luteal["stops"] = {"anchor": "extra_visit"}

    message, text = _load_mutated(tmp_path, mutate)
    index = _index(_seed_data(), "regimens", "fet_luteal_dydrogesterone")
    line = _line_after(text, "id: fet_luteal_dydrogesterone", "anchor: extra_visit")
    assert f"bad.yaml:{line}: regimens[{index}].stops.anchor: " in message, message
    assert (
        "regimen 'fet_luteal_dydrogesterone' stops from 'extra_visit', which hangs from "
        "'hbmsc_infusion' (extra_visit → post_procedure_visit → hbmsc_infusion), an event that "
        "arm 'control' does not have"
    ) in message
    # The unrestricted visit is refused in its own right, at its anchor.
    visit = _index(_seed_data(), "schedule", "post_procedure_visit")
    _assert_located(message, text, "anchor: hbmsc_infusion", f"schedule[{visit}].anchor")
    assert "event 'post_procedure_visit' hangs from 'hbmsc_infusion'" in message


def test_regimen_that_stops_before_it_starts_by_event(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        luteal = _regimen(data, "fet_luteal_dydrogesterone")
        luteal["stops"] = {"anchor": "progesterone_start", "offset_days": -3}

    message, text = _load_mutated(tmp_path, mutate)
    index = _index(_seed_data(), "regimens", "fet_luteal_dydrogesterone")
    # The loader places a nested mapping at its first key: the stop's `anchor` line.
    line = _line_after(text, "id: fet_luteal_dydrogesterone", "stops:") + 1
    assert f"bad.yaml:{line}: regimens[{index}].stops: " in message, message
    assert "regimen 'fet_luteal_dydrogesterone' stops 3 days before it starts" in message
    assert "'treatment_cycle_start' +44 d" in message  # start: transfer cycle day 14
    assert "'treatment_cycle_start' +41 d" in message


def test_regimen_stop_before_a_cycle_day_start(tmp_path: Path) -> None:
    # Cycle day 1 of the transfer cycle is transfer_cycle_start; its ultrasound is day 12.
    def mutate(data: dict[str, Any]) -> None:
        estradiol = _regimen(data, "fet_estradiol_valerate")
        estradiol["stops"] = {"anchor": "transfer_ultrasound", "offset_days": -12}

    message, text = _load_mutated(tmp_path, mutate)
    index = _index(_seed_data(), "regimens", "fet_estradiol_valerate")
    line = _line_after(text, "id: fet_estradiol_valerate", "anchor: transfer_ultrasound")
    assert f"bad.yaml:{line}: regimens[{index}].stops: " in message, message
    assert "stops 1 day before it starts: it starts at cycle day 1" in message


def test_regimen_that_starts_and_stops_on_one_day_loads(tmp_path: Path) -> None:
    data = _seed_data()
    _regimen(data, "fet_luteal_dydrogesterone")["stops"] = {"anchor": "progesterone_start"}
    path = tmp_path / "one_day.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    assert load_protocol(path).regimen("fet_luteal_dydrogesterone").stops is not None


def test_second_trial_fixture_loads() -> None:
    fixture = Path(__file__).parent.parent / "fixtures" / "protocols" / "second_trial.yaml"
    assert len(load_protocol(fixture).arms) == 2


def test_misspelt_and_missing_fields(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["identity"]["enrolment_target"] = data["identity"].pop("enrollment_target")

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(message, text, "enrolment_target", "identity.enrolment_target")
    assert "identity.enrollment_target: is required but missing" in message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("protocol_id: x\nidentity: [unclosed\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"broken\.yaml:\d+: not valid YAML"):
        load_protocol(path)


def test_unknown_protocol_id_lists_the_bundled_ones() -> None:
    with pytest.raises(ProtocolError, match="nct07176143"):
        load_protocol("nct00000000")


def test_an_id_too_long_for_the_trial_database_is_refused(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["cycles"][1]["id"] = "transfer_cycle_after_the_withdrawal_bleed"

    message, text = _load_mutated(tmp_path, mutate)
    _assert_located(message, text, "transfer_cycle_after_the_withdrawal_bleed", "cycles[1].id")
    assert "at most 32 characters" in message
