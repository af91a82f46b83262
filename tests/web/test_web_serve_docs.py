"""`endotrial serve` refuses what it cannot serve with a clear message, and docs/web.md
documents every route of the REST API (fails when one is added silently)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from endotrial.cli import app
from endotrial.protocol import load_protocol
from endotrial.services import Study
from endotrial.store import make_engine
from endotrial.web import WebSettings, create_app
from endotrial.web.settings import SECRET_ENV, WebSettingsError, settings_from_environment

DOCS = (Path(__file__).parents[2] / "docs" / "web.md").read_text(encoding="utf-8")


def test_serve_refuses_a_missing_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--db", f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 2
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_serve_refuses_a_short_session_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "too short")
    result = CliRunner().invoke(app, ["serve", "--db", f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 2 and SECRET_ENV in result.output


def test_cookies_are_secure_once_the_server_listens_beyond_this_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert not settings_from_environment("127.0.0.1").secure_cookies
    assert settings_from_environment("0.0.0.0").secure_cookies
    with pytest.raises(WebSettingsError):
        WebSettings(secret_key="x" * 40, idle_minutes=0)


def test_every_api_route_is_documented(tmp_path: Path) -> None:
    study = Study(make_engine(f"sqlite:///{tmp_path / 'unused.db'}"), load_protocol(None))
    document = create_app(study, WebSettings(secret_key="x" * 40)).openapi()
    routes = [
        f"{method.upper()} {path.replace('{participant_id}', '{id}')}"
        for path, operations in document["paths"].items()
        for method in operations
    ]
    assert len(routes) >= 9
    undocumented = [route for route in routes if route not in DOCS]
    assert not undocumented, f"document in docs/web.md: {undocumented}"
