"""`endotrial dashboard`: the trial's counts of your sites, read through the services' read
side as a signed-in team member (the CLI reads nothing the services do not let you read)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from endotrial.cli.app import app, user_errors
from endotrial.cli.options import DatabaseOption, ProtocolOption, parse_date
from endotrial.protocol import load_protocol
from endotrial.services import Dashboard, VisitDue, dashboard, open_study, sign_in, sign_out
from endotrial.services import visits_due as read_visits_due
from endotrial.store import open_existing

#: Where a script gives the password (a person is asked for it, hidden, when it is not set).
PASSWORD_ENV = "ENDOTRIAL_PASSWORD"


@app.command("dashboard")
@user_errors
def dashboard_command(
    user: Annotated[
        str,
        typer.Option(
            "--user",
            help=f"Your username; the password is asked for (or read from {PASSWORD_ENV}).",
        ),
    ],
    database: DatabaseOption = None,
    protocol_id: ProtocolOption = None,
    on: Annotated[
        str | None,
        typer.Option("--on", help="The day counted (YYYY-MM-DD; default: your site's today)."),
    ] = None,
    visits: Annotated[
        int | None,
        typer.Option(
            "--visits",
            min=0,
            max=366,
            help="Also list each visit due, overdue, or opening within this many days.",
        ),
    ] = None,
) -> None:
    """Enrolment by arm and site against the target, visits due and overdue, open queries and
    serious adverse events awaiting their expedited report, for the sites you work at."""
    day = parse_date(on, "--on") if on is not None else None
    password = os.environ.get(PASSWORD_ENV) or typer.prompt("password", hide_input=True)
    engine = open_existing(database)
    try:
        study = open_study(engine, load_protocol(protocol_id))
        actor = sign_in(study, user, password)
        try:
            board = dashboard(study, actor, on=day)
            due = read_visits_due(study, actor, within_days=visits, on=day) if visits else None
        finally:
            sign_out(study, actor)
    finally:
        engine.dispose()
    typer.echo(render_dashboard(board))
    if due is not None:
        typer.echo(render_visits(due))


def render_dashboard(board: Dashboard) -> str:
    arms = ", ".join(f"{a.arm} {a.count}" for a in board.enrolled_by_arm)
    lines = [
        f"dashboard on {board.on}: enrolled {board.enrolled} of {board.enrolment_target} ({arms})",
    ]
    for site in board.sites:
        by_arm = ", ".join(f"{a.arm} {a.count}" for a in site.enrolled_by_arm)
        lines += [
            f"site {site.site_code}: screened {site.screened} ({site.eligible} eligible), "
            f"enrolled {site.enrolled} ({by_arm}), withdrawn {site.withdrawn}",
            f"  visits due {site.visits_due}, overdue {site.visits_overdue}; queries open "
            f"{site.open_queries}, answered {site.answered_queries}; adverse events "
            f"{site.adverse_events} ({site.serious_adverse_events} serious)",
        ]
    lines.append(
        f"serious adverse events awaiting their expedited report: "
        f"{len(board.serious_awaiting_report)}"
    )
    for event in board.serious_awaiting_report:
        left = event.report_time_left
        hours = left.total_seconds() / 3600 if left is not None else 0.0
        when = f"{hours:.0f} h left" if hours >= 0 else f"past due by {-hours / 24:.0f} days"
        lines.append(f"  {event.study_id} {event.term} (onset {event.onset_date}): {when}")
    return "\n".join(lines)


def render_visits(visits: tuple[VisitDue, ...]) -> str:
    lines = [f"visits due, overdue or coming: {len(visits)}"]
    lines += [
        f"  {v.date}  {v.study_id:<10} {v.state.value:<12} {v.label} "
        f"(window {v.earliest} to {v.latest})"
        for v in visits
    ]
    return "\n".join(lines)
