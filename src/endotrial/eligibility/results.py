"""Screening results: one frozen result per candidate, one run object per file or table.

A screening produces its rows in batches (`ScreeningStream`), so a file of any length is
screened and written in bounded memory; `ScreeningRun` holds them all as one Arrow table
(columnar, so a table of thousands stays cheap) for callers that want them in memory. Both render
as CSV, Parquet, JSON or a short text summary for a shell to print.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from endotrial.errors import InputError
from endotrial.files import atomic_output, escape_formulas, write_problem

Decision = Literal["eligible", "ineligible", "incomplete", "invalid"]
DECISIONS: tuple[Decision, ...] = ("eligible", "ineligible", "incomplete", "invalid")
LIST_COLUMNS = (
    "failed_criteria",
    "unknown_criteria",
    "missing_items",
    "eligible_arms",
    "arm_notes",
    "errors",
)
RESULT_COLUMNS = ("candidate_id", "row", "decision", *LIST_COLUMNS)
TO_CONFIRM_NOTE = "to confirm at enrolment"
CSV_OUTPUT_SUFFIXES = (".csv",)
PARQUET_OUTPUT_SUFFIXES = (".parquet", ".pq")
OUTPUT_SUFFIXES = (*CSV_OUTPUT_SUFFIXES, *PARQUET_OUTPUT_SUFFIXES)


@dataclass(frozen=True)
class CandidateResult:
    """One candidate's screening, as a form shows it."""

    candidate_id: str | None
    decision: Decision
    failed: tuple[tuple[str, str], ...]
    """(criterion id, its text) for each inclusion not met or exclusion met."""
    unknown: tuple[tuple[str, tuple[str, ...]], ...]
    """(criterion id, items still missing for it) for each criterion still UNKNOWN."""
    missing_items: tuple[str, ...]
    eligible_arms: tuple[str, ...]
    arm_notes: tuple[str, ...]
    errors: tuple[str, ...]
    to_confirm: tuple[tuple[str, str], ...]
    """(criterion id, what enforces it) for criteria checked at enrolment, not at screening."""

    @property
    def is_eligible(self) -> bool:
        return self.decision == "eligible"


@dataclass(frozen=True)
class ScreeningRun:
    """Every candidate of one file or table, with the warnings about the file itself."""

    protocol_id: str
    source: str
    results: pa.Table
    file_warnings: tuple[str, ...] = ()
    to_confirm: tuple[tuple[str, str], ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return int(self.results.num_rows)

    @property
    def rows_with_errors(self) -> int:
        return _rows_with_errors(self.results)

    def rows(self) -> list[dict[str, Any]]:
        """The results as plain dicts (lists stay lists), for JSON and small files."""
        rows: list[dict[str, Any]] = self.results.to_pylist()
        return rows

    def write(self, path: str | Path) -> Path:
        """Write the results as Parquet (`.parquet`) or CSV (lists joined by '; ', formulas
        escaped), whole or not at all (see `result_file`)."""
        with result_file(path) as out:
            for batch in self.results.to_batches():
                out.write(batch)
        return out.target

    def to_dict(self) -> dict[str, Any]:
        return {
            **_header(self.protocol_id, self.source, self.file_warnings, self.to_confirm),
            "counts": dict(self.counts),
            "candidates": self.rows(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def summary(self) -> str:
        """A few lines a coordinator reads first: counts, warnings, what enrolment must confirm."""
        return render_summary(
            self.source,
            self.protocol_id,
            self.total,
            self.counts,
            self.rows_with_errors,
            self.file_warnings,
            self.to_confirm,
        )


@dataclass
class ScreeningStream:
    """A screening whose rows arrive in batches, as they are screened: iterate it once (the
    counts fill in on the way), or `collect` it into a `ScreeningRun`."""

    protocol_id: str
    source: str
    total: int
    """Rows in the source, known before screening (the progress of a long file)."""
    batches: Iterator[pa.RecordBatch]
    file_warnings: tuple[str, ...] = ()
    to_confirm: tuple[tuple[str, str], ...] = ()
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DECISIONS, 0))
    rows_with_errors: int = 0
    screened: int = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch in self.batches:
            for decision, count in count_decisions(batch).items():
                self.counts[decision] += count
            self.rows_with_errors += _rows_with_errors(batch)
            self.screened += batch.num_rows
            yield batch

    def collect(self) -> ScreeningRun:
        batches = list(self)
        results = pa.Table.from_batches(batches, schema=RESULT_SCHEMA)
        return ScreeningRun(
            protocol_id=self.protocol_id,
            source=self.source,
            results=results,
            file_warnings=self.file_warnings,
            to_confirm=self.to_confirm,
            counts=dict(self.counts),
        )

    def header(self) -> dict[str, Any]:
        return _header(self.protocol_id, self.source, self.file_warnings, self.to_confirm)

    def summary(self) -> str:
        """The summary of what was screened so far (all of it once iterated)."""
        return render_summary(
            self.source,
            self.protocol_id,
            self.screened,
            self.counts,
            self.rows_with_errors,
            self.file_warnings,
            self.to_confirm,
        )


RESULT_SCHEMA = pa.schema(
    [
        pa.field("candidate_id", pa.string()),
        pa.field("row", pa.int64()),
        pa.field("decision", pa.string()),
        *(pa.field(name, pa.list_(pa.string())) for name in LIST_COLUMNS),
    ]
)


def _header(
    protocol_id: str,
    source: str,
    file_warnings: Iterable[str],
    to_confirm: Iterable[tuple[str, str]],
) -> dict[str, Any]:
    return {
        "protocol_id": protocol_id,
        "source": source,
        "file_warnings": list(file_warnings),
        "to_confirm_at_enrolment": [
            {"criterion": cid, "enforced_by": by} for cid, by in to_confirm
        ],
    }


def render_summary(
    source: str,
    protocol_id: str,
    total: int,
    counts: Mapping[str, int],
    rows_with_errors: int,
    file_warnings: Iterable[str],
    to_confirm: Iterable[tuple[str, str]],
) -> str:
    """A few lines a coordinator reads first: counts, warnings, what enrolment must confirm."""
    shown_counts = ", ".join(f"{counts.get(d, 0)} {d}" for d in DECISIONS)
    lines = [f"{source}: {_plural(total, 'candidate')} screened against {protocol_id}"]
    lines.append(f"  {shown_counts}")
    if rows_with_errors:
        lines.append(f"  {_plural(rows_with_errors, 'row')} with value errors (see `errors`)")
    lines.extend(f"  warning: {warning}" for warning in file_warnings)
    lines.extend(f"  {cid} {TO_CONFIRM_NOTE}" + (f": {by}" if by else "") for cid, by in to_confirm)
    return "\n".join(lines)


def _rows_with_errors(results: pa.Table | pa.RecordBatch) -> int:
    lengths = pc.list_value_length(results.column("errors"))
    return int(pc.sum(pc.greater(lengths, 0)).as_py() or 0)


class ResultWriter:
    """Writes result batches to an open Parquet or CSV writer; a disk failure names the file."""

    def __init__(self, target: Path, handle: IO[bytes]) -> None:
        self.target = target
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pacsv.CSVWriter | None = None
        try:
            if target.suffix.lower() in PARQUET_OUTPUT_SUFFIXES:
                self._parquet = pq.ParquetWriter(handle, RESULT_SCHEMA)
            else:
                self._csv = pacsv.CSVWriter(handle, FLAT_SCHEMA)  # writes the header now
        except OSError as error:
            raise write_problem(target, error) from None

    def write(self, batch: pa.RecordBatch) -> None:
        try:
            if self._parquet is not None:
                self._parquet.write_batch(batch)
            elif self._csv is not None:
                self._csv.write_batch(escape_formulas(_flattened(batch)))
        except OSError as error:
            raise write_problem(self.target, error) from None

    def close(self) -> None:
        writer = self._parquet or self._csv
        self._parquet = self._csv = None
        if writer is not None:
            try:
                writer.close()
            except OSError as error:
                raise write_problem(self.target, error) from None


@contextmanager
def result_file(path: str | Path) -> Iterator[ResultWriter]:
    """Results written batch by batch to `.parquet`/`.pq` or `.csv`, whole or not at all: into a
    temporary file beside the target, renamed over it when the `with` block ends without error.
    CSV cells have their lists joined by '; ' and a leading = + - @ tab or CR escaped with an
    apostrophe, so a spreadsheet shows a candidate's text and never runs it as a formula."""
    target = checked_output_path(path)
    with atomic_output(target) as handle:
        writer = ResultWriter(target, handle)
        try:
            yield writer
        except BaseException:
            with suppress(InputError, pa.ArrowException):
                writer.close()  # the half file goes; only its writer must not leak
            raise
        writer.close()


#: Rows turned into Python objects at a time: a dict of lists per row costs far more memory than
#: the row in Arrow, so a batch is converted a slice at a time.
PYTHON_ROWS = 4096


def python_rows(batch: pa.RecordBatch) -> Iterator[list[dict[str, Any]]]:
    """The batch's rows as plain dicts, a slice of PYTHON_ROWS at a time."""
    for start in range(0, batch.num_rows, PYTHON_ROWS):
        rows: list[dict[str, Any]] = batch.slice(start, PYTHON_ROWS).to_pylist()
        yield rows


class JsonWriter:
    """The results as one JSON document written as they arrive: the file's facts, then the
    candidates one per line, then the counts (known only at the end)."""

    def __init__(self, write: Callable[[str], object], header: Mapping[str, Any]) -> None:
        self._out = write
        opening = json.dumps(dict(header), ensure_ascii=False, indent=2)
        self._out(opening[: opening.rindex("}")].rstrip() + ',\n  "candidates": [')
        self._first = True

    def write(self, batch: pa.RecordBatch) -> None:
        for rows in python_rows(batch):
            lines = [json.dumps(row, ensure_ascii=False) for row in rows]
            if not lines:
                continue
            separator = "\n    " if self._first else ",\n    "
            self._out(separator + ",\n    ".join(lines))
            self._first = False

    def finish(self, counts: Mapping[str, int]) -> None:
        closing = "\n  ]" if not self._first else "]"
        self._out(f'{closing},\n  "counts": {json.dumps(dict(counts))}\n}}\n')


def checked_output_path(path: str | Path) -> Path:
    """`path` when its suffix names a format the results can be written as; else an error
    naming the supported ones (a results.xlsx holding CSV text would open as garbage)."""
    target = Path(path)
    if target.suffix.lower() not in OUTPUT_SUFFIXES:
        given = f"'{target.suffix}'" if target.suffix else "no extension"
        raise InputError(
            f"{target}: cannot write results with {given}: name the file "
            f"{', '.join(OUTPUT_SUFFIXES)} (.csv is comma-separated text a spreadsheet opens)"
        )
    return target


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def count_decisions(results: pa.Table | pa.RecordBatch) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(DECISIONS, 0)
    for entry in pc.value_counts(results.column("decision")).to_pylist():
        counts[str(entry["values"])] = int(entry["counts"])
    return counts


FLAT_SCHEMA = pa.schema(
    [pa.field(f.name, pa.string()) if f.name in LIST_COLUMNS else f for f in RESULT_SCHEMA]
)


def _flattened(results: pa.RecordBatch) -> pa.RecordBatch:
    """The list columns joined by '; ', for CSV."""
    arrays = [
        pc.binary_join(results.column(name), "; ") if name in LIST_COLUMNS else results.column(name)
        for name in results.schema.names
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=FLAT_SCHEMA)
