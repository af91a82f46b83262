"""`endotrial demo`: build a synthetic run of the whole trial through the services."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import ProtocolOption
from endotrial.demo import DEFAULT_SEED, build_demo, render_summary
from endotrial.errors import InputError
from endotrial.protocol import load_protocol
from endotrial.store import Participant, database_url, make_engine


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
    if replace:
        _delete_sqlite_file(url)
    _refuse_if_populated(url)
    summary = build_demo(url, seed=seed, protocol=load_protocol(protocol_id))
    typer.echo(f"database: {make_url(url).render_as_string(hide_password=True)}")
    typer.echo(render_summary(summary))


def _delete_sqlite_file(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise InputError("--replace only deletes a SQLite file; give an empty database instead")
    for suffix in ("", "-wal", "-shm"):
        Path(parsed.database + suffix).unlink(missing_ok=True)


def _refuse_if_populated(url: str) -> None:
    engine = make_engine(url)
    try:
        if not inspect(engine).has_table("participants"):
            return
        with engine.connect() as connection:
            if connection.execute(select(Participant.id).limit(1)).first() is None:
                return
    finally:
        engine.dispose()
    raise InputError(
        f"{make_url(url).render_as_string(hide_password=True)} already holds trial data: "
        "use --replace (SQLite) or another database; nothing was changed"
    )
