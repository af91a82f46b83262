"""Every command of the CLI is documented in the README (fails when one is added silently)."""

from pathlib import Path

import typer

from endotrial.cli import app

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def _command_paths(application: typer.Typer, prefix: str = "endotrial") -> list[str]:
    paths = [f"{prefix} {command.name}" for command in application.registered_commands]
    for group in application.registered_groups:
        assert group.typer_instance is not None and group.name is not None
        paths += _command_paths(group.typer_instance, f"{prefix} {group.name}")
    return paths


def test_every_command_is_in_the_readme() -> None:
    commands = _command_paths(app)
    assert len(commands) >= 9
    undocumented = [command for command in commands if command not in README]
    assert not undocumented, f"document in README.md: {undocumented}"
