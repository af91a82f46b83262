"""The protocol format of issue 9: settings declared by the format, events found by role,
format versions, schedules built at validation, and the designs of the related trials."""

import copy
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.errors import ProtocolError
from endotrial.protocol import Protocol, bundled_protocol_files, load_protocol_file
from endotrial.protocol.models import EventRole, Route
from endotrial.protocol.settings import SERIOUS_AE_REPORT_HOURS, SETTINGS
from endotrial.schedule import build_schedule

SEED_FILE = bundled_protocol_files()["nct07176143"]
SECOND_FILE = Path(__file__).parents[1] / "fixtures" / "protocols" / "second_trial.yaml"
Mutation = Callable[[dict[str, Any]], None]


def _data(path: Path = SEED_FILE) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def _write(tmp_path: Path, data: dict[str, Any]) -> tuple[Path, str]:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    path = tmp_path / "trial.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def _loaded(tmp_path: Path, mutate: Mutation, source: Path = SEED_FILE) -> Protocol:
    data = _data(source)
    mutate(data)
    return load_protocol_file(_write(tmp_path, data)[0])


def _refused(tmp_path: Path, mutate: Mutation, source: Path = SEED_FILE) -> tuple[str, str]:
    data = _data(source)
    mutate(data)
    path, text = _write(tmp_path, data)
    with pytest.raises(ProtocolError) as caught:
        load_protocol_file(path)
    return str(caught.value), text


def _assert_at(message: str, text: str, needle: str, field: str, after: str = "") -> None:
    """The message names `field` at the first line holding `needle` (after the line holding
    `after`)."""
    rows = list(enumerate(text.splitlines(), 1))
    start = next(i for i, row in rows if after in row)
    line = next(i for i, row in rows if i >= start and needle in row)
    assert re.search(rf"trial\.yaml:{line}: {re.escape(field)}: ", message), message


def _event(data: dict[str, Any], event_id: str) -> dict[str, Any]:
    return next(e for e in data["schedule"] if e["id"] == event_id)


def _index(data: dict[str, Any], section: str, entry_id: str) -> int:
    return next(i for i, e in enumerate(data[section]) if e["id"] == entry_id)


# ------------------------------------------------------------------ settings (finding 4)


def test_an_unknown_setting_is_refused_with_its_field(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["settings"]["transfer_thickness_minimum"] = {"value": 7, "unit": "mm", "label": "x"}

    message, text = _refused(tmp_path, mutate)
    # A mapping's location is its first field (here its value), as everywhere in the file.
    field = "settings.transfer_thickness_minimum"
    _assert_at(message, text, "value: 7", field, after="transfer_thickness_minimum:")
    assert "not a setting of the protocol format" in message


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"value": "seven"}, "value", "'seven' is not a number"),
        ({"value": True}, "value", "True is not a number"),
        ({"unit": "cm"}, "unit", "given with `cm`; the format reads it in unit `mm`"),
        ({"unit": None}, "unit", "given with no unit"),
        ({"value": 70}, "value", "70 is outside 1-20 mm"),
    ],
)
def test_a_setting_of_the_wrong_type_range_or_unit_is_refused(
    tmp_path: Path, change: dict[str, Any], field: str, words: str
) -> None:
    def mutate(data: dict[str, Any]) -> None:
        setting = data["settings"]["transfer_thickness_min_mm"]
        setting.update(change)
        if setting["unit"] is None:
            del setting["unit"]

    message, text = _refused(tmp_path, mutate)
    assert f"settings.transfer_thickness_min_mm.{field}: " in message, message
    assert words in message
    if change.get("unit"):
        field = "settings.transfer_thickness_min_mm.unit"
        _assert_at(message, text, "unit: cm", field, after="transfer_thickness_min_mm:")


def test_grades_must_be_letters_of_abc(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["settings"]["good_blastocyst_icm_grades"]["value"] = "A,B"

    message, _ = _refused(tmp_path, mutate)
    assert "settings.good_blastocyst_icm_grades.value: " in message
    assert "grade letters from A, B, C" in message


def test_a_setting_an_embryo_transfer_needs_is_required(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        del data["settings"]["beta_hcg_positive_miu_ml"]

    message, _ = _refused(tmp_path, mutate)
    assert "'beta_hcg_positive_miu_ml' is missing: the protocol has an embryo transfer" in message


def test_a_protocol_without_embryo_transfers_needs_no_transfer_setting() -> None:
    second = load_protocol_file(SECOND_FILE)
    assert second.settings == {}
    assert second.role_event(EventRole.embryo_transfer) is None
    assert SERIOUS_AE_REPORT_HOURS.number(second) == 24.0  # the documented default


def test_every_setting_the_seed_gives_is_declared_with_its_unit() -> None:
    seed = load_protocol_file(SEED_FILE)
    for name, setting in seed.settings.items():
        assert SETTINGS[name].unit == setting.unit


# ------------------------------------------------------------------ event roles (finding 4)


def test_the_seed_declares_the_roles_the_services_read() -> None:
    seed = load_protocol_file(SEED_FILE)
    roles = {role: seed.role_event(role, "control") for role in EventRole}
    assert all(roles.values()), roles


def test_a_transfer_event_without_its_role_is_refused(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        del _event(data, "embryo_transfer")["role"]

    message, _ = _refused(tmp_path, mutate)
    index = _index(_data(), "schedule", "embryo_transfer")
    assert f"schedule[{index}].role: event 'embryo_transfer' is of kind 'transfer'" in message


def test_a_role_on_an_event_of_another_kind_is_refused(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _event(data, "beta_hcg")["kind"] = "visit"

    message, _ = _refused(tmp_path, mutate)
    assert "has role beta_hcg_test, which is an event of kind 'lab', not 'visit'" in message


def test_a_role_given_twice_in_an_arm_is_refused(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _event(data, "ongoing_pregnancy_ultrasound")["role"] = "pregnancy_scan"

    message, _ = _refused(tmp_path, mutate)
    index = _index(_data(), "schedule", "ongoing_pregnancy_ultrasound")
    assert f"schedule[{index}].role: arm 'control' has two events with role" in message


def test_a_transfer_needs_its_pregnancy_test_and_scan(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        del _event(data, "beta_hcg")["role"]

    message, _ = _refused(tmp_path, mutate)
    assert "no event with `role: beta_hcg_test`" in message


def test_an_unknown_role_is_refused_with_its_line(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _event(data, "beta_hcg")["role"] = "hcg_test"

    message, text = _refused(tmp_path, mutate)
    index = _index(_data(), "schedule", "beta_hcg")
    _assert_at(message, text, "role: hcg_test", f"schedule[{index}].role")


# ------------------------------------------------------------------ format_version (C)


@pytest.mark.parametrize(
    ("version", "words"),
    [
        (None, "is missing: this release of endotrial reads format versions 1, 2"),
        (3, "format version 3, newer than this release reads"),
        ("two", "'two' is not a format version"),
        (0, "there is no format version 0"),
    ],
)
def test_a_file_of_another_format_version_is_refused_saying_what_to_do(
    tmp_path: Path, version: object, words: str
) -> None:
    def mutate(data: dict[str, Any]) -> None:
        if version is None:
            del data["format_version"]
        else:
            data["format_version"] = version

    message, _ = _refused(tmp_path, mutate)
    assert "1 problem" in message  # the version alone: the rest would be read wrongly
    assert words in message
    if version == 1:
        assert "role: embryo_transfer" in message and "format_version: 2" in message


# ------------------------------------------------------------------ validate builds (finding 5)


def test_two_procedures_sharing_a_pre_check_id_are_refused_at_its_field(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        second = copy.deepcopy(data["procedures"][0])
        second.update(id="hbmsc_second_infusion", cycle_day=12)
        second["pre_checks"] = second["pre_checks"][:1]
        data["procedures"].append(second)
        data["arms"][1]["procedures"].append("hbmsc_second_infusion")

    message, _ = _refused(tmp_path, mutate)
    assert (
        "procedures[1].pre_checks[0].id: protocol nct07176143: two events of arm 'hbmsc' have "
        "the id 'iodine_allergy_test'"
    ) in message
    assert "schedule cannot be built" in message


def test_an_event_clashing_with_a_derived_regimen_event_is_refused(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _event(data, "baseline_ultrasound")["id"] = "tx_dydrogesterone_start"

    message, text = _refused(tmp_path, mutate)
    assert "regimens[1].id: " in message and "'tx_dydrogesterone_start'" in message
    assert "a schedule event and a regimen's start or stop" in message
    assert message.count("two events") == 1  # once, though both arms have it
    _assert_at(message, text, "id: tx_dydrogesterone\n".strip(), "regimens[1].id")


def test_protocol_validate_reports_an_unbuildable_schedule_with_its_line(tmp_path: Path) -> None:
    data = _data()
    _event(data, "baseline_ultrasound")["id"] = "tx_dydrogesterone_start"
    path, text = _write(tmp_path, data)
    result = CliRunner().invoke(app, ["protocol", "validate", str(path)])
    assert result.exit_code == 2
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "id: tx_dydrogesterone" in row)
    assert f"{path}:{line}: regimens[1].id: " in result.output


# ------------------------------------------------------------------ related trials' designs (D)


def _single_arm(data: dict[str, Any]) -> None:
    data["arms"] = [a for a in data["arms"] if a["id"] == "hbmsc"]
    data["design"]["intervention_model"] = "SINGLE_GROUP"
    data["design"]["allocation"] = "NA"


def test_a_single_arm_design_loads_and_its_schedule_builds(tmp_path: Path) -> None:
    protocol = _loaded(tmp_path, _single_arm)
    assert [a.id for a in protocol.arms] == ["hbmsc"]
    schedule = build_schedule(protocol, "hbmsc", {"treatment_cycle_start": dt.date(2026, 1, 5)})
    assert "hbmsc_infusion" in {e.id for e in schedule}


def test_a_withdrawn_trial_with_an_enrolment_of_zero_loads(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _single_arm(data)
        data["identity"].update(
            enrollment_target=0, enrollment_type="ACTUAL", overall_status="WITHDRAWN"
        )

    protocol = _loaded(tmp_path, mutate)
    assert protocol.identity.enrollment_target == 0


def test_a_negative_enrolment_is_refused(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["identity"]["enrollment_target"] = -1

    message, _ = _refused(tmp_path, mutate)
    assert "identity.enrollment_target: " in message


@pytest.mark.parametrize(
    "route",
    [
        "intra_arterial",
        "intrauterine_injection",
        "intrauterine_scaffold",
        "intramyometrial",
        "intraosseous",
    ],
)
def test_each_route_of_the_related_trials_loads(tmp_path: Path, route: str) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["interventions"][0]["route"] = route

    assert _loaded(tmp_path, mutate).interventions[0].route == Route(route)


def test_an_unknown_route_is_refused(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["interventions"][0]["route"] = "intrathecal-ish"

    message, _ = _refused(tmp_path, mutate)
    assert "interventions[0].route: " in message


def test_sex_all_loads(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["design"]["sex"] = "ALL"

    assert _loaded(tmp_path, mutate).design.sex == "ALL"


# ------------------------------------------------------------------ version-1 files


def _as_version_1(data: dict[str, Any]) -> None:
    """The seed as a version-1 file was: no roles, any setting."""
    data["format_version"] = 1
    for event in data["schedule"]:
        event.pop("role", None)
    data["settings"]["site_coffee_brand"] = {"value": "none", "unit": None}


def test_a_version_1_file_is_read_as_what_version_1_meant(tmp_path: Path) -> None:
    """Roles where version 1 found the events (the transfer by its kind, the beta-hCG test and
    the pregnancy scan by the ids it used); a setting no engine read is left out."""
    upgraded = _loaded(tmp_path, _as_version_1)
    seed = load_protocol_file(SEED_FILE)
    for role in EventRole:
        assert upgraded.role_event(role, "hbmsc") == seed.role_event(role, "hbmsc") is not None
    assert set(upgraded.settings) == set(seed.settings)
    assert upgraded == seed  # the very protocol the version-2 file states


def test_a_version_1_file_without_the_events_version_2_needs_is_refused_at_its_line(
    tmp_path: Path,
) -> None:
    def mutate(data: dict[str, Any]) -> None:
        _as_version_1(data)
        _event(data, "beta_hcg")["id"] = "serum_hcg"  # version 1 never found this one

    message, _text = _refused(tmp_path, mutate)
    assert "beta_hcg_test" in message
