"""One candidate at a time: the screening query prepared once, then run on each candidate's values.

DuckDB's Python client parses, binds and plans a query again on every call (and its SQL `EXECUTE`
binds the prepared query again too): for the screening query that costs 50-90 ms however few the
rows. Through ADBC, DuckDB's C API, a prepared statement keeps its plan, and a run on one row of
values costs a few milliseconds. The query is the one a file gets, from the same generator and the
same checked expressions, written over parameters instead of a table: one prepared statement per
plan and column layout (names and Arrow types), today's date a parameter, and the label lists
returned as lists (a single row gains nothing from bit masks and pays to set their sums up).

The database is sandboxed as the file path's is (no file, network or extension reachable, its
settings locked) and runs one thread: a single row gains nothing from a second.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adbc_driver_duckdb  # type: ignore[import-untyped]  # ships in the duckdb wheel, untyped
import adbc_driver_manager
import pyarrow as pa

from endotrial.eligibility.plan import ScreeningPlan
from endotrial.eligibility.sql import (
    ID_COLUMN,
    ROW_COLUMN,
    TODAY_COLUMN,
    ColumnKind,
    QueryOptions,
    quote,
)
from endotrial.eligibility.sql import screening_query as _screening_query

#: Prepared statements kept per process (one per plan and column layout a form sends).
PREPARED_KEPT = 16
FORM_DATABASE_MEMORY_LIMIT = "256MB"
FORM_DATABASE_TEMP_LIMIT = "1GB"


@dataclass(frozen=True)
class _Prepared:
    """A layout's prepared query, or None where it could not be prepared (screened the long way)."""

    plan: ScreeningPlan
    statement: adbc_driver_manager.AdbcStatement | None
    bound: tuple[int, ...]
    """The positions of the table's columns bound as parameters 1, 2... in this order: the
    columns the query reads, but null-typed ones (written into the query as NULL); today's date
    is the parameter after them."""


class OneRowScreener:
    """A sandboxed database of its own with the prepared screening queries of one process."""

    def __init__(self) -> None:
        temp_folder = Path(tempfile.gettempdir()) / f"endotrial-duckdb-{os.getpid()}-form"
        self._database = adbc_driver_manager.AdbcDatabase(
            driver=adbc_driver_duckdb.driver_path(),
            entrypoint="duckdb_adbc_init",
            enable_external_access="false",
            autoinstall_known_extensions="false",
            autoload_known_extensions="false",
            memory_limit=FORM_DATABASE_MEMORY_LIMIT,
            threads="1",
            temp_directory=str(temp_folder),
            max_temp_directory_size=FORM_DATABASE_TEMP_LIMIT,
        )
        self._connection = adbc_driver_manager.AdbcConnection(self._database)
        self._run("SET lock_configuration = true")
        self._prepared: OrderedDict[tuple[object, ...], _Prepared] = OrderedDict()
        self._lock = threading.Lock()

    def screen(
        self,
        plan: ScreeningPlan,
        table: pa.Table,
        kinds: Mapping[str, ColumnKind],
        *,
        today: dt.date,
        per_field: bool,
    ) -> dict[str, Any] | None:
        """The result row (the columns of a file's result, lists as lists) of the table's one row
        (with `kinds`, its columns' kinds, the id among them), or None when its layout cannot be
        prepared or the run fails: the caller then screens it the long way, which gives the same
        answer or the same error."""
        key = (id(plan), per_field, table.schema)
        with self._lock:
            prepared = self._prepared.get(key)
            if prepared is None or prepared.plan is not plan:
                prepared = self._prepare(plan, table, kinds, per_field)
                self._keep(key, prepared)
            self._prepared.move_to_end(key)
            if prepared.statement is None:
                return None
            return self._execute(prepared.statement, _parameters(table, prepared.bound, today))

    def close(self) -> None:
        with self._lock:
            for prepared in self._prepared.values():
                if prepared.statement is not None:
                    prepared.statement.close()
            self._prepared.clear()
            self._connection.close()
            self._database.close()

    def _keep(self, key: tuple[object, ...], prepared: _Prepared) -> None:
        old = self._prepared.pop(key, None)
        if old is not None and old.statement is not None:
            old.statement.close()
        while len(self._prepared) >= PREPARED_KEPT:
            _, evicted = self._prepared.popitem(last=False)
            if evicted.statement is not None:
                evicted.statement.close()
        self._prepared[key] = prepared

    def _prepare(
        self,
        plan: ScreeningPlan,
        table: pa.Table,
        kinds: Mapping[str, ColumnKind],
        per_field: bool,
    ) -> _Prepared:
        """Prepare the query for this layout: each value is cast to the type DuckDB itself gives
        the Arrow column (asked once, so the value is never converted). Columns the query does
        not read (not data items of the plan) are left out; the caller names them."""
        known = {ID_COLUMN, *plan.item_names}
        read = [name for name in table.column_names if name in known]
        bound = tuple(
            n
            for n, f in enumerate(table.schema)
            if f.name in known and not pa.types.is_null(f.type)
        )
        statement = None
        try:
            types = self._duckdb_types(table, bound)
            options = QueryOptions(
                source_sql=_source_sql(table.select(read).schema, types),
                columns={n: kinds[n] for n in read if n != ID_COLUMN},
                id_kind=kinds[ID_COLUMN],
                today=dt.date.min,  # not read: today is a parameter
                per_field_messages=per_field,
                today_column=True,
                bit_masks=False,
            )
            query = _screening_query(plan, options)
            statement = adbc_driver_manager.AdbcStatement(self._connection)
            statement.set_sql_query(query.sql)  # DuckDB's driver prepares it here
        except adbc_driver_manager.Error:
            if statement is not None:
                statement.close()
            return _Prepared(plan, None, bound)
        return _Prepared(plan, statement, bound)

    def _duckdb_types(self, table: pa.Table, bound: tuple[int, ...]) -> dict[str, str]:
        """The DuckDB type of each bound column, by name, as DuckDB reads the Arrow value."""
        if not bound:
            return {}
        probe = ", ".join(f"typeof(${n + 1}) AS t{n}" for n in range(len(bound)))
        statement = adbc_driver_manager.AdbcStatement(self._connection)
        try:
            statement.set_sql_query(f"SELECT {probe}")
            statement.bind(_values(table, bound))
            handle, _ = statement.execute_query()
            (row,) = pa.RecordBatchReader.from_stream(handle).read_all().to_pylist()
        finally:
            statement.close()
        return {table.column_names[c]: str(row[f"t{n}"]) for n, c in enumerate(bound)}

    def _execute(
        self, statement: adbc_driver_manager.AdbcStatement, parameters: pa.RecordBatch
    ) -> dict[str, Any] | None:
        try:
            statement.bind(parameters)
            handle, _ = statement.execute_query()
            rows: list[dict[str, Any]] = (
                pa.RecordBatchReader.from_stream(handle).read_all().to_pylist()
            )
        except adbc_driver_manager.Error:
            return None
        return rows[0] if len(rows) == 1 else None

    def _run(self, sql: str) -> None:
        statement = adbc_driver_manager.AdbcStatement(self._connection)
        try:
            statement.set_sql_query(sql)
            statement.execute_update()
        finally:
            statement.close()


def _source_sql(schema: pa.Schema, types: Mapping[str, str]) -> str:
    """The one row as a subquery of parameters, today's date after the values. Each parameter
    is named once: DuckDB binds a prepared query again on every run when one appears twice."""
    columns = []
    number = 1
    for field in schema:
        if field.name in types:
            columns.append(f"CAST(${number} AS {types[field.name]}) AS {quote(field.name)}")
            number += 1
        else:
            columns.append(f"NULL AS {quote(field.name)}")
    columns.append(f"CAST(${number} AS DATE) AS {quote(TODAY_COLUMN)}")
    columns.append(f"CAST(1 AS BIGINT) AS {quote(ROW_COLUMN)}")
    return f"(SELECT {', '.join(columns)})"


def _parameters(table: pa.Table, bound: tuple[int, ...], today: dt.date) -> pa.RecordBatch:
    """The values of the bound columns, then today's date: the parameters in their order."""
    return _values(table, bound).append_column(TODAY_COLUMN, pa.array([today], pa.date32()))


def _values(table: pa.Table, bound: tuple[int, ...]) -> pa.RecordBatch:
    """The one row's bound columns as one record batch (no copy where it is one already)."""
    (batch,) = table.combine_chunks().to_batches()
    return batch if len(bound) == batch.num_columns else batch.select(list(bound))
