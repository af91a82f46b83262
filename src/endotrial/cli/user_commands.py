"""`endotrial user add`: an investigator adds a team member's account (through the services,
audited; her role and sites are checked there)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import DatabaseOption, ProtocolOption
from endotrial.protocol import load_protocol
from endotrial.services import TeamMember, add_user, open_study, sign_in, sign_out
from endotrial.store import Role, open_existing

#: The acting investigator's password (asked for, hidden, when unset).
PASSWORD_ENV = "ENDOTRIAL_PASSWORD"
#: The new account's password (asked for twice, hidden, when unset).
NEW_PASSWORD_ENV = "ENDOTRIAL_NEW_PASSWORD"

user_app = typer.Typer(help="Study-team accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
@user_errors
def add_command(
    username: Annotated[str, typer.Argument(help="The new account's username.")],
    full_name: Annotated[str, typer.Option("--full-name", help="Her name as shown.")],
    role: Annotated[Role, typer.Option("--role", help="Her role in the trial.")],
    acting: Annotated[
        str,
        typer.Option(
            "--as",
            help=f"Your username (an investigator); your password is asked for (or read from "
            f"{PASSWORD_ENV}).",
        ),
    ],
    site_ids: Annotated[
        list[int] | None,
        typer.Option(
            "--site",
            help="A site she works at (repeat for several, home site first; none: central staff).",
        ),
    ] = None,
    database: DatabaseOption = None,
    protocol_id: ProtocolOption = None,
) -> None:
    """Add a team member's account; her password is asked for twice (or read from
    ENDOTRIAL_NEW_PASSWORD)."""
    password = os.environ.get(PASSWORD_ENV) or typer.prompt("your password", hide_input=True)
    new_password = os.environ.get(NEW_PASSWORD_ENV) or typer.prompt(
        f"password for {username}", hide_input=True, confirmation_prompt=True
    )
    member = TeamMember(
        username=username, full_name=full_name, role=role, password=new_password,
        site_ids=list(site_ids) if site_ids else None,
    )  # fmt: skip
    engine = open_existing(database)
    try:
        study = open_study(engine, load_protocol(protocol_id))
        actor = sign_in(study, acting, password)
        try:
            user_id = add_user(study, actor, member)
        finally:
            sign_out(study, actor)
    finally:
        engine.dispose()
    sites = ", ".join(map(str, site_ids)) if site_ids else "every site (central)"
    typer.echo(f"added {username} ({role.value}, account #{user_id}) at {sites}")
