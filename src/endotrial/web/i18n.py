"""Languages of the pages and the API: Babel catalogues, the services' errors translated by code,
dates and numbers in the reader's locale.

The catalogues are the `.po` files under `locale/` (updated by `python -m
endotrial.web.catalogue update`, see docs/web.md); they are compiled in memory when first
used, so a fresh install needs no build step and no compiled `.mo` file can go stale. A
services' error is translated by its code (the message context) with the English text as its
id: a changed English text makes the translation fuzzy, and a fuzzy or missing one falls back
to English.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

from endotrial.errors import EndotrialError
from endotrial.services import messages
from endotrial.web import engine_messages

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
#: The languages offered, each named in itself (for the language switch).
LANGUAGES: dict[str, str] = {"en": "English", "zh_Hans": "简体中文"}
#: Accept-Language tags read as a language offered (any Chinese as simplified Chinese: the
#: first site is in Guangzhou).
_TAG_PREFIXES = (("zh", "zh_Hans"), ("en", "en"))


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


#: Messages of the web itself (not the services'), keyed by their code like the services'.
WEB_MESSAGES: dict[str, str] = {
    "web.csrf": (
        "this form is out of date or was not sent by this site (its security token is missing "
        "or wrong): reload the page and send it again"
    ),
    "web.not_found": "there is no page at {path}: check the address",
    "web.method": "{method} is not allowed on {path}",
    "web.invalid": "{field}: {problem}",
    "web.internal": (
        "something went wrong on the server; nothing was changed by this request. If it happens "
        "again, tell the trial's data manager the time it happened"
    ),
    "web.database": (
        "the database did not answer (it may be busy or unreachable); nothing was changed: try "
        "again in a moment"
    ),
    "web.language": "unknown language '{language}': choose one of {languages}",
    "web.too_large": "the request is larger than {limit_mb} MB: send less at once",
    "web.idempotency_key": (
        "the Idempotency-Key header must hold 1 to {limit} characters: send a new unique key "
        "(a UUID) with each new request, and the same key only when sending it again"
    ),
    "web.idempotency_in_progress": (
        "a request with this Idempotency-Key is still being done: wait for its answer, or send "
        "again in a moment (it will then be answered as the first was)"
    ),
    "web.still_saving": (
        "this form, posted a moment ago, is still being saved: wait a few seconds and open the "
        "page again to see whether it was"
    ),
    "web.idempotency_reused": (
        "this Idempotency-Key was used with a different request body: a key stands for one "
        "request; send a new key for a new request"
    ),
    **engine_messages.ENGINE_MESSAGES,
}
#: Codes whose parameter holds the eligibility engine's own words (one message, or several
#: joined with "; "), said again in the reader's language where they can be read back.
_ENGINE_WORDED = {"import.value": "message", "input.candidate_values": "problems"}


def language_of(tag: str | None) -> str | None:
    """The language offered for a stored choice or an Accept-Language header, if any."""
    if not tag:
        return None
    if tag in LANGUAGES:
        return tag
    for part in tag.split(","):
        code = part.split(";")[0].strip().lower().replace("_", "-")
        for prefix, language in _TAG_PREFIXES:
            if code == prefix or code.startswith(prefix + "-"):
                return language
    return None


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of `language` (English: the messages as written)."""
    po_file = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == DEFAULT_LANGUAGE or not po_file.is_file():
        return NullTranslations()
    with po_file.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@functools.cache
def locale_of(language: str) -> Locale:
    """Parsed once per language: a page formats hundreds of dates and numbers."""
    return Locale.parse(language)


def html_lang(language: str) -> str:
    """The language as an HTML lang attribute (BCP 47: zh-Hans)."""
    return language.replace("_", "-")


def error_message(error: EndotrialError, language: str) -> str:
    """The error's message in `language`: its code's translation with its parameters filled in
    as the English message fills them, or the English message when there is none (or when a
    translation names a parameter the error does not carry)."""
    return coded_message(
        error.code, error.message, {"field": error.field, **error.params}, language
    )


def coded_message(code: str, message: str, params: Mapping[str, Any], language: str) -> str:
    """`message` (English, as the services said it) in `language`, from its `code` and
    `params` as `error_message` says it."""
    english = messages.MESSAGES.get(code) or WEB_MESSAGES.get(code)
    if english is None:
        return message
    worded = _ENGINE_WORDED.get(code)
    if worded and isinstance(params.get(worded), str) and language != DEFAULT_LANGUAGE:
        params = {**params, worded: engine_message(params[worded], language)}
    template = str(translations(language).pgettext(code, english))
    if template == english and code in messages.MESSAGES and not worded:
        return message
    try:
        return fill(template, {"field": None, **params})
    except (KeyError, IndexError, ValueError):
        return message if code in messages.MESSAGES else fill(english, params)


def fill(template: str, params: Mapping[str, Any]) -> str:
    """A message template filled as the services fill theirs (lists comma-separated, dates
    as YYYY-MM-DD)."""
    return messages.fill(template, params)


def web_message(code: str, language: str, **params: Any) -> str:
    template = str(translations(language).pgettext(code, WEB_MESSAGES[code]))
    try:
        return fill(template, params)
    except (KeyError, IndexError, ValueError):
        return fill(WEB_MESSAGES[code], params)


def engine_message(message: str, language: str) -> str:
    """The eligibility engine's problem message(s) (joined with "; ") in `language`; as
    written where one is not the engine's."""
    if language == DEFAULT_LANGUAGE:
        return message
    found = engine_messages.read_joined(message)
    if found is None:
        return message
    return "; ".join(_engine_said(coded, language) for coded in found)


def _engine_said(coded: engine_messages.Coded, language: str) -> str:
    problem = web_message(coded.code, language, **coded.params)
    where = coded.where
    if coded.where_code is not None and isinstance(where, dict):
        where = web_message(coded.where_code, language, **where)
    return web_message("engine.problem_at", language, where=where, problem=problem)


@functools.lru_cache(maxsize=4096)  # a page shows the same few days hundreds of times
def date_text(day: dt.date | None, language: str, form: str = "medium") -> str:
    return "" if day is None else format_date(day, format=form, locale=locale_of(language))


@functools.lru_cache(maxsize=16384)  # a trail's moments do not change: each page shows them again
def datetime_text(moment: dt.datetime | None, language: str, zone: str) -> str:
    if moment is None:
        return ""
    return format_datetime(
        moment, format="medium", tzinfo=ZoneInfo(zone), locale=locale_of(language)
    )


def duration_text(delta: dt.timedelta, language: str) -> str:
    return format_timedelta(abs(delta), threshold=1.5, locale=locale_of(language))


def number_text(value: float | int, language: str) -> str:
    return format_decimal(value, locale=locale_of(language))


def percent_text(fraction: float, language: str) -> str:
    """A fraction as a percentage with one decimal (0.1234: 12.3%) in her locale."""
    return format_percent(fraction, "#,##0.0%", locale=locale_of(language))
