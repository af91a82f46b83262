"""`endotrial db upgrade | status`: create or migrate the trial database; show its revision."""

from __future__ import annotations

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import DatabaseOption
from endotrial.store import current_revision, head_revision, open_existing, upgrade_database
from endotrial.store.engine import open_database, shown_url
from endotrial.store.migrate import is_known_revision

db_app = typer.Typer(help="Create, migrate and inspect the trial database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@user_errors
def upgrade(database: DatabaseOption = None) -> None:
    """Create the schema in an empty database, or migrate an older one (back it up first)."""
    engine = open_database(database)
    try:
        before = current_revision(engine)
        upgrade_database(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"{shown_url(database)}: already at revision {after}")
    else:
        typer.echo(f"{shown_url(database)}: revision {before or 'none (empty)'} → {after}")


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
    if not is_known_revision(revision):
        state = f"made by a newer endotrial than this one (newest known: {head}); use that one"
    typer.echo(f"{shown_url(database)}: revision {revision or 'none'} ({state})")
    if revision != head:
        raise typer.Exit(code=1)
