"""`endotrial demo`: build a synthetic run of the whole trial through the services."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import ProtocolOption
from endotrial.demo import DEFAULT_SEED, build_demo, prepare_demo_database, render_summary
from endotrial.protocol import load_protocol
from endotrial.store import database_url


@app.command("demo")
@user_errors
def demo(
    database: Annotated[
        str | None,
        typer.Option("--database", help="SQLAlchemy URL (default: ENDOTRIAL_DATABASE_URL)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same trial.")] = (
        DEFAULT_SEED
    ),
    replace: Annotated[
        bool, typer.Option("--replace", help="Delete an existing SQLite demo file first.")
    ] = False,
    protocol_id: ProtocolOption = None,
) -> None:
    """Create a database holding a realistic, reproducible, SYNTHETIC run of the trial."""
    url = database or database_url()
    prepare_demo_database(url, replace=replace)
    summary = build_demo(url, seed=seed, protocol=load_protocol(protocol_id))
    typer.echo(f"database: {make_url(url).render_as_string(hide_password=True)}")
    typer.echo(render_summary(summary))
