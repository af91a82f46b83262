"""`endotrial db upgrade | status`: create or migrate the trial database; show its revision."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from endotrial.cli.app import app, user_errors
from endotrial.store import (
    current_revision,
    database_url,
    head_revision,
    make_engine,
    open_existing,
    upgrade_database,
)

db_app = typer.Typer(help="Create, migrate and inspect the trial database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", help="SQLAlchemy URL (default: ENDOTRIAL_DATABASE_URL)."),
]


def _shown(url: str | None) -> str:
    return make_url(url or database_url()).render_as_string(hide_password=True)


@db_app.command("upgrade")
@user_errors
def upgrade(database: DatabaseOption = None) -> None:
    """Create the schema in an empty database, or migrate an older one (back it up first)."""
    engine = make_engine(database)
    try:
        before = current_revision(engine)
        upgrade_database(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"{_shown(database)}: already at revision {after}")
    else:
        typer.echo(f"{_shown(database)}: revision {before or 'none (empty)'} → {after}")


@db_app.command("status")
@user_errors
def status(database: DatabaseOption = None) -> None:
    """The database's schema revision and whether this endotrial needs it upgraded."""
    engine = open_existing(database)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    state = "up to date" if revision == head else f"needs `endotrial db upgrade` to {head}"
    typer.echo(f"{_shown(database)}: revision {revision or 'none'} ({state})")
    if revision != head:
        raise typer.Exit(code=1)
