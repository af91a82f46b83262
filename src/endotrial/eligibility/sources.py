"""Candidate rows from a CSV file, a Parquet file or a table in memory, read in batches.

A source is never read whole: it hands out Arrow record batches of a bounded size (a CSV in
blocks of `CSV_BLOCK_BYTES`, Parquet and tables `BATCH_ROWS` rows at a time), so a file of any
length screens in bounded memory. It can be read more than once (the screening reads the ids
first to find repeats, then every column).

A CSV is read with every column as text (the query parses and checks each value, so one bad
value never stops the file); Parquet and in-memory tables keep their types so the fast path
needs no parsing. Every row gets a 1-based number counting data rows (header excluded). A CSV
row with more or fewer fields than the header is not screened: it stays in the stream as an
empty row under its own number, and the reader keeps a message naming its line for the results.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from endotrial.eligibility.sql import FIRST_ROW_COLUMN, ID_COLUMN, ROW_COLUMN, ColumnKind
from endotrial.errors import InputError

TABLE_NAME = "__candidates"
CSV_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Rows per batch read from a Parquet file or a table (about 10-20 MB of a wide candidate table).
BATCH_ROWS = 65_536
#: Bytes of CSV text parsed at a time; a single row longer than this is refused.
CSV_BLOCK_BYTES = 1 << 20
#: Characters of a ragged row's id kept for its message.
MAX_SHOWN_ID = 64


@dataclass
class RowIssue:
    """A row the reader could not screen: the id it seems to have, and why."""

    candidate_id: str | None
    message: str


@dataclass
class RowBatches:
    """One reading of a source: numbered batches, and what the reader found on the way.

    `issues` maps a row number to the problem of a row that was not read (a ragged CSV row); the
    row itself is in the stream as an empty row with that number. `failure` holds the error that
    stopped the reading, so a caller that received it wrapped by another library (DuckDB reads
    the batches) can raise it as it is.
    """

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    issues: dict[int, RowIssue] = field(default_factory=dict)
    rows_read: int = 0
    failure: InputError | None = None

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self._guarded())

    def _guarded(self) -> Iterator[pa.RecordBatch]:
        try:
            for batch in self.batches:
                self.rows_read = max(self.rows_read, _last_row(batch))
                yield batch
        except InputError as error:
            self.failure = error
            raise


def _last_row(batch: pa.RecordBatch) -> int:
    if batch.num_rows == 0:
        return 0
    return int(batch.column(batch.schema.get_field_index(ROW_COLUMN))[-1].as_py())


@dataclass(frozen=True)
class DuplicateRows:
    """Rows whose (trimmed) id an earlier row already has, with that earlier row, both sorted by
    row: the reader adds the earlier row as a column, so no join (which would lose the order or
    hold every row) is needed."""

    rows: np.ndarray
    first_rows: np.ndarray

    def first_row_column(self, rows: np.ndarray) -> pa.Array:
        """For each of `rows`, the earlier row with the same id (null when it has none)."""
        if len(self.rows) == 0:
            return pa.nulls(len(rows), pa.int64())
        at = np.searchsorted(self.rows, rows).clip(max=len(self.rows) - 1)
        return pa.array(self.first_rows[at], pa.int64(), mask=self.rows[at] != rows)


Opener = Callable[[Sequence[str] | None, DuplicateRows | None], RowBatches]


@dataclass(frozen=True)
class Source:
    """Rows to screen: a label for messages, the columns' kinds, and how to read them."""

    label: str
    columns: dict[str, ColumnKind]
    open: Opener
    """Read the source again from its start: only the named columns (with the row numbers) when
    given, with the earlier row of each repeated id as a column when duplicates are given."""


@functools.lru_cache(maxsize=256)
def column_kind(arrow_type: pa.DataType) -> ColumnKind:
    """Group Arrow types by what parsing they need (once per type: a form's table comes again
    and again with the same few types)."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return ColumnKind.text
    if pa.types.is_string_view(arrow_type) or pa.types.is_dictionary(arrow_type):
        return ColumnKind.other
    if pa.types.is_integer(arrow_type):
        return ColumnKind.integer
    if pa.types.is_floating(arrow_type):
        return ColumnKind.number
    if pa.types.is_decimal(arrow_type):
        return ColumnKind.number
    if pa.types.is_boolean(arrow_type):
        return ColumnKind.boolean
    if pa.types.is_date(arrow_type):
        return ColumnKind.date
    if pa.types.is_timestamp(arrow_type):
        return ColumnKind.timestamp
    if pa.types.is_null(arrow_type):
        return ColumnKind.null
    return ColumnKind.other


#: Column kinds by schema: a form sends the same layout again and again.
_KINDS: dict[pa.Schema, dict[str, ColumnKind]] = {}
_KINDS_KEPT = 64


def _kinds(schema: pa.Schema) -> dict[str, ColumnKind]:
    kinds = _KINDS.get(schema)
    if kinds is None:
        kinds = {
            field.name: column_kind(field.type) for field in schema if field.name != ROW_COLUMN
        }
        if len(_KINDS) >= _KINDS_KEPT:
            _KINDS.clear()
        _KINDS[schema] = kinds
    return dict(kinds)


def _check_names(names: Sequence[str], label: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"{label}: column '{name}' appears twice; keep one of them")
        if name in (ROW_COLUMN, FIRST_ROW_COLUMN):
            raise InputError(f"{label}: column '{name}' is reserved; rename or remove it")
        seen.add(name)


def _numbered_schema(schema: pa.Schema, duplicates: DuplicateRows | None) -> pa.Schema:
    numbered = schema.append(pa.field(ROW_COLUMN, pa.int64()))
    if duplicates is not None:
        numbered = numbered.append(pa.field(FIRST_ROW_COLUMN, pa.int64()))
    return numbered


def _numbered(
    batch: pa.RecordBatch,
    rows: np.ndarray,
    schema: pa.Schema,
    duplicates: DuplicateRows | None,
) -> pa.RecordBatch:
    arrays = [*batch.columns, pa.array(rows, pa.int64())]
    if duplicates is not None:
        arrays.append(duplicates.first_row_column(rows))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _selected(schema: pa.Schema, columns: Sequence[str] | None) -> pa.Schema:
    if columns is None:
        return schema
    return pa.schema([schema.field(name) for name in columns])


# --- files ---------------------------------------------------------------------------------


def from_file(path: Path) -> Source:
    """A CSV or Parquet file by its suffix; any other suffix is read as CSV."""
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if not path.is_file():
        raise InputError(f"{path}: not a file; give a CSV or Parquet file of candidates")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty; it needs a header and one row per candidate")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _parquet(path)
    return _csv(path)


def _csv_header(path: Path) -> list[str]:
    """The header's names as the CSV reader itself parses them (a quoted line break in a name
    stays inside it), so that the header and the rows are split the same way."""
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES),
            parse_options=_parse_options(lambda _row: "skip"),
        )
        names = list(reader.schema.names)
        reader.close()
    except UnicodeDecodeError:
        raise InputError(f"{path}: line 1 is not UTF-8 text; save the CSV as UTF-8") from None
    except (pa.ArrowInvalid, OSError) as error:
        raise _csv_problem(path, error, 0) from None
    if any("\ufffd" in name for name in names):
        raise InputError(f"{path}: line 1 is not UTF-8 text; save the CSV as UTF-8")
    if not any(name.strip() for name in names):
        raise InputError(f"{path}: the first line must name the columns (candidate_id, ...)")
    return names


def _parse_options(on_ragged: Callable[[Any], str]) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_ragged)


def _csv(path: Path) -> Source:
    line = _first_non_utf8_line(path)
    if line is not None:
        raise InputError(
            f"{path}: line {line} is not UTF-8 text; save the CSV as UTF-8 (a spreadsheet's "
            '"CSV UTF-8")'
        )
    raw_names = _csv_header(path)
    names = [name.strip() for name in raw_names]
    _check_names(names, str(path))
    schema = pa.schema([pa.field(name, pa.string()) for name in names])
    raw_of = dict(zip(names, raw_names, strict=True))

    def open_csv(columns: Sequence[str] | None, duplicates: DuplicateRows | None) -> RowBatches:
        selected = _selected(schema, columns)
        numbered = _numbered_schema(selected, duplicates)
        reading = RowBatches(numbered, iter(()))
        raw_selected = [raw_of[name] for name in selected.names]
        reading.batches = _csv_batches(path, names, raw_selected, numbered, duplicates, reading)
        return reading

    return Source(str(path), _kinds(schema), open_csv)


def _csv_batches(
    path: Path,
    names: list[str],
    raw_selected: list[str],
    numbered: pa.Schema,
    duplicates: DuplicateRows | None,
    reading: RowBatches,
) -> Iterator[pa.RecordBatch]:
    """The CSV's rows in blocks; a ragged row becomes an empty row under its own number.

    One thread, so that the parser knows each ragged row's line (it does not when threaded)."""
    ragged: list[int] = []

    def on_ragged(row: Any) -> str:
        line = int(row.number) if row.number is not None else 0
        data_row = line - 1
        ragged.append(data_row)
        reading.issues[data_row] = _ragged_issue(row, line, names)
        return "skip"

    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES),
            parse_options=_parse_options(on_ragged),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(raw_selected, pa.string()),
                include_columns=raw_selected,
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, OSError) as error:
        raise _csv_problem(path, error, 0) from None
    next_row = 1
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as error:
            raise _csv_problem(path, error, next_row) from None
        rows, skipped = _rows_of(next_row, batch.num_rows, ragged)
        ragged = [row for row in ragged if row > rows[-1]] if len(rows) else ragged
        next_row = int(rows[-1]) + 1 if len(rows) else next_row
        yield _with_placeholders(_numbered(batch, rows, numbered, duplicates), skipped)
    if ragged:  # ragged rows after the last good one
        empty = pa.RecordBatch.from_pylist([], schema=numbered)
        yield _with_placeholders(empty, np.array(sorted(ragged), dtype=np.int64))


def _rows_of(start: int, count: int, ragged: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of `count` good rows from `start` on, stepping over the ragged ones; and the
    ragged rows that fall among them."""
    pending = np.array(sorted(r for r in ragged if r >= start), dtype=np.int64)
    candidates = np.arange(start, start + count + len(pending), dtype=np.int64)
    good = candidates[~np.isin(candidates, pending)][:count]
    last = good[-1] if len(good) else start - 1
    return good, pending[pending < last]


def _with_placeholders(batch: pa.RecordBatch, rows: np.ndarray) -> pa.RecordBatch:
    """`batch` with an all-blank row for each of `rows` (ragged rows), in row order."""
    if len(rows) == 0:
        return batch
    schema = batch.schema
    arrays = [
        pa.array(rows, pa.int64()) if f.name == ROW_COLUMN else pa.nulls(len(rows), f.type)
        for f in schema
    ]
    blanks = pa.RecordBatch.from_arrays(arrays, schema=schema)
    merged = pa.Table.from_batches([batch, blanks]).sort_by(ROW_COLUMN)
    return merged.combine_chunks().to_batches()[0]


def _ragged_issue(row: Any, line: int, names: list[str]) -> RowIssue:
    fields = int(row.actual_columns)
    try:
        text = str(row.text or "")
    except UnicodeDecodeError:  # the row's id cannot be shown; its line still can
        text = ""
    candidate_id = None
    if ID_COLUMN in names:
        parsed = next(csv.reader(io.StringIO(text)), [])
        position = names.index(ID_COLUMN)
        if position < len(parsed):
            candidate_id = parsed[position].strip()[:MAX_SHOWN_ID] or None
    where = f"row {line - 1} (line {line})" if line else "a row"
    return RowIssue(
        candidate_id,
        f"{where}: {fields} field{'s' if fields != 1 else ''} where the header has "
        f"{len(names)}, so the values cannot be matched to columns; the row was not screened: "
        "check its commas (quote a value holding a comma) and screen it again",
    )


def _csv_problem(path: Path, error: Exception, next_row: int) -> InputError:
    """What stopped the reading of a CSV, as a message naming the line where it can."""
    text = str(error)
    if isinstance(error, OSError) and not isinstance(error, pa.ArrowException):
        return InputError(f"{path}: cannot read the file: {error.strerror or text}")
    if "utf8" in text.lower() or "utf-8" in text.lower():
        line = _first_non_utf8_line(path)
        where = f"line {line}" if line else "the file"
        return InputError(
            f"{path}: {where} is not UTF-8 text; save the CSV as UTF-8 (a spreadsheet's "
            '"CSV UTF-8")'
        )
    if "straddl" in text or "block" in text:
        return InputError(
            f"{path}: a row from about line {next_row + 1} on is longer than "
            f"{CSV_BLOCK_BYTES // (1 << 20)} MB (an unclosed quote, or a whole document in a "
            "cell?); a candidate's row is a few hundred characters: check the file"
        )
    return InputError(f"{path}: not a readable CSV file from about line {next_row + 1}: {text}")


def _first_non_utf8_line(path: Path) -> int | None:
    """The 1-based line of the first byte that is not UTF-8, None when the text is UTF-8.

    Checked before parsing because the CSV parser decodes a ragged row's text itself and would
    fail inside its callback. Blocks of plain ASCII (most candidate files) skip the decoding."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CSV_BLOCK_BYTES):
            pending = bool(decoder.getstate()[0])
            if pending or not chunk.isascii():
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    return _line_at(path, offset + max(error.start, 0))
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return _line_at(path, offset)
    return None


def _line_at(path: Path, offset: int) -> int:
    """The 1-based line holding byte `offset` of the file."""
    lines, done = 1, 0
    with path.open("rb") as handle:
        while done < offset and (chunk := handle.read(min(CSV_BLOCK_BYTES, offset - done))):
            lines += chunk.count(b"\n")
            done += len(chunk)
    return lines


def _parquet(path: Path) -> Source:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise InputError(f"{path}: not a readable Parquet file: {error}") from None
    _check_names(schema.names, str(path))

    def open_parquet(columns: Sequence[str] | None, duplicates: DuplicateRows | None) -> RowBatches:
        selected = _selected(schema, columns)
        numbered = _numbered_schema(selected, duplicates)
        return RowBatches(numbered, _parquet_batches(path, selected, numbered, duplicates))

    return Source(str(path), _kinds(schema), open_parquet)


def _parquet_batches(
    path: Path, selected: pa.Schema, numbered: pa.Schema, duplicates: DuplicateRows | None
) -> Iterator[pa.RecordBatch]:
    start = 1
    try:
        with pq.ParquetFile(path) as parquet:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=selected.names):
                rows = np.arange(start, start + batch.num_rows, dtype=np.int64)
                start += batch.num_rows
                yield _numbered(batch, rows, numbered, duplicates)
    except (pa.ArrowInvalid, OSError) as error:
        raise InputError(f"{path}: not a readable Parquet file: {error}") from None


# --- tables in memory ------------------------------------------------------------------------


def from_arrow(table: pa.Table, label: str) -> Source:
    """An Arrow table, numbered from 1, read in batches."""
    _check_names(table.column_names, label)

    def open_table(columns: Sequence[str] | None, duplicates: DuplicateRows | None) -> RowBatches:
        selected = table if columns is None else table.select(list(columns))
        numbered = _numbered_schema(selected.schema, duplicates)
        return RowBatches(numbered, _table_batches(selected, numbered, duplicates))

    return Source(label, _kinds(table.schema), open_table)


def _table_batches(
    table: pa.Table, numbered: pa.Schema, duplicates: DuplicateRows | None
) -> Iterator[pa.RecordBatch]:
    start = 1
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        rows = np.arange(start, start + batch.num_rows, dtype=np.int64)
        start += batch.num_rows
        yield _numbered(batch, rows, numbered, duplicates)


def from_frame(frame: Any, label: str) -> Source:
    """A pandas DataFrame or an Arrow table; mixed-type columns are read as text."""
    return from_arrow(arrow_table(frame), label)


def arrow_table(frame: Any) -> pa.Table:
    """A pandas DataFrame as an Arrow table (mixed-type columns as text); an Arrow table as is."""
    if isinstance(frame, pa.Table):
        return frame
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.Table.from_pandas(frame.astype("string"), preserve_index=False)
