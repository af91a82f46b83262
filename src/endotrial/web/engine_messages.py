"""The eligibility engine's value problems, read back into a code and its values.

The engine words a bad value itself, in English, inside its SQL ("afc: 'x' is not a number;
...", "row 3, column afc: ..."): it has no error code to translate by. Each of its phrasings is
written here once as a template; a message is matched against them and said again in the
reader's language through the catalogues like any error. A message that matches none is shown
as the engine wrote it. `tests/web/test_engine_messages.py` makes the engine write every kind
and checks that each is read back, so a phrase changed in the engine fails there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Where a problem is: before the first ": " of the message.
WHERE_MESSAGES: dict[str, str] = {
    "engine.where_row_column": "row {row}, column {column}",
    "engine.where_row_line": "row {row} (line {line})",
    "engine.where_a_row": "a row",
}
#: What is wrong with the value, after the first ": ".
PROBLEM_MESSAGES: dict[str, str] = {
    "engine.not_number": "'{value}' is not a number; correct it, or leave it blank if not known",
    "engine.not_whole_number": "'{value}' is not a whole number; correct it",
    "engine.below_minimum": "'{value}' is below the minimum {minimum}; correct the value",
    "engine.above_maximum": "'{value}' is above the maximum {maximum}; correct the value",
    "engine.not_yes_no": "'{value}' is not yes/no; write true/false, yes/no, y/n or 1/0",
    "engine.not_date": "'{value}' is not a valid date; write it as yyyy-mm-dd",
    "engine.not_allowed": "'{value}' is not one of {allowed}; correct the value",
    "engine.too_early": "'{value}' is before {earliest}: check the year",
    "engine.after_reference": (
        "'{value}' is after {reference} {reference_date} (a date in the future); correct the date"
    ),
    "engine.in_future": "'{value}' is a date in the future (today is {today}); correct the date",
    "engine.disagrees": (
        "'{value}' disagrees with {computed} computed from {inputs}; correct one of them, or "
        "leave {item} blank"
    ),
    "engine.impossible": (
        "{computed} computed from {inputs} lies outside {range}, which is impossible; correct "
        "{inputs_again}"
    ),
    "engine.blank_id": "blank; give every candidate a unique id",
    "engine.repeated_id": "'{value}' repeats the id of row {first_row}; give each candidate a "
    "unique id",
    "engine.ragged_row": (
        "{fields} field(s) where the header has {columns}, so the values cannot be matched to "
        "columns; the row was not screened: check its commas (quote a value holding a comma) and "
        "screen it again"
    ),
}
#: The two joined: "{where}: {problem}".
JOINED_MESSAGE = {"engine.problem_at": "{where}: {problem}"}
#: Every template, for the catalogue.
ENGINE_MESSAGES: dict[str, str] = {**WHERE_MESSAGES, **PROBLEM_MESSAGES, **JOINED_MESSAGE}

_PLACEHOLDER = re.compile(r"\\\{(\w+)\\\}")
#: Values that are counts or row numbers: digits only. The others but the typed value are
#: the protocol's words and numbers, never holding ";" or "'": so only the value can stretch,
#: and a message is matched in time linear in its length.
_COUNTS = {"row", "line", "first_row", "fields", "columns"}
_TYPED = {"value", "column"}
#: Longer messages, or more of them at once, are shown as written (a refusal lists a few short
#: ones): reading them back stays quick whatever was typed.
MAX_READ_CHARS = 10_000
MAX_READ_PARTS = 100
#: Where the next of messages joined with "; " may begin: "; " before a place and ": ".
_NEXT_MESSAGE = re.compile(
    r"; (?=(?:row [0-9]+(?: \(line [0-9]+\))?(?:, column [^:;]*)?|a row|[A-Za-z_]\w*): )"
)
#: An item's name, when the message is about a field of a form ("afc: ...").
_ITEM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _pattern(template: str) -> re.Pattern[str]:
    """The template as a regular expression with a named group per value."""
    escaped = re.escape(template).replace(r"field\(s\)", "fields?")

    def group(found: re.Match[str]) -> str:
        name = found.group(1)
        if name in _COUNTS:
            return f"(?P<{name}>[0-9]+)"
        return f"(?P<{name}>.*?)" if name in _TYPED else f"(?P<{name}>[^;']*?)"

    return re.compile(_PLACEHOLDER.sub(group, escaped) + r"\Z", re.DOTALL)


_WHERE = {code: _pattern(text) for code, text in WHERE_MESSAGES.items()}
_PROBLEMS = {code: _pattern(text) for code, text in PROBLEM_MESSAGES.items()}


@dataclass(frozen=True)
class Coded:
    """A message read back: its code and values (`where`: a coded place, or an item's name)."""

    code: str
    params: dict[str, str]
    where_code: str | None
    where: str | dict[str, str]


def read_message(message: str) -> Coded | None:
    """`message` as a code and its values, None when it is not one of the engine's."""
    where_text, separator, problem = message.partition(": ")
    if not separator:
        return None
    place = _place(where_text)
    if place is None:
        return None
    for code, pattern in _PROBLEMS.items():
        found = pattern.match(problem)
        if found:
            return Coded(code, found.groupdict(), *place)
    return None


def _place(where_text: str) -> tuple[str | None, str | dict[str, str]] | None:
    for code, pattern in _WHERE.items():
        found = pattern.match(where_text)
        if found:
            return code, found.groupdict()
    return (None, where_text) if _ITEM.fullmatch(where_text) else None


def read_joined(problems: str) -> list[Coded] | None:
    """Messages joined with "; " (as a refusal lists them) read back one by one; None unless
    every part is one of the engine's. A part begins where "; " is followed by a place and
    ": "; a typed value may hold that too, so parts are joined again until they match."""
    if len(problems) > MAX_READ_CHARS:
        return None
    parts = _NEXT_MESSAGE.split(problems)
    if len(parts) > MAX_READ_PARTS:
        return None
    found: list[Coded] = []
    start = 0
    while start < len(parts):
        for end in range(start + 1, len(parts) + 1):
            coded = read_message("; ".join(parts[start:end]))
            if coded is not None:
                found.append(coded)
                start = end
                break
        else:
            return None
    return found
