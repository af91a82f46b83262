"""`endotrial schedule`: one participant's calendar from the protocol."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import ProtocolOption, parse_date, parse_pairs
from endotrial.cli.output import ForceOption, write_output
from endotrial.errors import InputError
from endotrial.files import check_output_file
from endotrial.outcomes.measures import measures_to_take
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
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write to this file (an existing one only with --force)."),
    ] = None,
    participant: Annotated[
        str | None,
        typer.Option(
            "--participant",
            metavar="LABEL",
            help="The participant's study id (never her name), shown in the calendar's events "
            "and their UIDs so several participants' calendars can be imported into one.",
        ),
    ] = None,
    force: ForceOption = False,
    protocol_id: ProtocolOption = None,
) -> None:
    """The calendar of every event with its window, for one arm."""
    if out is not None:
        check_output_file(out, inputs=_protocol_file(protocol_id), force=force)
    protocol = load_protocol(protocol_id)
    anchors = {_root_event(protocol): parse_date(cycle_start, "--cycle-start")}
    for event_id, text in parse_pairs(actual or [], "--actual").items():
        anchors[event_id] = parse_date(text, f"--actual {event_id}")
    built = build_schedule(protocol, arm, anchors)
    measures = measures_to_take(protocol)  # what the protocol's outcome measures ask for
    if output_format == ScheduleFormat.ics:
        ics = render_schedule_ics(built, participant=participant, measures=measures)
        _emit_bytes(ics, out, force)
        return
    renderer = (
        render_schedule_json if output_format == ScheduleFormat.json else render_schedule_table
    )
    _emit_bytes(renderer(built, participant, measures=measures).encode("utf-8"), out, force)


def _root_event(protocol: Protocol) -> str:
    """The event --cycle-start dates: day 1 of the protocol's first cycle."""
    start = protocol.cycles[0].start_event
    event = next(e for e in protocol.schedule if e.id == start)
    if event.anchor is not None or event.cycle is not None:
        raise InputError(f"the first cycle starts at '{start}', which is dated from another event")
    return start


def _emit_bytes(content: bytes, out: Path | None, force: bool) -> None:
    if out is None:
        typer.echo(content.decode("utf-8"), nl=False)
        return
    write_output(content, out, force=force)
    typer.echo(f"wrote {out}", err=True)


def _protocol_file(protocol_id: str | None) -> tuple[Path, ...]:
    """The protocol file named by --protocol, when it names a file: never to be overwritten."""
    if protocol_id is None or not Path(protocol_id).is_file():
        return ()
    return (Path(protocol_id),)
