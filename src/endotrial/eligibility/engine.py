"""Screen candidates against a protocol's criteria: a file, a table, or one candidate from a form.

All three run the same generated SQL through DuckDB, so there is one rule engine whatever the
scale. The rows stream through it: a source is read in batches, screened as DuckDB reads them and
handed on as result batches (`stream_file`), so a file of any length is screened in bounded memory;
`screen_file` and `screen_table` collect the batches into one table. Bad values are reported per
row and treated as missing; only a file that cannot be read at all (or has no candidate id column,
or no rows) raises `InputError`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import adbc_driver_manager
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot.errors

from endotrial.eligibility.plan import ScreeningPlan, build_plan
from endotrial.eligibility.prepared import OneRowScreener
from endotrial.eligibility.results import (
    RESULT_SCHEMA,
    CandidateResult,
    ScreeningRun,
    ScreeningStream,
    count_decisions,
)
from endotrial.eligibility.sources import (
    TABLE_NAME,
    DuplicateRows,
    RowBatches,
    RowIssue,
    Source,
    arrow_table,
    from_arrow,
    from_file,
)
from endotrial.eligibility.sql import (
    ID_COLUMN,
    ROW_COLUMN,
    SQL_TYPES,
    ColumnKind,
    QueryOptions,
    quote,
    screening_query,
)
from endotrial.errors import InputError
from endotrial.protocol.models import Protocol

IDS_TABLE = "__candidate_ids"
FORM_CANDIDATE_ID = "candidate"
#: Up to this many labels a mask column is decoded through a table of every possible mask, with
#: no hashing of the column first.
SMALL_MASK_BITS = 8
#: Result rows per batch handed on (to a writer, a printer, a progress bar).
RESULT_BATCH_ROWS = 65_536

_database: tuple[int, duckdb.DuckDBPyConnection] | None = None
_database_lock = threading.Lock()


def _connection() -> duckdb.DuckDBPyConnection:
    """A connection of its own for one screening (registered tables and temporary tables are
    private to it), on one in-memory database per process: opening a fresh database costs
    about 13 ms, a cursor on an open one nothing. A forked child opens its own."""
    global _database
    with _database_lock:
        if _database is None or _database[0] != os.getpid():
            _database = (os.getpid(), _sandboxed_database())
        return _database[1].cursor()


#: What the screening database may use: DuckDB's defaults are 80 % of the machine's memory and a
#: thread per core. Past the memory limit it spills to its own temporary folder, up to its limit.
DATABASE_MEMORY_LIMIT = "1GB"
DATABASE_MAX_THREADS = 4
DATABASE_TEMP_LIMIT = "4GB"


_screener: tuple[int, OneRowScreener | None] | None = None


def _one_row_screener() -> OneRowScreener | None:
    """The process's screener of one-row tables (a forked child opens its own); None where its
    database cannot be opened, and one-row tables are screened the long way."""
    global _screener
    with _database_lock:
        if _screener is None or _screener[0] != os.getpid():
            try:
                _screener = (os.getpid(), OneRowScreener())
            except adbc_driver_manager.Error:
                _screener = (os.getpid(), None)
        return _screener[1]


def _sandboxed_database() -> duckdb.DuckDBPyConnection:
    """An in-memory database that reads only the tables registered into it: no file, network,
    extension or database can be opened from a query (the rows reach it as Arrow batches read
    by the sources), and its limits and this sandbox cannot be changed once it is open."""
    temp_folder = Path(tempfile.gettempdir()) / f"endotrial-duckdb-{os.getpid()}"
    database = duckdb.connect(
        config={
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "memory_limit": DATABASE_MEMORY_LIMIT,
            "threads": min(os.cpu_count() or 1, DATABASE_MAX_THREADS),
            "temp_directory": str(temp_folder),
            "max_temp_directory_size": DATABASE_TEMP_LIMIT,
        }
    )
    database.execute("SET lock_configuration = true")
    return database


def screen_file(
    protocol: Protocol, path: str | Path, *, today: dt.date | None = None
) -> ScreeningRun:
    """Screen every row of a CSV or Parquet file (by suffix; anything else is read as CSV)."""
    return stream_file(protocol, path, today=today).collect()


def stream_file(
    protocol: Protocol, path: str | Path, *, today: dt.date | None = None
) -> ScreeningStream:
    """Screen a CSV or Parquet file as a stream of result batches, in bounded memory whatever
    its length. The file is checked (and its ids read, to find repeats) before this returns; a
    file that cannot be read part-way raises `InputError` while the stream is iterated."""
    return _stream(protocol, from_file(Path(path)), today=today)


def screen_table(
    protocol: Protocol, table: Any, *, label: str = "table", today: dt.date | None = None
) -> ScreeningRun:
    """Screen a pandas DataFrame or Arrow table held in memory (one row through the prepared
    query, as a form's candidate)."""
    rows = arrow_table(table)
    source = from_arrow(rows, label)
    row = _one_row(protocol, source, rows, today=today, per_field=False)
    if row is None:
        return _stream(protocol, source, today=today).collect()
    plan = build_plan(protocol)
    results = pa.Table.from_pylist([row], schema=RESULT_SCHEMA)
    return ScreeningRun(
        protocol_id=protocol.protocol_id,
        source=source.label,
        results=results,
        file_warnings=_file_warnings(plan, source),
        to_confirm=tuple((c.id, c.enforced_by or "") for c in plan.to_confirm),
        counts=count_decisions(results),
    )


def screen_candidate(
    protocol: Protocol, items: Mapping[str, object], *, today: dt.date | None = None
) -> CandidateResult:
    """Screen one candidate's items (as typed in a form) through the same query as a file,
    prepared once per column layout (see `prepared`)."""
    table = _one_row_table({ID_COLUMN: FORM_CANDIDATE_ID, **items})
    plan = build_plan(protocol)
    source = from_arrow(table, "form")
    row = _one_row(protocol, source, table, today=today, per_field=True)
    warnings = _file_warnings(plan, source)
    if row is None:
        run = _stream(protocol, source, today=today, plan=plan, per_field=True).collect()
        row, warnings = run.rows()[0], run.file_warnings
    unknown_errors = tuple(f"{w}" for w in warnings if "not a data item" in w)
    return _candidate_result(plan, protocol, row, unknown_errors)


def derived_values(protocol: Protocol, items: Mapping[str, object]) -> dict[str, object]:
    """Every derived item computed from the candidate's other items (her age from her birth
    date and the screening date), None where an input is missing or unreadable: what can be
    kept of an identifying value once the value itself is sealed away."""
    plan = build_plan(protocol)
    if not plan.derived:
        return {}
    given = [
        f"TRY_CAST(? AS {SQL_TYPES[item.type]}) AS {quote(item.name)}"
        for item in plan.items
        if item.name not in plan.derived
    ]
    values = [_as_text(items.get(i.name)) for i in plan.items if i.name not in plan.derived]
    computed = [
        f"CAST(({expression.sql}) AS {SQL_TYPES[plan.item(name).type]}) AS {quote(name)}"
        for name, expression in plan.derived.items()
    ]
    query = f"SELECT {', '.join(computed)} FROM (SELECT {', '.join(given)})"
    try:
        row = _connection().execute(query, values).fetchone()
    except duckdb.Error:
        return dict.fromkeys(plan.derived)
    return dict(zip(plan.derived, row or (), strict=False))


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def criteria_sql(protocol: Protocol, dialect: str = "duckdb") -> dict[str, str]:
    """Each evaluated criterion's expression in another SQL dialect (postgres, spark, bigquery...),
    for running the same screening where a data warehouse lives."""
    plan = build_plan(protocol)
    try:
        return {
            c.id: c.expression.to_dialect(dialect) for c in (*plan.trial_wide, *plan.arm_specific)
        }
    except (ValueError, sqlglot.errors.SqlglotError) as error:
        raise InputError(f"cannot write the criteria in SQL dialect '{dialect}': {error}") from None


def _one_row(
    protocol: Protocol, source: Source, table: pa.Table, *, today: dt.date | None, per_field: bool
) -> dict[str, Any] | None:
    """The result row of a one-row table, through its prepared query; None for any other table,
    or where the query could not be prepared or run (the caller screens the table the long way,
    with the same result or the same error)."""
    if table.num_rows != 1:
        return None
    _check_id_column(source)
    screener = _one_row_screener()
    if screener is None:
        return None
    return screener.screen(
        build_plan(protocol),
        table,
        source.columns,
        today=today or dt.date.today(),
        per_field=per_field,
    )


#: Python types Arrow types itself (any other value is passed as its text).
_ARROW_TYPED = (str, bool, int, float, dt.date)


def _one_row_table(values: Mapping[str, object]) -> pa.Table:
    """The values as a one-row table, each column typed as `_one_value` types it: in one step
    where Arrow takes every value as it is (a form's values almost always), else value by value."""
    if all(value is None or isinstance(value, _ARROW_TYPED) for value in values.values()):
        try:
            return pa.Table.from_pydict({name: [value] for name, value in values.items()})
        except (pa.ArrowInvalid, OverflowError):
            pass
    return pa.table({name: _one_value(value) for name, value in values.items()})


def _one_value(value: object) -> pa.Array:
    """A one-row column; a value Arrow cannot type is passed as its text."""
    if value is None or isinstance(value, _ARROW_TYPED):
        try:
            return pa.array([value])
        except (pa.ArrowInvalid, OverflowError):
            pass
    return pa.array([str(value)])


def _stream(
    protocol: Protocol,
    source: Source,
    *,
    today: dt.date | None,
    plan: ScreeningPlan | None = None,
    per_field: bool = False,
) -> ScreeningStream:
    """Check the source, find its repeated ids, and set up the screening of its rows."""
    plan = plan or build_plan(protocol)
    _check_id_column(source)
    duplicates, row_count = _repeated_ids(source)
    if row_count == 0:
        raise InputError(f"{source.label}: no candidate rows; the file has only its header")
    options = QueryOptions(
        source_sql=TABLE_NAME,
        columns={n: k for n, k in source.columns.items() if n in plan.item_names},
        id_kind=source.columns[ID_COLUMN],
        today=today or dt.date.today(),
        per_field_messages=per_field,
        first_row_column=duplicates is not None,
    )
    reading = source.open(None, duplicates)
    return ScreeningStream(
        protocol_id=protocol.protocol_id,
        source=source.label,
        total=row_count,
        batches=_screened(plan, source.label, options, reading),
        file_warnings=_file_warnings(plan, source),
        to_confirm=tuple((c.id, c.enforced_by or "") for c in plan.to_confirm),
    )


def _check_id_column(source: Source) -> None:
    if ID_COLUMN not in source.columns:
        raise InputError(
            f"{source.label}: no '{ID_COLUMN}' column; add it with one unique id per candidate"
        )


def _repeated_ids(source: Source) -> tuple[DuplicateRows | None, int]:
    """Each row whose trimmed id an earlier row already has, with that row (None when no id
    repeats), and the number of rows: one pass over the ids alone, before the screening, so the
    screening itself streams (a repeat found at the end could not mark rows already handed on).
    The ids are trimmed by DuckDB, as the screening trims them; the ids alone of a million rows
    take about 20 MB."""
    trimmed = f"NULLIF(trim(CAST({quote(ID_COLUMN)} AS VARCHAR)), '')"
    sql = f"SELECT {quote(ROW_COLUMN)}, {trimmed} AS id FROM {quote(IDS_TABLE)}"
    reading = source.open([ID_COLUMN], None)
    connection = _connection()
    try:
        connection.register(IDS_TABLE, reading.reader())
        ids = connection.sql(sql).to_arrow_table()
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except duckdb.Error as error:
        raise reading.failure or _screening_failure(source.label, error) from None
    finally:
        connection.close()
    return _duplicates(ids.column(ROW_COLUMN), ids.column("id")), reading.rows_read


def _duplicates(rows: pa.ChunkedArray, ids: pa.ChunkedArray) -> DuplicateRows | None:
    """Rows (ascending) whose id an earlier row has, with that earlier row; None for none."""
    codes = pc.dictionary_encode(ids.combine_chunks()).indices
    present = codes.is_valid().to_numpy(zero_copy_only=False)
    if not present.any():
        return None
    numbers = rows.to_numpy()[present]
    codes_given = codes.drop_null().to_numpy()
    _, first_position = np.unique(codes_given, return_index=True)
    first_row_of_code = np.zeros(int(codes_given.max()) + 1, np.int64)
    first_row_of_code[codes_given[first_position]] = numbers[first_position]
    first_rows = first_row_of_code[codes_given]
    repeated = numbers > first_rows
    if not repeated.any():
        return None
    return DuplicateRows(numbers[repeated], first_rows[repeated])


def _screened(
    plan: ScreeningPlan, label: str, options: QueryOptions, reading: RowBatches
) -> Iterator[pa.RecordBatch]:
    """The result batches, in row order, as DuckDB screens the batches the source reads."""
    query = screening_query(plan, options)
    connection = _connection()
    try:
        connection.register(TABLE_NAME, reading.reader())
        results = connection.sql(query.sql).to_arrow_reader(RESULT_BATCH_ROWS)
        for batch in _rebatched(results, RESULT_BATCH_ROWS):
            decoded = _decode_masks(batch, query.masked_columns)
            yield _with_issues(decoded, reading.issues) if reading.issues else decoded
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except duckdb.Error as error:
        raise reading.failure or _screening_failure(label, error) from None
    finally:
        connection.close()


def _rebatched(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The batches joined into batches of at least `rows` rows (DuckDB hands on one per batch
    read, a few thousand rows each; every step after it costs per batch)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield _joined(pending)
            pending, count = [], 0
    if pending:
        yield _joined(pending)


def _joined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _screening_failure(label: str, error: duckdb.Error) -> InputError:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return InputError(f"{label}: cannot screen the rows: {reason}")


def _with_issues(batch: pa.RecordBatch, issues: dict[int, RowIssue]) -> pa.RecordBatch:
    """Rows the reader could not read (a ragged CSV row, blank in the stream, so invalid) get
    the id they seem to have and the reader's message instead of 'blank id'."""
    rows = batch.column(batch.schema.get_field_index("row")).to_numpy()
    hit = np.flatnonzero(np.isin(rows, np.fromiter(issues, dtype=np.int64, count=len(issues))))
    if len(hit) == 0:
        return batch
    ids = batch.column(batch.schema.get_field_index(ID_COLUMN)).to_pylist()
    errors = batch.column(batch.schema.get_field_index("errors")).to_pylist()
    for index in hit:
        issue = issues.pop(int(rows[index]))
        ids[index], errors[index] = issue.candidate_id, [issue.message]
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    columns[ID_COLUMN] = pa.array(ids, pa.string())
    columns["errors"] = pa.array(errors, pa.list_(pa.string()))
    return pa.RecordBatch.from_arrays(list(columns.values()), schema=RESULT_SCHEMA)


def _decode_masks(batch: pa.RecordBatch, masked: Mapping[str, tuple[str, ...]]) -> pa.RecordBatch:
    """Turn each bit-mask column into its list of labels, in the result's schema."""
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    for name, labels in masked.items():
        columns[name] = _decode_mask(columns[name], labels)
    arrays = [columns[f.name] for f in RESULT_SCHEMA]
    if any(a.type != f.type for a, f in zip(arrays, RESULT_SCHEMA, strict=True)):
        arrays = [a.cast(f.type) for a, f in zip(arrays, RESULT_SCHEMA, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=RESULT_SCHEMA)


def _decode_mask(masks: pa.Array, labels: tuple[str, ...]) -> pa.Array:
    """Decode each distinct mask once (a file has few distinct patterns), then gather. With few
    labels every possible mask is decoded and the column itself is the index into them."""
    if len(labels) <= SMALL_MASK_BITS:
        every = np.arange(1 << len(labels), dtype=np.int64)
        return _label_lists(every, labels).take(masks)
    encoded = pc.dictionary_encode(masks)
    return _label_lists(encoded.dictionary.to_numpy(), labels).take(encoded.indices)


def _label_lists(masks: np.ndarray, labels: tuple[str, ...]) -> pa.Array:
    """The labels of each mask's set bits, lowest bit first, in one vectorised step (a file can
    have tens of thousands of distinct failed-criteria masks)."""
    bits = (masks.astype(np.int64)[:, None] >> np.arange(len(labels))) & 1
    _, positions = np.nonzero(bits)
    offsets = np.concatenate(([0], np.cumsum(bits.sum(axis=1)))).astype(np.int32)
    values = pa.array(labels, pa.string()).take(pa.array(positions))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


#: Warnings by plan, source label and column layout: a form sends the same layout again and again.
_WARNINGS: dict[tuple[object, ...], tuple[ScreeningPlan, tuple[str, ...]]] = {}
_WARNINGS_KEPT = 32


def _file_warnings(plan: ScreeningPlan, source: Source) -> tuple[str, ...]:
    """Unknown columns are ignored (named once), and absent items count as missing everywhere."""
    key = (id(plan), source.label, tuple(source.columns.items()))
    with _database_lock:
        cached = _WARNINGS.get(key)
    if cached is not None and cached[0] is plan:
        return cached[1]
    warnings = tuple(_new_file_warnings(plan, source))
    with _database_lock:
        if len(_WARNINGS) >= _WARNINGS_KEPT:
            _WARNINGS.pop(next(iter(_WARNINGS)))
        _WARNINGS[key] = (plan, warnings)
    return warnings


def _new_file_warnings(plan: ScreeningPlan, source: Source) -> list[str]:
    known = set(plan.item_names)
    warnings = []
    for name in source.columns:
        if name == ID_COLUMN or name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        warnings.append(
            f"{source.label}: column '{name}' is not a data item of protocol "
            f"{plan.protocol_id}{hint}; it was ignored"
        )
    absent = [label for label in _needed_items(plan) if not _supplied(plan, label, source)]
    if absent:
        warnings.append(
            f"{source.label}: no column for {', '.join(plan.missing_label(n) for n in absent)}; "
            "these items count as missing for every candidate"
        )
    return warnings


def _needed_items(plan: ScreeningPlan) -> list[str]:
    criteria = (*plan.trial_wide, *plan.arm_specific)
    return [
        item.name for item in plan.items if any(item.name in c.expression.items for c in criteria)
    ]


def _supplied(plan: ScreeningPlan, name: str, source: Source) -> bool:
    if name in source.columns and source.columns[name] != ColumnKind.null:
        return True
    inputs = plan.inputs_of(name)
    return bool(inputs) and all(i in source.columns for i in inputs)


def _candidate_result(
    plan: ScreeningPlan, protocol: Protocol, row: Mapping[str, Any], extra_errors: tuple[str, ...]
) -> CandidateResult:
    missing = tuple(row["missing_items"])
    unknown = tuple(
        (cid, tuple(m for m in plan.missing_labels(plan.criterion(cid)) if m in missing))
        for cid in row["unknown_criteria"]
    )
    texts = {c.id: c.text for c in protocol.criteria}
    return CandidateResult(
        candidate_id=row["candidate_id"],
        decision=row["decision"],
        failed=tuple((cid, texts[cid]) for cid in row["failed_criteria"]),
        unknown=unknown,
        missing_items=missing,
        eligible_arms=tuple(row["eligible_arms"]),
        arm_notes=tuple(row["arm_notes"]),
        errors=(*extra_errors, *row["errors"]),
        to_confirm=tuple((c.id, c.enforced_by or "") for c in plan.to_confirm),
    )
