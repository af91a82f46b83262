"""`endotrial demo`: build a synthetic run of the whole trial through the services."""

from __future__ import annotations

from typing import Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import DatabaseOption, ProtocolOption
from endotrial.demo import DEFAULT_SEED, check_seed, create_demo, render_summary
from endotrial.protocol import load_protocol
from endotrial.store.engine import shown_url


@app.command("demo")
@user_errors
def demo(
    database: DatabaseOption = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed, 0 or more; same seed, same trial.")
    ] = DEFAULT_SEED,
    replace: Annotated[
        bool, typer.Option("--replace", help="Delete an existing SQLite demo file first.")
    ] = False,
    protocol_id: ProtocolOption = None,
) -> None:
    """Create a database holding a realistic, reproducible, SYNTHETIC run of the trial."""
    check_seed(seed)
    protocol = load_protocol(protocol_id)
    summary = create_demo(database, seed=seed, replace=replace, protocol=protocol)
    typer.echo(f"database: {shown_url(database)}")
    typer.echo(render_summary(summary))
