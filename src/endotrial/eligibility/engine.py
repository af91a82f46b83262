"""Screen candidates against a protocol's criteria: a file, a table, or one candidate from a form.

All three run the same generated SQL through DuckDB, so there is one rule engine whatever the
scale. Bad values are reported per row and treated as missing; only a file that cannot be read at
all (or has no candidate id column, or no rows) raises `InputError`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot.errors

from endotrial.eligibility.plan import ScreeningPlan, build_plan
from endotrial.eligibility.results import CandidateResult, ScreeningRun, count_decisions
from endotrial.eligibility.sources import TABLE_NAME, Source, from_file, from_frame
from endotrial.eligibility.sql import (
    ID_COLUMN,
    ID_HASH_COLUMN,
    ROW_COLUMN,
    ColumnKind,
    QueryOptions,
    quote,
    screening_query,
)
from endotrial.errors import InputError
from endotrial.protocol.models import Protocol

DUPLICATES_TABLE = "__duplicates"
FORM_CANDIDATE_ID = "candidate"
#: Up to this many labels a mask column is decoded through a table of every possible mask, with
#: no hashing of the column first.
SMALL_MASK_BITS = 8

_database: tuple[int, duckdb.DuckDBPyConnection] | None = None
_database_lock = threading.Lock()


def _connection() -> duckdb.DuckDBPyConnection:
    """A connection of its own for one screening (registered tables and temporary tables are
    private to it), on one in-memory database per process: opening a fresh database costs
    about 13 ms, a cursor on an open one nothing. A forked child opens its own."""
    global _database
    with _database_lock:
        if _database is None or _database[0] != os.getpid():
            _database = (os.getpid(), duckdb.connect())
        return _database[1].cursor()


def screen_file(
    protocol: Protocol, path: str | Path, *, today: dt.date | None = None
) -> ScreeningRun:
    """Screen every row of a CSV or Parquet file (by suffix; anything else is read as CSV)."""
    return _screen(protocol, from_file(Path(path)), today=today)


def screen_table(
    protocol: Protocol, table: Any, *, label: str = "table", today: dt.date | None = None
) -> ScreeningRun:
    """Screen a pandas DataFrame or Arrow table held in memory."""
    return _screen(protocol, from_frame(table, label), today=today)


def screen_candidate(
    protocol: Protocol, items: Mapping[str, object], *, today: dt.date | None = None
) -> CandidateResult:
    """Screen one candidate's items (as typed in a form) through the same query as a file."""
    values = {ID_COLUMN: FORM_CANDIDATE_ID, **items}
    table = pa.table({name: _one_value(value) for name, value in values.items()})
    plan = build_plan(protocol)
    run = _screen(protocol, from_frame(table, "form"), today=today, plan=plan, per_field=True)
    row = run.rows()[0]
    unknown_errors = tuple(f"{w}" for w in run.file_warnings if "not a data item" in w)
    return _candidate_result(plan, protocol, row, unknown_errors)


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


def _one_value(value: object) -> pa.Array:
    """A one-row column; a value Arrow cannot type is passed as its text."""
    if value is None or isinstance(value, str | bool | int | float | dt.date):
        try:
            return pa.array([value])
        except (pa.ArrowInvalid, OverflowError):
            pass
    return pa.array([str(value)])


def _screen(
    protocol: Protocol,
    source: Source,
    *,
    today: dt.date | None,
    plan: ScreeningPlan | None = None,
    per_field: bool = False,
) -> ScreeningRun:
    plan = plan or build_plan(protocol)
    _check_source(source)
    options = QueryOptions(
        source_sql=source.source_sql,
        columns={n: k for n, k in source.columns.items() if n in plan.item_names},
        id_kind=source.columns[ID_COLUMN],
        today=today or dt.date.today(),
        per_field_messages=per_field,
        id_hashes=True,
    )
    connection = _connection()
    try:
        if source.table is not None:
            connection.register(TABLE_NAME, source.table)
        results, counts = _screen_rows(connection, plan, source, options)
    except duckdb.Error as error:
        raise InputError(f"{source.label}: cannot screen the rows: {error}") from None
    finally:
        connection.close()
    return ScreeningRun(
        protocol_id=protocol.protocol_id,
        source=source.label,
        results=results,
        file_warnings=tuple(_file_warnings(plan, source)),
        to_confirm=tuple((c.id, c.enforced_by or "") for c in plan.to_confirm),
        counts=counts,
    )


def _screen_rows(
    connection: duckdb.DuckDBPyConnection,
    plan: ScreeningPlan,
    source: Source,
    options: QueryOptions,
) -> tuple[pa.Table, dict[str, int]]:
    """The results and their decision counts, in one pass over the rows for the common file whose
    ids are all distinct (its id hashes are); only when two hashes meet are the ids compared and
    the rows screened again with the repeats marked invalid. The hash check and the counting run
    beside the mask decoding (Arrow's and pandas' kernels release the GIL)."""
    query = screening_query(plan, options)
    table = connection.sql(query.sql).to_arrow_table()
    with ThreadPoolExecutor(max_workers=2) as pool:
        repeats = pool.map(_hashes_repeat, [table.column(ID_HASH_COLUMN)])
        counts = pool.map(count_decisions, [table])
        decoded = _decode_masks(table.drop_columns([ID_HASH_COLUMN]), query.masked_columns, pool)
        if not next(repeats):
            return decoded, next(counts)
        has_duplicates = _register_duplicates(connection, source)
        options = replace(
            options,
            id_hashes=False,
            duplicates_table=DUPLICATES_TABLE if has_duplicates else None,
        )
        query = screening_query(plan, options)
        table = connection.sql(query.sql).to_arrow_table()
        return _decode_masks(table, query.masked_columns, pool), count_decisions(table)


def _hashes_repeat(hashes: pa.ChunkedArray) -> bool:
    """Whether two ids share a hash: cheap, and never misses a repeat (equal ids hash equal)."""
    values = pc.drop_null(hashes).to_numpy()
    return bool(pd.Series(values).duplicated().any())


def _decode_masks(
    table: pa.Table, masked: Mapping[str, tuple[str, ...]], pool: ThreadPoolExecutor
) -> pa.Table:
    """Turn each bit-mask column into its list of labels. Arrow's kernels release the GIL, so
    the columns decode side by side on the pool's threads."""
    columns = [(table.column(name), labels) for name, labels in masked.items()]
    decoded = pool.map(lambda pair: _decode_mask(*pair), columns)
    for name, lists in zip(masked, decoded, strict=True):
        table = table.set_column(table.column_names.index(name), name, lists)
    return table


def _decode_mask(column: pa.ChunkedArray, labels: tuple[str, ...]) -> pa.Array:
    """Decode each distinct mask once (a file has few distinct patterns), then gather. With few
    labels every possible mask is decoded and the column itself is the index into them."""
    masks = column.combine_chunks()
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


def _check_source(source: Source) -> None:
    if ID_COLUMN not in source.columns:
        raise InputError(
            f"{source.label}: no '{ID_COLUMN}' column; add it with one unique id per candidate"
        )
    if source.row_count == 0:
        raise InputError(f"{source.label}: no candidate rows; the file has only its header")


def _register_duplicates(connection: duckdb.DuckDBPyConnection, source: Source) -> bool:
    """Each row whose id an earlier row already has, with that row; whether there is any."""
    row, cid = quote(ROW_COLUMN), quote(ID_COLUMN)
    trimmed = f"NULLIF(trim(CAST({cid} AS VARCHAR)), '')"
    ids = f"SELECT {row}, {trimmed} AS id FROM {source.source_sql}"
    connection.execute(
        f"CREATE TEMP TABLE {quote(DUPLICATES_TABLE)} AS "
        f"SELECT {row}, __first_row FROM (SELECT {row}, min({row}) OVER (PARTITION BY id) "
        f"AS __first_row FROM ({ids}) WHERE id IS NOT NULL) WHERE {row} > __first_row"
    )
    repeats = connection.sql(f"SELECT count(*) FROM {quote(DUPLICATES_TABLE)}").fetchall()
    return bool(repeats[0][0])


def _file_warnings(plan: ScreeningPlan, source: Source) -> list[str]:
    """Unknown columns are ignored (named once), and absent items count as missing everywhere."""
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
