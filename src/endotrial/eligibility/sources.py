"""Candidate rows from a CSV file, a Parquet file or a table in memory, as one DuckDB source.

A CSV is read with every column as text (the query parses and checks each value, so one bad
value never stops the file); Parquet and in-memory tables keep their types so the fast path
needs no parsing. Every source gets a 1-based row number counting data rows (header excluded).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from endotrial.eligibility.sql import ROW_COLUMN, ColumnKind, literal, quote
from endotrial.errors import InputError

TABLE_NAME = "__candidates"
CSV_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class Source:
    """Rows to screen: a DuckDB FROM clause, its columns' kinds and what to register first."""

    label: str
    source_sql: str
    columns: dict[str, ColumnKind]
    row_count: int
    table: pa.Table | None = None


def column_kind(arrow_type: pa.DataType) -> ColumnKind:
    """Group Arrow types by what parsing they need."""
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


def _kinds(schema: pa.Schema) -> dict[str, ColumnKind]:
    return {field.name: column_kind(field.type) for field in schema if field.name != ROW_COLUMN}


def _check_names(names: list[str], label: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"{label}: column '{name}' appears twice; keep one of them")
        seen.add(name)


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
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read the file: {error.strerror}") from None
    names = [name.strip() for name in header]
    if not any(names):
        raise InputError(f"{path}: the first line must name the columns (candidate_id, ...)")
    return names


def _csv(path: Path) -> Source:
    names = _csv_header(path)
    _check_names(names, str(path))
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, OSError) as error:
        raise InputError(f"{path}: not a readable CSV file: {error}") from None
    return from_arrow(table, str(path))


def _parquet(path: Path) -> Source:
    try:
        metadata = pq.read_metadata(path)
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise InputError(f"{path}: not a readable Parquet file: {error}") from None
    _check_names(schema.names, str(path))
    location = literal(str(path))
    source_sql = (
        f"(SELECT file_row_number + 1 AS {quote(ROW_COLUMN)}, * EXCLUDE (file_row_number) "
        f"FROM read_parquet({location}, file_row_number = true)) AS {TABLE_NAME}"
    )
    return Source(str(path), source_sql, _kinds(schema), metadata.num_rows)


def from_arrow(table: pa.Table, label: str) -> Source:
    """An Arrow table, numbered from 1; DuckDB reads it in place."""
    _check_names(table.column_names, label)
    rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
    numbered = table.append_column(ROW_COLUMN, pa.array(rows))
    return Source(label, TABLE_NAME, _kinds(table.schema), table.num_rows, numbered)


def from_frame(frame: Any, label: str) -> Source:
    """A pandas DataFrame or an Arrow table; mixed-type columns are read as text."""
    if isinstance(frame, pa.Table):
        return from_arrow(frame, label)
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        table = pa.Table.from_pandas(frame.astype("string"), preserve_index=False)
    return from_arrow(table, label)
