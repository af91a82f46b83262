"""`endotrial demo`: build a synthetic run of the whole trial through the services."""

from __future__ import annotations

from typing import Annotated

import typer

from endotrial.cli.app import INTERRUPTED_EXIT, app, user_errors
from endotrial.cli.options import DatabaseOption, ProtocolOption
from endotrial.demo import DEFAULT_SEED, check_seed, create_demo, render_summary
from endotrial.demo.run import check_participants
from endotrial.demo.target import demo_file
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
        bool,
        typer.Option(
            "--replace",
            help="Delete the SQLite file first, if `endotrial demo` made it (any other file, "
            "such as a real trial's database, is refused and kept).",
        ),
    ] = False,
    protocol_id: ProtocolOption = None,
    participants: Annotated[
        int | None,
        typer.Option(
            "--participants",
            help="How many to enrol (default: the protocol's enrolment; a trial that enrolled "
            "no one: an illustrative number, said in the output).",
        ),
    ] = None,
) -> None:
    """Create a database holding a realistic, reproducible, SYNTHETIC run of the trial (any
    protocol: the seed's effect sizes are cited, any other's are synthetic), then verify it."""
    check_seed(seed)
    check_participants(participants)
    protocol = load_protocol(protocol_id)
    target = demo_file(database)
    builds_a_new_file = target is not None and (replace or not target.exists())
    try:
        summary = create_demo(
            database, seed=seed, replace=replace, protocol=protocol, participants=participants
        )
    except KeyboardInterrupt:
        # create_demo removes a file it created when the build stops half-way.
        kept = (
            "nothing was kept"
            if builds_a_new_file
            else "the database may hold part of the demo; empty it before building again"
        )
        typer.echo(f"interrupted: {kept}", err=True)
        raise typer.Exit(code=INTERRUPTED_EXIT) from None
    typer.echo(f"database: {shown_url(database)}")
    typer.echo(render_summary(summary))
