"""`endotrial serve`: the study team's web pages and REST API (uvicorn, one process)."""

from __future__ import annotations

from typing import Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import ProtocolOption
from endotrial.protocol import load_protocol
from endotrial.services import open_study
from endotrial.store import open_existing
from endotrial.store.engine import shown_url


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
) -> None:
    """Serve the web pages and the REST API (/api/v1, its OpenAPI document at
    /api/v1/openapi.json) over the trial's services, until Ctrl-C."""
    # Imported here: the other commands need not load the web framework.
    import uvicorn

    from endotrial.web import create_app, settings_from_environment
    from endotrial.web.settings import SECRET_ENV

    settings = settings_from_environment(host)
    study = open_study(open_existing(database), load_protocol(protocol_id))
    typer.echo(f"database: {shown_url(database)}")
    typer.echo(f"serving on http://{host}:{port}/ (API: http://{host}:{port}/api/v1/)")
    typer.echo(
        f"sessions end after {settings.idle_minutes} minutes idle; set {SECRET_ENV} "
        "to keep them across restarts"
    )
    uvicorn.run(create_app(study, settings), host=host, port=port, log_level="warning")
