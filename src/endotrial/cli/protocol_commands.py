"""`endotrial protocol list | show | validate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.protocol import bundled_protocol_files, load_protocol, load_protocol_file
from endotrial.protocol.summary import assumptions, overview

protocol_app = typer.Typer(help="Show and check protocol files.", no_args_is_help=True)
app.add_typer(protocol_app, name="protocol")

ProtocolOption = Annotated[
    str | None, typer.Argument(help="Bundled protocol id or path to a protocol file.")
]


@protocol_app.command("list")
@user_errors
def list_protocols() -> None:
    """List the protocols bundled with endotrial."""
    for protocol_id, path in sorted(bundled_protocol_files().items()):
        protocol = load_protocol_file(path)
        typer.echo(f"{protocol_id}\t{protocol.identity.nct_id}\t{protocol.identity.brief_title}")


@protocol_app.command("show")
@user_errors
def show(
    protocol_id: ProtocolOption = None,
    show_assumptions: Annotated[
        bool, typer.Option("--assumptions", help="List every labelled assumption with its reason.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The whole protocol as JSON.")] = False,
) -> None:
    """Show a protocol: identity, design, arms, procedure, criteria, schedule, outcomes."""
    protocol = load_protocol(protocol_id)
    if as_json:
        typer.echo(json.dumps(protocol.model_dump(mode="json"), indent=2, ensure_ascii=False))
        return
    typer.echo(overview(protocol))
    if show_assumptions:
        typer.echo("\nAssumptions (values the registry leaves open):")
        for entry in assumptions(protocol):
            source = f" [{entry.source}]" if entry.source else ""
            typer.echo(f"  - {entry.location}: {entry.reason}{source}")


@protocol_app.command("validate")
@user_errors
def validate(path: Annotated[Path, typer.Argument(help="Protocol file to check.")]) -> None:
    """Check a protocol file; report every problem with its line and field."""
    protocol = load_protocol_file(path)
    typer.echo(
        f"{path}: valid protocol {protocol.protocol_id} ({protocol.identity.nct_id}): "
        f"{len(protocol.criteria)} criteria, {len(protocol.schedule)} schedule events, "
        f"{len(protocol.arms)} arms, {len(assumptions(protocol))} labelled assumptions"
    )
