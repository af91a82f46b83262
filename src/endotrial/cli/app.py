"""The Typer application and the error boundary shared by every command."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Callable
from functools import wraps
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, ParamSpec, TypeVar

import typer
from sqlalchemy.exc import DBAPIError

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


#: Exit codes: 2 for input the user can correct, 1 for a failure of the machine or the database
#: (disk full, database busy or damaged), 130 for Ctrl-C (the shell's convention: 128 + SIGINT).
USER_ERROR_EXIT, FAILURE_EXIT, INTERRUPTED_EXIT = 2, 1, 130
#: Set to see the traceback of a database failure the boundary does not recognise.
DEBUG_ENV = "ENDOTRIAL_DEBUG"


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn an EndotrialError into a clear message and exit code 2, a known failure of the disk
    or the database into one saying what to do (exit code 1), and Ctrl-C into "interrupted"
    (exit code 130): never a traceback, and never a database's SQL or parameters (they can hold
    password hashes). Anything else is a bug and keeps its traceback."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except EndotrialError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(code=USER_ERROR_EXIT) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: the command stopped before it finished", err=True)
            raise typer.Exit(code=INTERRUPTED_EXIT) from None
        except (DBAPIError, sqlite3.Error) as error:
            if os.environ.get(DEBUG_ENV):
                raise
            typer.echo(f"error: {database_failure(error)}", err=True)
            raise typer.Exit(code=FAILURE_EXIT) from None
        except OSError as error:
            typer.echo(f"error: {os_failure(error)}", err=True)
            raise typer.Exit(code=FAILURE_EXIT) from None

    return wrapper


_DATABASE_FAILURES = (
    (
        "file is not a database",
        "the database file is not a SQLite database (or is damaged): check that --database or "
        "ENDOTRIAL_DATABASE_URL names the trial's database file",
    ),
    (
        "database or disk is full",
        "the disk holding the database is full: free some space and run the command again; "
        "the change under way was not saved",
    ),
    (
        "database is locked",
        "the database is busy (another program is writing to it): try again in a moment",
    ),
    (
        "readonly database",
        "the database may not be written here (a read-only file or folder): use a copy you "
        "may write, or ask for write access",
    ),
    (
        "unable to open database file",
        "the database file cannot be opened: check that its folder exists and that you may "
        "read and write there",
    ),
    (
        "disk i/o error",
        "the disk failed while reading or writing the database: check the disk, then run the "
        "command again; the change under way was not saved",
    ),
    (
        "malformed",
        "the database file is damaged: restore it from the last backup",
    ),
)


def database_failure(error: DBAPIError | sqlite3.Error) -> str:
    """What the user can do about a database failure, from the driver's own error alone (the
    wrapped error's text holds the statement and its parameters, which may be secrets)."""
    original = error.orig if isinstance(error, DBAPIError) else error
    text = str(original).strip().splitlines()[0].lower() if str(original).strip() else ""
    for pattern, advice in _DATABASE_FAILURES:
        if pattern in text:
            return advice
    kind = type(original).__name__
    return (
        f"the database refused the operation ({kind}); nothing was saved by this command. If "
        f"it happens again, report it with the command you ran (set {DEBUG_ENV}=1 for details)"
    )


def os_failure(error: OSError) -> str:
    """An OS failure as what the user can do about it, naming the file when the OS did."""
    where = f"{error.filename}: " if error.filename else ""
    reason = error.strerror or type(error).__name__
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{where}no space left on the disk: free some space and run the command again"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where}{reason}: use a file or folder you may write to"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"{where}{reason}: check the path"
    return f"{where}{reason}"


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
        read_commands,
        report_commands,
        schedule_commands,
        screen_commands,
        serve_commands,
        stats_commands,
        user_commands,
    )


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
