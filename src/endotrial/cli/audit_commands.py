"""`endotrial audit verify | history`: check the hash-chained trail; rebuild a field's history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import DatabaseOption
from endotrial.services.verification import verify_everything
from endotrial.store import head_revision, open_existing, schema_drift
from endotrial.store.checkpoints import sign_current_tip
from endotrial.store.health import check_integrity
from endotrial.store.history import record_field_history
from endotrial.store.keys import engine_keys
from endotrial.store.migrate import refuse_unknown_revision

audit_app = typer.Typer(
    help="Check the audit trail and that the data still match it.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")


#: `audit verify` exit codes: 0 intact, 1 something found, 3 not everything could be checked.
INCOMPLETE_EXIT = 3


@audit_app.command("verify")
@user_errors
def verify(
    database: DatabaseOption = None,
    checkpoints: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoints",
            help="A file of signed checkpoints to check (a monitor's kept copy); repeatable. "
            "Default: the log beside the key file.",
        ),
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", help="The trial's public key (hex), to check signatures."),
    ] = None,
) -> None:
    """Check every audit entry (its link, hash and, with the key file, its MAC), the signed
    checkpoints, who acted in each entry, and every row of data against the trail. Opens the
    database read-only. Exit code 0: intact; 1: something was found; 3: intact as far as it
    could be checked (no key file, or an older schema whose data are not reconciled)."""
    engine = open_existing(database, read_only=True)
    try:
        check_integrity(engine)
        revision, head = refuse_unknown_revision(engine), head_revision()
        reconcile, revision_note = _revision_check(engine, revision, head)
        report = verify_everything(
            engine,
            checkpoint_files=checkpoints or (),
            public_key=public_key,
            reconcile=reconcile,
        )
    finally:
        engine.dispose()
    typer.echo(str(report))
    if revision_note:
        typer.echo(revision_note)
    if not report.ok or (revision_note and revision_note.startswith("FOUND")):
        raise typer.Exit(code=1)
    if not report.complete:
        raise typer.Exit(code=INCOMPLETE_EXIT)


def _revision_check(engine: Engine, revision: str | None, head: str) -> tuple[bool, str | None]:
    """Whether the data can be reconciled; a database claiming an older revision than the
    tables it holds has had its revision mark changed (to skip this very check)."""
    if revision == head:
        return True, None
    if not schema_drift(engine):
        return True, (
            f"FOUND: the database says it is at revision {revision} but holds revision {head}'s "
            "tables: its revision mark was changed outside the application"
        )
    return False, (
        f"data not reconciled: the database is at revision {revision}; back it up, run "
        f"`endotrial db upgrade` (to {head}) and verify again to reconcile the data"
    )


@audit_app.command("history")
@user_errors
def history(
    entity: Annotated[str, typer.Argument(help="Table, e.g. ultrasounds.")],
    row_id: Annotated[str, typer.Argument(help="Row id.")],
    field: Annotated[str, typer.Argument(help="Field, e.g. thickness_mm.")],
    database: DatabaseOption = None,
) -> None:
    """Every change of one field: when, who, old → new, and why."""
    engine = open_existing(database, read_only=True)
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


@audit_app.command("checkpoint")
@user_errors
def checkpoint(database: DatabaseOption = None) -> None:
    """Sign the chain's current tip and print it (one JSON line) with the trial's public key,
    for a monitor to keep outside the trial's systems: `audit verify --checkpoints FILE
    --public-key KEY` later proves that the database still reaches it."""
    engine = open_existing(database, read_only=True)
    try:
        check_integrity(engine)
        keys = engine_keys(engine)
        signed = sign_current_tip(engine, keys)
    finally:
        engine.dispose()
    typer.echo(signed.line())
    typer.echo(f"public key: {keys.public_key_hex}", err=True)
