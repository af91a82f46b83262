"""The read side's example in docs/reads.md runs as written, after the services guide's."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"


def _example(name: str) -> str:
    (code,) = re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(encoding="utf-8"), re.S)
    return code


def test_the_read_side_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scope = {"DATABASE_URL": f"sqlite:///{tmp_path / 'trial.db'}"}
    for name in ("services.md", "reads.md"):
        exec(compile(_example(name), str(DOCS / name), "exec"), scope)  # our own docs
    printed = capsys.readouterr().out
    assert "eligible ['IODINE']" in printed
    assert "1 of 60 [('control', 1), ('hbmsc', 0)]" in printed
    assert "GZ6-001 not_yet_due Transvaginal ultrasound" in printed
