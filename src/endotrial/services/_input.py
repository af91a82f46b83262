"""Typed input of the operations: each is validated whole when it is built, and a wrong type,
shape or range is an `InvalidInput` naming the field, never a TypeError deep in a service.

The same models are what the REST API reads from JSON (strict types; in JSON a date is text).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from endotrial.services.errors import InvalidInput

#: Row ids: positive and small enough for every database's integer column.
RecordId = Annotated[int, Field(gt=0, lt=2**53)]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Text as typed, without surrounding blanks; control characters (a NUL pasted from a
    binary file, a terminal escape) and lone surrogates are refused rather than stored."""
    if _CONTROL.search(text) or _SURROGATE.search(text):
        raise ValueError("contains control characters: retype it")
    return text.strip()


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _nonblank(text: str) -> str:
    if not text:
        raise ValueError("is blank: give a value")
    return text


#: A short label or code (an id, a version, a term), not blank.
Label = Annotated[str, AfterValidator(clean_text), AfterValidator(_nonblank), Field(max_length=200)]
#: Free text (a description, an answer), not blank.
Text = Annotated[str, AfterValidator(clean_text), AfterValidator(_nonblank), Field(max_length=4000)]


def _optional(text: str | None) -> str | None:
    if text is None:
        return None
    if len(text) > 4000:
        raise ValueError("is longer than 4000 characters")
    return clean_text(text) or None


#: Optional free text: blank is the same as not given.
OptionalText = Annotated[str | None, AfterValidator(_optional)]
#: An optional short label or code (a lot number, an outcome word).
OptionalLabel = Annotated[Label | None, Field(default=None)]
#: A table or field name.
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class ServiceInput(BaseModel):
    """Base of every operation's input: frozen, unknown fields refused, types strict (a number
    given as text, or a flag as 1, is refused), no NaN or infinity."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise invalid_input(type(self).__name__, error) from None


def invalid_input(what: str, error: ValidationError) -> InvalidInput:
    """One InvalidInput listing every problem of the input, field by field."""
    problems = [_problem(e) for e in error.errors()]
    first = error.errors()[0]["loc"] if error.errors() else ()
    field = ".".join(str(p) for p in first) or None
    return InvalidInput("input.invalid", field=field, what=what, problems="; ".join(problems))


def _problem(entry: Any) -> str:
    where = ".".join(str(p) for p in entry["loc"]) or "(input)"
    message = str(entry["msg"]).removeprefix("Value error, ")
    if entry["type"] == "extra_forbidden":
        message = "is not a field of this operation (misspelt?)"
    if entry["type"] == "missing":
        message = "is required"
    given = entry.get("input")
    secret = any("password" in str(part) for part in entry["loc"])
    quiet = secret or entry["type"] in ("missing", "extra_forbidden")
    shown = "" if quiet else f" (given {given!r:.60})"
    return f"{where} {message}{shown}"


def as_date(value: object, field: str) -> dt.date:
    """A date given to an operation outside an input model (a keyword argument)."""
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise InvalidInput(
            "input.invalid", field=field, what=field, problems=f"{value!r:.60} is not a date"
        )
    return value


def as_id(value: object, field: str) -> int:
    """A record id given to an operation outside an input model."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**53:
        raise InvalidInput(
            "input.invalid", field=field, what=field, problems=f"{value!r:.60} is not a record id"
        )
    return value


def as_text(value: object, field: str, *, max_length: int = 4000) -> str:
    """Free text given to an operation outside an input model, cleaned as `Text` is."""
    if not isinstance(value, str) or len(value) > max_length:
        raise InvalidInput(
            "input.invalid",
            field=field,
            what=field,
            problems=f"give text of at most {max_length} characters",
        )
    try:
        return clean_text(value)
    except ValueError as error:
        raise InvalidInput("input.invalid", field=field, what=field, problems=str(error)) from None
