"""`endotrial serve`: the study team's web pages and REST API (uvicorn, one or more worker
processes over the same database)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import ProtocolOption
from endotrial.protocol import load_protocol
from endotrial.services import open_study
from endotrial.store import open_existing
from endotrial.store.engine import database_url, shown_url


@app.command("serve")
@user_errors
def serve(
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            "--db",
            help="SQLAlchemy URL of the trial's database (default: ENDOTRIAL_DATABASE_URL, "
            "else sqlite:///endotrial.db); it must exist (`endotrial db upgrade`).",
        ),
    ] = None,
    protocol_id: ProtocolOption = None,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on; beyond this machine, put it behind an HTTPS proxy "
            "(its cookies are then sent over HTTPS only).",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Server processes (one per processor core serves the most users at once).",
        ),
    ] = 1,
) -> None:
    """Serve the web pages and the REST API (/api/v1, its OpenAPI document at
    /api/v1/openapi.json) over the trial's services, until Ctrl-C."""
    # Imported here: the other commands need not load the web framework.
    import uvicorn

    from endotrial.web import served, settings_from_environment
    from endotrial.web.settings import SECRET_ENV

    kept_secret = bool(os.environ.get(SECRET_ENV))
    settings = settings_from_environment(host)  # refuses a short secret before anything starts
    # A missing database or another protocol is refused here, not once in each worker.
    open_study(open_existing(database), load_protocol(protocol_id))
    os.environ.update({
        SECRET_ENV: settings.secret_key,  # one secret for every worker: a session works in all
        served.SERVED_DATABASE_ENV: database or database_url(),
        served.SERVED_PROTOCOL_ENV: protocol_id or "",
        served.SERVED_HOST_ENV: host,
    })  # fmt: skip
    typer.echo(f"database: {shown_url(database)}")
    typer.echo(f"serving on http://{host}:{port}/ (API: http://{host}:{port}/api/v1/)")
    typer.echo(f"{workers} server process{'es' if workers > 1 else ''}")
    typer.echo(
        f"sessions end after {settings.idle_minutes} minutes idle"
        + ("" if kept_secret else f"; set {SECRET_ENV} to keep them across restarts")
    )
    uvicorn.run(
        served.FACTORY, factory=True, workers=workers, host=host, port=port, log_level="warning"
    )
