"""An impossible date in a protocol file is a load error with file, line and field.

YAML reads `2025-02-30` as a timestamp and its resolver raises a bare ValueError; the loader
must report it like any other bad value instead.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.errors import ProtocolError
from endotrial.protocol import bundled_protocol_files, load_protocol

SEED_TEXT = bundled_protocol_files()["nct07176143"].read_text(encoding="utf-8")
runner = CliRunner()


def _with_start_date(tmp_path: Path, value: str) -> tuple[Path, int]:
    lines = SEED_TEXT.splitlines()
    line = next(i for i, text in enumerate(lines) if text.strip().startswith("start_date:"))
    indent = lines[line][: len(lines[line]) - len(lines[line].lstrip())]
    lines[line] = f"{indent}start_date: {value}"
    path = tmp_path / "dated.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, line + 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [("2025-13-30", "month value is outside"), ("2025-02-30", "day value is outside")],
)
def test_an_impossible_date_names_file_line_and_field(
    tmp_path: Path, value: str, reason: str
) -> None:
    path, line = _with_start_date(tmp_path, value)
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert f"{path}:{line}: identity.start_date: '{value}' is not a real date" in message
    assert reason in message and "YYYY-MM-DD" in message


def test_protocol_validate_reports_it_without_a_traceback(tmp_path: Path) -> None:
    path, line = _with_start_date(tmp_path, "2025-02-30")
    result = runner.invoke(app, ["protocol", "validate", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}:{line}: identity.start_date" in result.output
    assert "Traceback" not in result.output


def test_real_dates_still_load_as_dates(tmp_path: Path) -> None:
    path, _line = _with_start_date(tmp_path, "2025-10-01")
    assert str(load_protocol(path).identity.start_date) == "2025-10-01"
