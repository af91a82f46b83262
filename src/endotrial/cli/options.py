"""Option types and parsers shared by commands."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from endotrial.errors import InputError
from endotrial.protocol import default_protocol_id

ProtocolOption = Annotated[
    str | None,
    typer.Option(
        "--protocol",
        "-p",
        help="Bundled protocol id or protocol file (default: the bundled seed protocol "
        f"{default_protocol_id()}).",
    ),
]

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="SQLAlchemy URL, e.g. sqlite:///endotrial.db or postgresql+psycopg://user@host/db "
        "(default: ENDOTRIAL_DATABASE_URL, else sqlite:///endotrial.db).",
    ),
]


def parse_date(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what}: '{text}' is not a date; write YYYY-MM-DD") from None


def parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    """KEY=VALUE options into a mapping; a malformed pair names the option, and a key given
    twice is refused (`sterility=positive` then `sterility=negative` must not read as a pass)."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{what}: '{pair}' is not KEY=VALUE")
        if key.strip() in parsed:
            raise InputError(
                f"{what}: {key.strip()} is given twice ({parsed[key.strip()]!r} and "
                f"{value.strip()!r}): give each result once"
            )
        parsed[key.strip()] = value.strip()
    return parsed
