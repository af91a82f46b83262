"""A protocol file's YAML is read defensively (issue 6, finding 6): each key once, no anchors or
aliases, a size and a depth limit, and every refusal a ProtocolError naming file and line."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.errors import ProtocolError
from endotrial.protocol import bundled_protocol_files, load_protocol, load_protocol_file
from endotrial.protocol.load import MAX_PROTOCOL_BYTES, MAX_YAML_DEPTH

SEED_TEXT = bundled_protocol_files()["nct07176143"].read_text(encoding="utf-8")


def _line_of(text: str, needle: str, start: int = 1) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if i >= start and needle in line)


def _refusal(tmp_path: Path, text: str) -> str:
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as caught:
        load_protocol_file(path)
    return str(caught.value)


def test_a_second_cells_per_kg_does_not_change_the_dose(tmp_path: Path) -> None:
    line = "    cells_per_kg: 1.0e6\n"
    assert SEED_TEXT.count(line) == 1
    text = SEED_TEXT.replace(line, line + "    cells_per_kg: 1.0e7\n")
    first = _line_of(text, "cells_per_kg: 1.0e6")
    message = _refusal(tmp_path, text)
    assert f"hostile.yaml:{first + 1}: key 'cells_per_kg' is given twice" in message
    assert f"(lines {first} and {first + 1})" in message


def test_an_appended_empty_criteria_list_is_refused(tmp_path: Path) -> None:
    text = SEED_TEXT + "\ncriteria: []\n"
    first = SEED_TEXT.splitlines().index("criteria:") + 1
    last = len(text.splitlines())
    message = _refusal(tmp_path, text)
    assert f"hostile.yaml:{last}: key 'criteria' is given twice" in message
    assert f"lines {first} and {last}" in message


def test_an_alias_is_refused_even_where_it_would_validate(tmp_path: Path) -> None:
    """Conditions repeated as keywords through an alias: valid YAML, and a protocol that
    validated before this guard; refused with the line of the anchor."""
    text = SEED_TEXT.replace("  conditions:\n", "  conditions: &conditions\n", 1)
    text = re.sub(r"  keywords: \[.*\]\n", "  keywords: *conditions\n", text, count=1)
    assert "keywords: *conditions" in text
    message = _refusal(tmp_path, text)
    anchor = _line_of(text, "&conditions")
    assert f"hostile.yaml:{anchor}: anchors (&name) and aliases (*name) are not allowed" in message


def test_a_billion_laughs_is_refused_before_it_expands(tmp_path: Path) -> None:
    levels = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for n in range(1, 9):
        levels.append(f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 10) + "]")
    text = SEED_TEXT + "\n".join(levels) + "\n"
    message = _refusal(tmp_path, text)
    assert f"hostile.yaml:{_line_of(text, 'l0: &l0')}: anchors" in message


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    text = SEED_TEXT + "loop: &loop [*loop]\n"
    message = _refusal(tmp_path, text)
    assert f"hostile.yaml:{_line_of(text, 'loop: &loop')}: anchors" in message


def test_a_merge_key_is_refused(tmp_path: Path) -> None:
    text = SEED_TEXT.replace("identity:\n", "identity:\n  <<: {brief_title: Merged}\n", 1)
    message = _refusal(tmp_path, text)
    assert f"hostile.yaml:{_line_of(text, '<<')}: merge keys (<<) are not allowed" in message


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    padding = "# " + "x" * MAX_PROTOCOL_BYTES + "\n"  # a comment: valid YAML, a valid protocol
    message = _refusal(tmp_path, SEED_TEXT + padding)
    assert "hostile.yaml: the protocol file is larger than 2 MB" in message


def test_a_device_is_read_no_further_than_the_limit() -> None:
    with pytest.raises(ProtocolError, match="larger than 2 MB"):
        load_protocol_file(Path("/dev/zero"))


@pytest.mark.parametrize("depth", [MAX_YAML_DEPTH + 1, 500, 5000])
def test_nesting_past_the_depth_limit_is_refused(tmp_path: Path, depth: int) -> None:
    text = SEED_TEXT + "deep: " + "[" * depth + "]" * depth + "\n"
    message = _refusal(tmp_path, text)
    assert f"hostile.yaml:{_line_of(text, 'deep:')}: " in message
    # ours, or libyaml's own limit (1000 levels), which its parser meets reading ahead
    assert f"nested more than {MAX_YAML_DEPTH} levels" in message or (
        depth > 1000 and "exceeded maximum nesting depth" in message
    )


def test_an_integer_too_long_to_read_is_refused_with_its_line(tmp_path: Path) -> None:
    text = SEED_TEXT.replace("enrollment_target: 60", "enrollment_target: " + "1" * 5000, 1)
    message = _refusal(tmp_path, text)
    assert f"hostile.yaml:{_line_of(text, 'enrollment_target')}: cannot read this value" in message


@pytest.mark.parametrize("name", ["bad\0name.yaml", "x" * 5000])
def test_a_path_no_file_can_have_is_a_protocol_error(name: str) -> None:
    with pytest.raises(ProtocolError, match="no protocol"):
        load_protocol(name)


def test_the_seed_still_loads_at_these_limits() -> None:
    assert len(SEED_TEXT.encode("utf-8")) < MAX_PROTOCOL_BYTES
    assert load_protocol("nct07176143").protocol_id == "nct07176143"


def test_validate_reports_a_duplicate_key_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(SEED_TEXT + "\ncriteria: []\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["protocol", "validate", str(path)])
    assert result.exit_code == 2
    assert "key 'criteria' is given twice" in result.output
    assert "Traceback" not in result.output


def test_a_protocol_without_inclusion_criteria_is_refused(tmp_path: Path) -> None:
    """Even given once, an empty criteria list would make every candidate eligible."""
    start = SEED_TEXT.splitlines().index("criteria:")
    end = SEED_TEXT.splitlines().index("criteria_gaps:")
    lines = SEED_TEXT.splitlines()
    text = "\n".join([*lines[:start], "criteria: []", *lines[end:]]) + "\n"
    message = _refusal(tmp_path, text)
    assert f"hostile.yaml:{start + 1}: criteria: the protocol has no inclusion criterion" in message
