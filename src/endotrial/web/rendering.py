"""The pages' templates: Jinja2 with autoescaping, gettext from the reader's catalogue (looked
up in each render's context, so two readers in two languages never share one), and filters
that show dates, durations and numbers in her locale."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from endotrial.services import FieldChangeView
from endotrial.web import i18n
from endotrial.web.deps import (
    SEES_SAFETY_KEY,
    SEES_SCREENING_KEY,
    SEES_TEAM_KEY,
    csrf_token,
    request_language,
)

TEMPLATE_DIR = Path(__file__).parent / "templates"


@pass_context
def _gettext(context: Context, message: str) -> str:
    return i18n.translations(context["language"]).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return i18n.translations(context["language"]).ngettext(singular, plural, n)


@pass_context
def _date(context: Context, day: dt.date | None, form: str = "medium") -> str:
    return i18n.date_text(day, context["language"], form)


@pass_context
def _datetime(context: Context, moment: dt.datetime | None, with_zone: bool = False) -> str:
    """A moment in the reader's zone (UTC unless set); `with_zone` names the zone (a
    signature's moment must not be ambiguous)."""
    zone = context.get("time_zone", "UTC")
    text = i18n.datetime_text(moment, context["language"], zone)
    return f"{text} ({zone})" if with_zone and text else text


@pass_context
def _duration(context: Context, delta: dt.timedelta) -> str:
    return i18n.duration_text(delta, context["language"])


@pass_context
def _number(context: Context, value: float | int) -> str:
    return i18n.number_text(value, context["language"])


@pass_context
def _percent(context: Context, fraction: float) -> str:
    return i18n.percent_text(fraction, context["language"])


@pass_context
def _label(context: Context, value: object) -> str:
    """A value the code names (a state, a status), in the reader's language."""
    return label_text(value, context["language"])


def label_text(value: object, language: str) -> str:
    text = str(getattr(value, "value", value))
    if text not in LABELS:  # not a word of the code's: shown as it is
        return text
    return i18n.translations(language).gettext(LABELS[text])


@pass_context
def _history(context: Context, changes: Sequence[FieldChangeView]) -> Markup:
    """A field's audit trail as her records show it: its changes folded under their count,
    each when (in the reader's zone), who, what (old → new) and why. Made here in one call:
    a page shows hundreds of changes, and the template's calls for each were a third of the
    page's rendering."""
    if not changes:
        return Markup("")
    language, zone = context["language"], context.get("time_zone", "UTC")
    catalogue = i18n.translations(language)
    why = catalogue.gettext("why")
    shown = []
    for change in changes:
        when = i18n.datetime_text(change.occurred_at, language, zone)
        action = label_text(change.action, language)
        text = f"{when} ({zone}) · {change.username} · {action}: "
        text += f"{_or_dash(change.old_value)} → {_or_dash(change.new_value)}"
        if change.reason:
            text += f" · {why}: {change.reason}"
        shown.append(f"<li>{escape(text)}</li>")
    count = len(changes)
    summary = catalogue.ngettext("%(num)d change", "%(num)d changes", count) % {"num": count}
    return Markup(
        f"<details><summary>{escape(summary)}</summary>\n<ol>{''.join(shown)}</ol>\n</details>"
    )


def _or_dash(value: str | None) -> str:
    return value if value is not None else "–"


#: Words the reads return as values, in English (translated where they are shown). A protocol's
#: own names (arms, cycles, events) are shown as its file writes them: the engine knows no
#: trial by name.
LABELS = {
    "done": i18n.N_("done"),
    "out_of_window": i18n.N_("out of window"),
    "due": i18n.N_("due"),
    "overdue": i18n.N_("overdue"),
    "not_yet_due": i18n.N_("not yet due"),
    "not_applicable": i18n.N_("not applicable"),
    "missed": i18n.N_("missed"),
    "screened": i18n.N_("screened"),
    "consented": i18n.N_("consented"),
    "enrolled": i18n.N_("enrolled"),
    "allocated": i18n.N_("allocated"),
    "withdrawn": i18n.N_("withdrawn"),
    "completed": i18n.N_("completed"),
    "open": i18n.N_("open"),
    "answered": i18n.N_("answered"),
    "closed": i18n.N_("closed"),
    "pending": i18n.N_("not yet closed"),
    "all": i18n.N_("all"),
    "approval": i18n.N_("I approve these data as complete and accurate"),
    "review": i18n.N_("I have reviewed these data"),
    "insert": i18n.N_("entered"),
    "update": i18n.N_("changed"),
    "delete": i18n.N_("deleted"),
    "not_related": i18n.N_("not related"),
    "unlikely": i18n.N_("unlikely"),
    "possible": i18n.N_("possible"),
    "probable": i18n.N_("probable"),
    "definite": i18n.N_("definite"),
    "investigator": i18n.N_("investigator"),
    "coordinator": i18n.N_("coordinator"),
    "radiologist": i18n.N_("radiologist"),
    "cell_lab": i18n.N_("cell lab"),
    "embryologist": i18n.N_("embryologist"),
    "monitor": i18n.N_("monitor"),
    "statistician": i18n.N_("statistician"),
    "safety_board": i18n.N_("safety board"),
    "(not allocated)": i18n.N_("(not allocated)"),
}


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # installed with the package: no stat of each template per page
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        date=_date,
        datetime=_datetime,
        duration=_duration,
        number=_number,
        percent=_percent,
        label=_label,
        history=_history,
    )
    return env


TEMPLATES = Jinja2Templates(env=environment())


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render template `name` for this request (its language, session and CSRF token)."""
    values = {
        "language": request_language(request),
        "languages": i18n.LANGUAGES,
        "html_lang": i18n.html_lang(request_language(request)),
        "csrf_token": csrf_token(request),
        "username": request.session.get("username"),
        "sees_safety": bool(request.session.get(SEES_SAFETY_KEY)),
        "sees_team": bool(request.session.get(SEES_TEAM_KEY)),
        "sees_screening": bool(request.session.get(SEES_SCREENING_KEY)),
        **context,
    }
    return TEMPLATES.TemplateResponse(request, name, values, status_code=status_code)
