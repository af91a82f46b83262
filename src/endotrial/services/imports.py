"""Importing a screening file (CSV or Parquet) into the screening log, every problem at once.

`endotrial screen` only screens a file; this stores its candidates as `screen_many` does (in
one transaction: the whole file or nothing). Before anything is stored, every row is checked
as the screening form would check it (each value against its data item, the candidate id,
repeated ids, rows whose fields do not match the header, columns that are not data items),
and every problem of every row is listed at once with its row, column and message, so a
coordinator corrects the file in one pass. With `dry_run` nothing is stored even when the
file is clean: the report then says whether the service would accept it (its site, her role).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from endotrial.eligibility import stream_file
from endotrial.eligibility.sources import from_file
from endotrial.eligibility.sql import ID_COLUMN, ROW_COLUMN
from endotrial.errors import EndotrialError
from endotrial.services.context import Actor, Study
from endotrial.services.dry_run import dry_run as rehearse
from endotrial.services.errors import InvalidInput
from endotrial.services.screening import CandidateInput, ScreeningRecord, screen_many

#: The most candidates one import stores (in one transaction); split a longer file.
MAX_IMPORT_ROWS = 5_000
#: The engine's row messages: "row 3, column age_years: ..." or "row 4 (line 5): ...".
_ROW_MESSAGE = re.compile(r"^row \d+(?: \(line \d+\))?(?:, column (?P<column>[^:]+))?: ")


@dataclass(frozen=True)
class RowProblem:
    """One problem of one row (row 0: the file as a whole, e.g. a column no item has)."""

    row: int
    """The data row, counted from 1 after the header (as `endotrial screen` numbers them)."""
    candidate: str | None
    field: str | None
    """The column concerned, when one is."""
    code: str
    message: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """The error's parameters, to say the message in another language (for a value problem
    the eligibility engine words itself, its words: `message`)."""


@dataclass(frozen=True)
class ScreeningImport:
    """What an import found and did."""

    path: str
    rows: int
    problems: tuple[RowProblem, ...]
    dry_run: bool
    screenings: tuple[ScreeningRecord, ...]
    """The screenings stored (none on a dry run or when any row has a problem)."""

    @property
    def accepted(self) -> bool:
        """Whether the file is (or, on a dry run, would be) stored whole."""
        return not self.problems


def import_screenings(
    study: Study,
    actor: Actor,
    path: str | Path,
    *,
    site_id: int | None = None,
    dry_run: bool = False,
) -> ScreeningImport:
    """Screen every candidate of the file and store them all in the screening log, or list
    every problem of every row and store nothing (see the module)."""
    file = Path(path)
    rows = list(_raw_rows(file))
    problems = [*_column_problems(study, rows), *_value_problems(study, file)]
    candidates: list[CandidateInput] = []
    for number, row in rows:
        candidate, problem = _candidate(number, row, site_id)
        if problem is not None:
            problems.append(problem)
        elif candidate is not None:
            candidates.append(candidate)
    problems.sort(key=lambda p: (p.row, p.field or ""))
    if problems or not candidates:
        return ScreeningImport(str(file), len(rows), tuple(problems), dry_run, ())
    if dry_run:
        rehearsed = rehearse(screen_many, study, actor, candidates)
        refusal = rehearsed.refusal
        if refusal is not None:
            whole = RowProblem(
                0, None, refusal.field, refusal.code, refusal.message, dict(refusal.params)
            )
            return ScreeningImport(str(file), len(rows), (whole,), True, ())
        return ScreeningImport(str(file), len(rows), (), True, ())
    records = screen_many(study, actor, candidates)
    return ScreeningImport(str(file), len(rows), (), False, tuple(records))


def _raw_rows(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each data row as read (CSV: text; Parquet: typed), with its number; refused beyond
    MAX_IMPORT_ROWS before anything is screened or stored."""
    reading = from_file(file).open(None, None)
    count = 0
    for batch in reading.batches:
        for row in batch.to_pylist():
            count += 1
            if count > MAX_IMPORT_ROWS:
                raise InvalidInput(
                    "import.too_many_rows", field="path", path=str(file), most=MAX_IMPORT_ROWS
                )
            yield int(row.pop(ROW_COLUMN)), row


def _column_problems(study: Study, rows: list[tuple[int, dict[str, Any]]]) -> list[RowProblem]:
    """Columns that are not data items: every candidate would be refused for them."""
    if not rows:
        return []
    known = {item.name for item in study.protocol.data_items} | {ID_COLUMN}
    protocol = study.protocol.protocol_id
    problems = []
    for column in sorted(set(rows[0][1]) - known):
        error = InvalidInput(
            "import.unknown_column", field=column, column=column, protocol=protocol
        )
        problems.append(RowProblem(0, None, column, error.code, error.message, error.params))
    return problems


def _value_problems(study: Study, file: Path) -> Iterator[RowProblem]:
    """Every value error of every row, as the eligibility engine finds them."""
    for batch in stream_file(study.protocol, file):
        for result in batch.to_pylist():
            for message in result["errors"] or ():
                match = _ROW_MESSAGE.match(message)
                column = match.group("column") if match else None
                yield RowProblem(
                    int(result["row"]), result["candidate_id"], column, "import.value", message,
                    {"message": message},
                )  # fmt: skip


def _candidate(
    number: int, row: Mapping[str, Any], site_id: int | None
) -> tuple[CandidateInput | None, RowProblem | None]:
    """The row as the screening form's input; blank cells are items not recorded."""
    ref = row.get(ID_COLUMN)
    items = {
        name: value
        for name, value in row.items()
        if name != ID_COLUMN
        and value is not None
        and not (isinstance(value, str) and not value.strip())
    }
    if not items and not (isinstance(ref, str) and ref.strip()):
        return None, None  # an empty row (a ragged row's placeholder is reported by the engine)
    try:
        given: dict[str, Any] = {"candidate_ref": ref, "items": items, "site_id": site_id}
        return CandidateInput(**given), None  # a missing or odd id is refused as the form does
    except EndotrialError as error:
        column = ID_COLUMN if (error.field or "").startswith("candidate_ref") else error.field
        if column is not None and column.startswith("items."):
            column = column.removeprefix("items.")
        shown = ref if isinstance(ref, str) else None
        problem = RowProblem(number, shown, column, error.code, error.message, error.params)
        return None, problem
