"""The Typer application and the error boundary shared by every command."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, ParamSpec, TypeVar

import typer

from endotrial.errors import EndotrialError

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="endotrial",
    help="Run and analyse a clinical trial from its protocol file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def installed_version() -> str:
    """The installed package's version (from its metadata, so it matches what pip shows)."""
    try:
        return version("endotrial")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree not installed
        return "unknown (not installed)"


def _print_version(requested: bool) -> None:
    if requested:
        typer.echo(f"endotrial {installed_version()}")
        raise typer.Exit()


@app.callback()
def _main_options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Run and analyse a clinical trial from its protocol file."""


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn an EndotrialError into a clear message and exit code 2, never a traceback."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except EndotrialError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def main() -> None:
    app(prog_name="endotrial")


def _register_commands() -> None:
    # Imported for their side effect of adding commands to `app`.
    from endotrial.cli import (  # noqa: F401
        audit_commands,
        db_commands,
        demo_commands,
        dose_commands,
        protocol_commands,
        schedule_commands,
        screen_commands,
        stats_commands,
    )


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
