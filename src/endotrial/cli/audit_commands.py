"""`endotrial audit verify | history`: check the hash-chained trail; rebuild a field's history."""

from __future__ import annotations

from typing import Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.store import field_history, open_existing, verify_audit_chain

audit_app = typer.Typer(help="Check the audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", help="SQLAlchemy URL (default: ENDOTRIAL_DATABASE_URL)."),
]


@audit_app.command("verify")
@user_errors
def verify(database: DatabaseOption = None) -> None:
    """Detect any audit entry changed, removed or reordered outside the application."""
    result = verify_audit_chain(open_existing(database))
    typer.echo(str(result))
    if not result.ok:
        raise typer.Exit(code=1)


@audit_app.command("history")
@user_errors
def history(
    entity: Annotated[str, typer.Argument(help="Table, e.g. ultrasounds.")],
    row_id: Annotated[str, typer.Argument(help="Row id.")],
    field: Annotated[str, typer.Argument(help="Field, e.g. thickness_mm.")],
    database: DatabaseOption = None,
) -> None:
    """Every change of one field: when, who, old → new, and why."""
    for change in field_history(open_existing(database), entity, row_id, field):
        reason = f"  ({change.reason})" if change.reason else ""
        typer.echo(
            f"#{change.seq} {change.occurred_at:%Y-%m-%d %H:%M:%S}Z {change.username} "
            f"{change.action}: {change.old_value!r} → {change.new_value!r}{reason}"
        )
