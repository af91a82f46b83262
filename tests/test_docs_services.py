"""The worked example of docs/services.md runs as written, on a fresh SQLite database."""

import re
from pathlib import Path

import pytest

from endotrial.store import make_engine, reconcile_with_trail, verify_audit_chain

GUIDE = Path(__file__).parents[1] / "docs" / "services.md"


def test_the_services_guide_example_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (code,) = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    url = f"sqlite:///{tmp_path / 'trial.db'}"
    exec(compile(code, str(GUIDE), "exec"), {"DATABASE_URL": url})  # our own doc, not user input
    printed = capsys.readouterr().out
    assert "arm 'hbmsc' is closed" in printed
    assert "is outside the window of" in printed
    engine = make_engine(url)
    try:
        assert verify_audit_chain(engine).ok and reconcile_with_trail(engine).ok
    finally:
        engine.dispose()
