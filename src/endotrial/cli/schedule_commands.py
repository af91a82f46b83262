"""`endotrial schedule`: one participant's calendar from the protocol."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import ProtocolOption, parse_date, parse_pairs
from endotrial.errors import InputError
from endotrial.protocol import Protocol, load_protocol
from endotrial.schedule import (
    build_schedule,
    render_schedule_ics,
    render_schedule_json,
    render_schedule_table,
)


class ScheduleFormat(StrEnum):
    table = "table"
    json = "json"
    ics = "ics"


@app.command("schedule")
@user_errors
def schedule(
    arm: Annotated[str, typer.Option("--arm", help="Arm id, e.g. hbmsc or control.")],
    cycle_start: Annotated[
        str, typer.Option("--cycle-start", help="Day 1 of the first cycle (YYYY-MM-DD).")
    ],
    actual: Annotated[
        list[str] | None,
        typer.Option("--actual", help="EVENT=YYYY-MM-DD: a date already known (repeatable)."),
    ] = None,
    output_format: Annotated[
        ScheduleFormat, typer.Option("--format", help="table, json or ics.")
    ] = ScheduleFormat.table,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file.")] = None,
    participant: Annotated[
        str | None,
        typer.Option(
            "--participant",
            metavar="LABEL",
            help="The participant's study id (never her name), shown in the calendar's events "
            "and their UIDs so several participants' calendars can be imported into one.",
        ),
    ] = None,
    protocol_id: ProtocolOption = None,
) -> None:
    """The calendar of every event with its window, for one arm."""
    protocol = load_protocol(protocol_id)
    anchors = {_root_event(protocol): parse_date(cycle_start, "--cycle-start")}
    for event_id, text in parse_pairs(actual or [], "--actual").items():
        anchors[event_id] = parse_date(text, f"--actual {event_id}")
    built = build_schedule(protocol, arm, anchors)
    if output_format == ScheduleFormat.ics:
        _emit_bytes(render_schedule_ics(built, participant=participant), out)
        return
    renderer = (
        render_schedule_json if output_format == ScheduleFormat.json else render_schedule_table
    )
    _emit_bytes(renderer(built, participant).encode("utf-8"), out)


def _root_event(protocol: Protocol) -> str:
    """The event --cycle-start dates: day 1 of the protocol's first cycle."""
    start = protocol.cycles[0].start_event
    event = next(e for e in protocol.schedule if e.id == start)
    if event.anchor is not None or event.cycle is not None:
        raise InputError(f"the first cycle starts at '{start}', which is dated from another event")
    return start


def _emit_bytes(content: bytes, out: Path | None) -> None:
    if out is None:
        typer.echo(content.decode("utf-8"), nl=False)
        return
    out.write_bytes(content)
    typer.echo(f"wrote {out}", err=True)
