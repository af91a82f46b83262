"""Screening in batches gives what screening the whole file at once gives.

The reader's block is shrunk to a few kilobytes so a small file crosses many block boundaries,
with ragged rows and repeated ids falling anywhere, first and last rows included.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from endotrial.eligibility import engine, screen_file, screen_table, sources, stream_file
from endotrial.protocol import Protocol

EXAMPLE = Path(__file__).parents[2] / "examples" / "candidates.csv"
TODAY = dt.date(2025, 12, 1)


def _many_rows(copies: int) -> tuple[str, list[str]]:
    header, *rows = EXAMPLE.read_text(encoding="utf-8").splitlines()
    lines = [f"{copy}-{row}" for copy in range(copies) for row in rows]
    return header, lines


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "CSV_BLOCK_BYTES", 4096)
    monkeypatch.setattr(sources, "BATCH_ROWS", 97)
    monkeypatch.setattr(engine, "RESULT_BATCH_ROWS", 130)


@pytest.mark.usefixtures("small_blocks")
def test_ragged_rows_anywhere_keep_every_other_rows_result(
    tmp_path: Path, seed_protocol: Protocol
) -> None:
    header, lines = _many_rows(copies=20)  # 600 rows, about 40 blocks
    lines[450] = lines[3].split(",", 1)[0] + lines[450][lines[450].index(",") :]  # repeats row 4
    whole = tmp_path / "whole.csv"
    whole.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    ragged_rows = {1, 2, 137, 138, 139, 300, 599, 600}  # 1-based data rows
    broken = [line + ",extra" if n in ragged_rows else line for n, line in enumerate(lines, 1)]
    broken[299] = broken[299].rsplit(",", 2)[0]  # row 300 a field short instead
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("\n".join([header, *broken]) + "\n", encoding="utf-8")

    reference = screen_file(seed_protocol, whole, today=TODAY).rows()
    run = screen_file(seed_protocol, ragged, today=TODAY)
    rows = run.rows()
    assert [r["row"] for r in rows] == list(range(1, 601))
    for expected, got in zip(reference, rows, strict=True):
        if got["row"] in ragged_rows:
            assert got["decision"] == "invalid"
            assert got["errors"][0].startswith(f"row {got['row']} (line {got['row'] + 1}): ")
            assert got["candidate_id"] == expected["candidate_id"]
        else:
            assert got == expected
    repeat = rows[450]
    assert repeat["decision"] == "invalid" and "repeats the id of row 4" in repeat["errors"][0]
    invalid_before = {row["row"] for row in reference if row["decision"] == "invalid"}
    assert run.counts["invalid"] == len(invalid_before | ragged_rows)


@pytest.mark.usefixtures("small_blocks")
def test_a_stream_counts_and_numbers_rows_as_it_goes(
    tmp_path: Path, seed_protocol: Protocol
) -> None:
    header, lines = _many_rows(copies=10)
    path = tmp_path / "candidates.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    stream = stream_file(seed_protocol, path, today=TODAY)
    assert stream.total == 300 and stream.screened == 0
    sizes = [batch.num_rows for batch in stream]
    assert len(sizes) > 1 and sum(sizes) == 300 == stream.screened
    assert sum(stream.counts.values()) == 300


@pytest.mark.usefixtures("small_blocks")
def test_a_repeat_across_a_tables_batches_is_found(seed_protocol: Protocol) -> None:
    header, lines = _many_rows(copies=10)
    csv_text = "\n".join([header, *lines]).encode("utf-8")
    table = pacsv.read_csv(pa.BufferReader(csv_text))
    ids = table.column("candidate_id").to_pylist()
    ids[250] = ids[7]  # a repeat across batches
    table = table.set_column(0, "candidate_id", pa.array(ids))
    batched = screen_table(seed_protocol, table, today=TODAY).rows()
    assert [r["row"] for r in batched] == list(range(1, 301))
    assert batched[250]["decision"] == "invalid"
    assert "repeats the id of row 8" in batched[250]["errors"][0]
