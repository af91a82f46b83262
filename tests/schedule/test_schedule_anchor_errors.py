"""Broken schedule anchors are refused when the protocol loads, naming file, line and field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from endotrial.errors import ProtocolError
from endotrial.protocol import bundled_protocol_files, load_protocol_file


def seed_data() -> dict[str, Any]:
    text = bundled_protocol_files()["nct07176143"].read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def event_index(data: dict[str, Any], event_id: str) -> int:
    return next(i for i, e in enumerate(data["schedule"]) if e["id"] == event_id)


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "generated.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    """1-based line of the only line holding `needle`."""
    lines = [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert len(lines) == 1, lines
    return lines[0]


def test_missing_anchor_event_names_file_line_and_field(tmp_path: Path) -> None:
    data = seed_data()
    index = event_index(data, "beta_hcg")
    data["schedule"][index]["anchor"] = "no_such_transfer"
    path = write(tmp_path, data)
    with pytest.raises(ProtocolError) as caught:
        load_protocol_file(path)
    message = str(caught.value)
    line = line_of(path, "anchor: no_such_transfer")
    assert f"{path}:{line}: schedule[{index}].anchor:" in message
    assert "no_such_transfer" in message


def test_anchor_cycle_names_file_line_and_field(tmp_path: Path) -> None:
    data = seed_data()
    transfer = event_index(data, "embryo_transfer")
    data["schedule"][transfer]["anchor"] = "beta_hcg"  # beta_hcg hangs from embryo_transfer
    path = write(tmp_path, data)
    with pytest.raises(ProtocolError) as caught:
        load_protocol_file(path)
    message = str(caught.value)
    assert "cycle" in message
    assert "embryo_transfer" in message and "beta_hcg" in message
    found = re.search(rf"{re.escape(str(path))}:(\d+): schedule\[(\d+)\]\.anchor:", message)
    assert found is not None, message
    index = int(found.group(2))
    assert index in {transfer, event_index(data, "beta_hcg")}
    anchor = data["schedule"][index]["anchor"]
    event_line = line_of(path, f"id: {data['schedule'][index]['id']}")
    anchor_lines = [
        n
        for n, text in enumerate(path.read_text().splitlines(), 1)
        if text.strip() == f"anchor: {anchor}" and n > event_line
    ]
    assert int(found.group(1)) == anchor_lines[0]
