"""Property-based tests of the candidate reader: random and hostile CSV bytes and tables.

Whatever a file holds (random columns, ragged rows, quotes, BOMs, NULs, huge fields, random
values for every data item of the seed protocol, bytes that are not UTF-8), screening either
refuses the file with the project's own error or returns one decision per row, numbered in order,
where every message names its row; and the CSV it writes never holds a cell a spreadsheet would
run as a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from endotrial.eligibility import DECISIONS, ScreeningRun, screen_file, screen_table
from endotrial.errors import EndotrialError
from endotrial.files import FORMULA_STARTS
from endotrial.protocol import load_protocol
from endotrial.protocol.models import DataItem, ItemType

PROTOCOL = load_protocol("nct07176143")
TODAY = dt.date(2025, 6, 30)
ITEMS = {item.name: item for item in PROTOCOL.data_items}
#: A field longer than the reader's block (1 MB): refused with a message, never a crash. The
#: examples hold a marker, swapped for the field when the file is written (a short repr).
HUGE_MARKER, HUGE = "<<HUGE>>", b"x" * ((1 << 20) + 17)
csv.field_size_limit(sys.maxsize)  # the huge field comes back in the results
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

hostile_text = st.text(
    alphabet=st.sampled_from(
        [*"aZ09 ,;\"'\n\r\t=+-@.:/\\", "\x00", "\ufeff", "é", "阳", "\u00a0", "\u2028"]
    ),
    max_size=12,
)


def _typed_value(item: DataItem) -> st.SearchStrategy[str]:
    """Text a coordinator might type for `item`: right, nearly right, or wrong."""
    if item.type is ItemType.date:
        right = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(dt.date.isoformat)
        wrong = st.sampled_from(["2025-02-30", "01/03/2025", "2025-13-01", "99999-01-01"])
    elif item.type is ItemType.boolean:
        right = st.sampled_from(["yes", "no", "TRUE", "n", "1", "0"])
        wrong = st.sampled_from(["maybe", "2", "是"])
    elif item.type is ItemType.category:
        right = st.sampled_from([*(item.values or []), *(v.upper() for v in item.values or [])])
        wrong = st.sampled_from(["unknown", "pos", "+", "阳性"])
    else:
        right = st.floats(allow_nan=True, allow_infinity=True).map(repr) | st.integers().map(str)
        wrong = st.sampled_from(["abc", "1e999", "-0", "1,5", "NaN", "inf", " 12 "])
    return st.one_of(right, wrong, st.just(""), hostile_text)


@st.composite
def candidate_files(draw: st.DrawFn) -> tuple[bytes, list[str], int]:
    """CSV bytes, the header's names and how many data rows were written."""
    items = draw(st.lists(st.sampled_from(sorted(ITEMS)), unique=True, max_size=12))
    extra = draw(st.lists(hostile_text, max_size=2))
    names = draw(st.permutations(["candidate_id", *items, *extra]))
    rows: list[list[str]] = []
    for _ in range(draw(st.integers(0, 8))):
        row = [
            draw(hostile_text | st.sampled_from(["C1", "C2", " C1 ", ""]))
            if name == "candidate_id"
            else draw(_typed_value(ITEMS[name]) if name in ITEMS else hostile_text)
            for name in names
        ]
        if draw(st.integers(0, 5)) == 0:  # ragged: a field too many or too few
            row = row[:-1] if row[1:] and draw(st.booleans()) else [*row, draw(hostile_text)]
        if draw(st.integers(0, 30)) == 0:
            row[0] = HUGE_MARKER
        rows.append(row or [""])
    buffer = io.StringIO()
    terminator = draw(st.sampled_from(["\n", "\r\n"]))
    writer = csv.writer(buffer, lineterminator=terminator)
    writer.writerow(names)
    for row in rows:
        writer.writerow(row)  # a lone empty field is written as "", so no line is blank
    data = buffer.getvalue().encode("utf-8")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 6)) == 0 and data:  # a byte that may break UTF-8 or the quoting
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    return data, names, len(rows)


def _check_run(run: ScreeningRun, rows_expected: int | None) -> None:
    rows = run.rows()
    if rows_expected is not None:
        assert run.total == rows_expected
    assert [row["row"] for row in rows] == list(range(1, run.total + 1))
    assert sum(run.counts.values()) == run.total
    for row in rows:
        assert row["decision"] in DECISIONS
        for message in row["errors"]:
            assert message.startswith(f"row {row['row']}"), message
        if row["decision"] == "invalid":
            assert row["errors"], row
    _check_written_csv(run)


def _check_written_csv(run: ScreeningRun) -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = run.write(Path(folder) / "results.csv")
        with out.open(encoding="utf-8", newline="") as handle:
            cells = [cell for record in csv.reader(handle) for cell in record]
    assert not [cell for cell in cells if cell[:1] and cell[0] in FORMULA_STARTS]


@SETTINGS
@given(candidate_files())
def test_any_csv_bytes_give_a_decision_per_row_or_the_projects_error(
    file: tuple[bytes, list[str], int],
) -> None:
    data, _names, written_rows = file
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "candidates.csv"
        path.write_bytes(data.replace(HUGE_MARKER.encode(), HUGE))
        try:
            run = screen_file(PROTOCOL, path, today=TODAY)
        except EndotrialError as error:
            assert str(error), "a message the user can act on"
            return
    # A mutated byte can merge or split records; otherwise every written row is screened.
    clean = data.replace(b"\xef\xbb\xbf", b"", 1).decode("utf-8", "replace")
    reparsed = list(csv.reader(io.StringIO(clean, newline="")))
    _check_run(run, written_rows if len(reparsed) == written_rows + 1 else None)


def _arrow_column(item: DataItem | None, values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


typed_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.dates(),
    st.datetimes(),
    hostile_text,
)


@st.composite
def candidate_tables(draw: st.DrawFn) -> pa.Table:
    """A table as a program might hand it over: any Arrow type in any item's column."""
    count = draw(st.integers(1, 6))
    names = draw(st.lists(st.sampled_from(sorted(ITEMS)), unique=True, max_size=10))
    kind = st.sampled_from(["int", "float", "text", "date", "bool", "mixed"])
    columns: dict[str, pa.Array] = {
        "candidate_id": pa.array(
            draw(st.lists(hostile_text | st.none(), min_size=count, max_size=count))
        )
    }
    for name in names:
        chosen = draw(kind)
        element = {
            "int": st.integers(-(2**63), 2**63 - 1),
            "float": st.floats(),
            "text": hostile_text,
            "date": st.dates(),
            "bool": st.booleans(),
            "mixed": typed_values,
        }[chosen]
        values = draw(st.lists(st.none() | element, min_size=count, max_size=count))
        columns[name] = _arrow_column(ITEMS[name], values)
    return pa.table(columns)


@SETTINGS
@given(candidate_tables())
def test_any_table_gives_a_decision_per_row_or_the_projects_error(table: pa.Table) -> None:
    try:
        run = screen_table(PROTOCOL, table, today=TODAY)
    except EndotrialError as error:
        assert str(error)
        return
    _check_run(run, table.num_rows)
