"""`endotrial db upgrade | status | backup | restore`: create or migrate the trial database,
show its revision, and back it up and restore it, verified."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import DatabaseOption
from endotrial.services.verification import AuditReport, verify_everything
from endotrial.store import (
    current_revision,
    head_revision,
    open_existing,
    upgrade_database,
)
from endotrial.store.backup import BackupResult, RestoreResult, backup_database, restore_database
from endotrial.store.engine import open_database, shown_url
from endotrial.store.health import check_integrity
from endotrial.store.keys import TrialKeys
from endotrial.store.migrate import is_known_revision
from endotrial.store.roles import grant_app_role
from endotrial.store.trial_protocol import recorded_protocol

db_app = typer.Typer(
    help="Create, migrate, inspect, back up and restore the trial database.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@user_errors
def upgrade(database: DatabaseOption = None) -> None:
    """Create the schema in an empty database, or migrate an older one (back it up first)."""
    engine = open_database(database)
    try:
        before = current_revision(engine)
        upgrade_database(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"{shown_url(database)}: already at revision {after}")
    else:
        typer.echo(f"{shown_url(database)}: revision {before or 'none (empty)'} → {after}")


@db_app.command("grant-app-role")
@user_errors
def grant_app_role_command(
    role: Annotated[str, typer.Argument(help="The PostgreSQL role the application runs as.")],
    database: DatabaseOption = None,
) -> None:
    """PostgreSQL: grant the application's role what it needs, and nothing that could change
    the audit trail (run as the database's owner, after `db upgrade`)."""
    engine = open_existing(database)
    try:
        for statement in grant_app_role(engine, role):
            typer.echo(statement)
    finally:
        engine.dispose()


@db_app.command("status")
@user_errors
def status(database: DatabaseOption = None) -> None:
    """The database's schema revision and whether this endotrial needs it upgraded. Opens the
    database read-only; a damaged file is reported as such."""
    engine = open_existing(database, read_only=True)
    try:
        check_integrity(engine)
        revision = current_revision(engine)
        with engine.connect() as connection:
            protocol = recorded_protocol(connection)
    finally:
        engine.dispose()
    head = head_revision()
    state = "up to date" if revision == head else f"needs `endotrial db upgrade` to {head}"
    if not is_known_revision(revision):
        state = f"made by a newer endotrial than this one (newest known: {head}); use that one"
    typer.echo(f"{shown_url(database)}: revision {revision or 'none'} ({state})")
    if protocol is not None:
        typer.echo(f"runs {protocol}")
    elif revision == head:
        typer.echo("runs no recorded protocol yet (set up the study, or its next write records it)")
    if revision != head:
        raise typer.Exit(code=1)


ForceOption = Annotated[bool, typer.Option("--force", help="Replace an existing file.")]


@db_app.command("backup")
@user_errors
def backup(
    dest: Annotated[Path, typer.Argument(help="The backup file to write (best on another disk).")],
    database: DatabaseOption = None,
    force: ForceOption = False,
) -> None:
    """A consistent copy of the live database, verified before it is kept. SQLite: one
    self-contained file (DEST), written beside DEST and renamed into place only once it is
    whole and verified against the trial's key and signed checkpoints (which go beside it as
    DEST.checkpoints); the key file is not copied: keep its safe copy elsewhere. PostgreSQL:
    a pg_dump archive (custom format), verified when restored with `endotrial db restore`."""
    result = backup_database(database, dest, force=force, verify=verify_copy)
    typer.echo(_backup_summary(result))


def _backup_summary(result: BackupResult) -> str:
    if result.tip is None:
        lines = [f"backup written: {result.path} (a pg_dump archive; pg_restore reads it whole)"]
    else:
        lines = [f"backup written: {result.path} (audit entries 1–{result.tip}), verified:"]
        lines += [f"  {line}" for line in str(result.verdict).splitlines()]
    reached = result.reached
    lines.append(
        f"checkpoints: {result.checkpoint_log} "
        + (f"(latest: entry {reached.seq}, signed {reached.signed_at})" if reached else "(none)")
    )
    lines.append("the key file is not in the backup: keep its safe copy apart from the backups")
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


@db_app.command("restore")
@user_errors
def restore(
    backup_file: Annotated[Path, typer.Argument(metavar="BACKUP", help="The backup to restore.")],
    database: DatabaseOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace an existing SQLite file (kept as TARGET.replaced-<time>).",
        ),
    ] = False,
    accept_loss: Annotated[
        bool,
        typer.Option(
            "--accept-loss",
            help="Restore a backup that ends before the latest signed checkpoint (the entries "
            "after it are lost; the old checkpoint log is kept aside).",
        ),
    ] = False,
    checkpoints: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoints",
            help="More signed checkpoints to check against (a monitor's kept copy); "
            "repeatable. Always read: the log beside the key file and BACKUP.checkpoints.",
        ),
    ] = None,
) -> None:
    """Verify a backup (its chain and MACs with the key file, every checkpoint up to its end,
    and how many acknowledged entries after it would be lost), then put it in place. Stop the
    application first. The key file must be where the restored database will look for it."""
    result = restore_database(
        backup_file,
        database,
        force=force,
        accept_loss=accept_loss,
        checkpoint_files=checkpoints or (),
        verify=verify_copy,
    )
    typer.echo(_restore_summary(backup_file, result))


def _restore_summary(backup_file: Path, result: RestoreResult) -> str:
    lines = [f"restored {backup_file} to {result.target} (audit entries 1–{result.tip})"]
    lines += [f"  {line}" for line in str(result.verdict).splitlines()]
    if result.latest is not None and result.lost:
        lines.append(
            f"LOST: {result.lost} acknowledged entries after entry {result.tip} (the latest "
            f"checkpoint is {result.latest.seq}, signed {result.latest.signed_at}); accepted"
        )
    if result.replaced is not None:
        lines.append(f"the replaced database is kept as {result.replaced}")
    if result.archived_log is not None:
        lines.append(f"the checkpoint log that signed the lost entries is kept as "
                     f"{result.archived_log}")  # fmt: skip
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


def verify_copy(
    engine: Engine, keys: TrialKeys | None, checkpoint_files: Sequence[Path]
) -> AuditReport:
    """What `audit verify` checks, on a copy: its trail with the live key file (a copy has none
    beside it) against the given checkpoints, the acting users, and every row (when the copy
    is at this endotrial's revision)."""
    reconcile = current_revision(engine) == head_revision()
    return verify_everything(
        engine, keys=keys, checkpoint_files=checkpoint_files, reconcile=reconcile
    )
