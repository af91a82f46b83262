"""Screening results: one frozen result per candidate, one run object per file or table.

The run keeps its rows as an Arrow table (columnar, so a million rows stay cheap) and renders
them as CSV, Parquet, JSON or a short text summary for a shell to print.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from endotrial.errors import InputError

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
        lengths = pc.list_value_length(self.results.column("errors"))
        return int(pc.sum(pc.greater(lengths, 0)).as_py() or 0)

    def rows(self) -> list[dict[str, Any]]:
        """The results as plain dicts (lists stay lists), for JSON and small files."""
        rows: list[dict[str, Any]] = self.results.to_pylist()
        return rows

    def write(self, path: str | Path) -> Path:
        """Write the results as Parquet (`.parquet`) or CSV (lists joined by '; ')."""
        target = checked_output_path(path)
        try:
            if target.suffix.lower() in PARQUET_OUTPUT_SUFFIXES:
                pq.write_table(self.results, target)
            else:
                pacsv.write_csv(_flattened(self.results), target)
        except OSError as error:
            raise InputError(f"{target}: cannot write the results: {error}") from None
        return target

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol_id": self.protocol_id,
            "source": self.source,
            "counts": dict(self.counts),
            "file_warnings": list(self.file_warnings),
            "to_confirm_at_enrolment": [
                {"criterion": cid, "enforced_by": by} for cid, by in self.to_confirm
            ],
            "candidates": self.rows(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def summary(self) -> str:
        """A few lines a coordinator reads first: counts, warnings, what enrolment must confirm."""
        counts = ", ".join(f"{self.counts.get(d, 0)} {d}" for d in DECISIONS)
        screened = _plural(self.total, "candidate")
        lines = [f"{self.source}: {screened} screened against {self.protocol_id}"]
        lines.append(f"  {counts}")
        if self.rows_with_errors:
            with_errors = _plural(self.rows_with_errors, "row")
            lines.append(f"  {with_errors} with value errors (see `errors`)")
        lines.extend(f"  warning: {warning}" for warning in self.file_warnings)
        lines.extend(
            f"  {cid} {TO_CONFIRM_NOTE}" + (f": {by}" if by else "") for cid, by in self.to_confirm
        )
        return "\n".join(lines)


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


def count_decisions(results: pa.Table) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(DECISIONS, 0)
    for entry in pc.value_counts(results.column("decision")).to_pylist():
        counts[str(entry["values"])] = int(entry["counts"])
    return counts


def _flattened(results: pa.Table) -> pa.Table:
    columns = {
        name: (
            pc.binary_join(results.column(name), "; ")
            if name in LIST_COLUMNS
            else results.column(name)
        )
        for name in results.column_names
    }
    return pa.table(columns)
