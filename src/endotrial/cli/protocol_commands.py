"""`endotrial protocol list | show | validate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.output import write_output
from endotrial.eligibility.sql import FALSE_WORDS, ID_COLUMN, TRUE_WORDS
from endotrial.errors import InputError
from endotrial.files import escape_cell
from endotrial.protocol import bundled_protocol_files, load_protocol, load_protocol_file
from endotrial.protocol.models import DataItem, ItemType
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
def validate(
    target: Annotated[
        str, typer.Argument(help="Protocol file to check, or the id of a bundled protocol.")
    ],
) -> None:
    """Check a protocol file; report every problem with its line and field."""
    path = _file_of(target)
    protocol = load_protocol_file(path)
    typer.echo(
        f"{path}: valid protocol {protocol.protocol_id} ({protocol.identity.nct_id}): "
        f"{len(protocol.criteria)} criteria, {len(protocol.schedule)} schedule events, "
        f"{len(protocol.arms)} arms, {len(assumptions(protocol))} labelled assumptions"
    )


def _file_of(target: str) -> Path:
    """The file named, or else the bundled protocol with that id (a file of that name wins)."""
    path = Path(target)
    bundled = bundled_protocol_files().get(target.lower())
    if bundled is not None and not path.exists():
        return bundled
    return path


@protocol_app.command("items")
@user_errors
def items(
    protocol_id: ProtocolOption = None,
    template: Annotated[
        Path | None,
        typer.Option(
            "--template",
            metavar="FILE.csv",
            help="Also write a header-only CSV with these columns, to fill in one candidate "
            "per row (never overwrites a file).",
        ),
    ] = None,
) -> None:
    """The data items a candidate file holds: name, type, unit, allowed values, label."""
    protocol = load_protocol(protocol_id)
    if template is not None:
        _check_template_path(template)
    rows = [("column", "type", "unit", "allowed", "label")]
    rows.append((ID_COLUMN, "text", "", "unique, not blank", "The candidate's screening id"))
    rows += [_item_row(item) for item in protocol.data_items]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())
    if template is not None:
        header = ",".join(_csv_cell(row[0]) for row in rows[1:])
        write_output((header + "\n").encode("utf-8"), template, force=False)
        typer.echo(f"wrote {template}: the header of a candidate file for {protocol.protocol_id}")


def _item_row(item: DataItem) -> tuple[str, str, str, str, str]:
    label = item.label
    if item.derived:
        label += " (computed when blank)"
    if item.not_after_screening:
        label += " (not after screening_date)"
    if item.blank_means:
        label += f" (blank means: {item.blank_means})"
    return (item.name, item.type.value, item.unit or "", _allowed(item), label)


def _allowed(item: DataItem) -> str:
    if item.type == ItemType.boolean:
        return ", ".join(f"{yes}/{no}" for yes, no in zip(TRUE_WORDS, FALSE_WORDS, strict=True))
    if item.type == ItemType.date:
        return "yyyy-mm-dd"
    if item.type == ItemType.category:
        return " / ".join(item.values or [])
    low, high = item.minimum, item.maximum
    if low is not None and high is not None:
        return f"{low:g} to {high:g}"
    if low is not None:
        return f"≥ {low:g}"
    return f"≤ {high:g}" if high is not None else ""


def _csv_cell(name: str) -> str:
    """A column name as a CSV cell: quoted when it needs to be, never run as a formula."""
    cell = escape_cell(name)
    if any(c in cell for c in ',"\n\r'):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _check_template_path(path: Path) -> None:
    if path.suffix.lower() != ".csv":
        raise InputError(f"{path}: name the template .csv (comma-separated, UTF-8)")
    if path.exists():
        raise InputError(f"{path} already exists: choose another name (it is never overwritten)")
