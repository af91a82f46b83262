"""`endotrial audit verify | history`: check the hash-chained trail; rebuild a field's history."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import DatabaseOption
from endotrial.store import (
    head_revision,
    open_existing,
    reconcile_with_trail,
    verify_audit_chain,
)
from endotrial.store.history import record_field_history
from endotrial.store.migrate import refuse_unknown_revision

audit_app = typer.Typer(
    help="Check the audit trail and that the data still match it.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
@user_errors
def verify(database: DatabaseOption = None) -> None:
    """Detect any audit entry changed, removed or reordered, and any trial data changed, added
    or removed, outside the application (exit code 1 when something is found)."""
    engine = open_existing(database)
    try:
        revision, head = refuse_unknown_revision(engine), head_revision()
        chain = verify_audit_chain(engine)
        typer.echo(str(chain))
        data = reconcile_with_trail(engine) if chain.ok and revision == head else None
    finally:
        engine.dispose()
    if data is not None:
        typer.echo(str(data))
    elif chain.ok:
        typer.echo(
            f"data not reconciled: the database is at revision {revision}; back it up, run "
            f"`endotrial db upgrade` (to {head}) and verify again to reconcile the data"
        )
    if not chain.ok or (data is not None and not data.ok):
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
    engine = open_existing(database)
    try:
        found = record_field_history(engine, entity, row_id, field)
    finally:
        engine.dispose()
    if not found.changes:
        where = f"{found.entity} #{found.row_id}"
        why = "" if found.record_known else f": the audit trail holds no record {where}"
        typer.echo(f"no recorded changes of {found.field} for {where}{why}")
        return
    for change in found.changes:
        reason = f"  ({change.reason})" if change.reason else ""
        typer.echo(
            f"#{change.seq} {change.occurred_at:%Y-%m-%d %H:%M:%S}Z {change.username} "
            f"{change.action}: {_shown(change.old_value)} → {_shown(change.new_value)}{reason}"
        )


def _shown(value: Any) -> str:
    """A value as a reader writes it: blank for none, no quotes or Python spellings."""
    if value is None:
        return "(blank)"
    if value == "":
        return "(empty text)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
