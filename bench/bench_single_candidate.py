"""Benchmark: screening ONE candidate, as a screening form and enrolment do (issue 8, finding 7).

Measures, warm (each path's first call excluded) and interleaved call by call in one process, so
both see the same load:
  1. before: the engine as it was at BASELINE_COMMIT, run from a copy of its `eligibility` package
     taken out of git (every call wrote the ~30-50 KB query and DuckDB's Python client parsed,
     bound and planned it, once for the ids and once for the rows);
  2. after: this engine, whose one-row screenings run the query prepared once per column layout;
for `screen_candidate` (enrolment's re-check, a form's live check) and `screen_table` with a
one-row table (what the services call on every screening form save). The candidates cycle through
values of one form layout (eligible, too old, an exclusion met, an arm closed, a bad value typed as
text is another layout and gets its own line). Results are checked equal between the two.

Run:  .venv/bin/python bench/bench_single_candidate.py [--calls 200] [--before-calls 60]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa

from endotrial.eligibility import screen_candidate, screen_table
from endotrial.protocol import load_protocol

# The eligible seed candidate the eligibility tests use (one definition).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "eligibility"))
from seed_candidate import TODAY
from seed_candidate import eligible_items as eligible

#: The last commit before the prepared one-row path (the engine "before").
BASELINE_COMMIT = "a04fe38"
REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGE = "src/endotrial/eligibility"
#: One form layout, four answers: eligible, ineligible, an exclusion met, one arm closed.
SAME_LAYOUT = [
    {},
    {"age_years": 45},
    {"hypertension": True},
    {"iodine_allergy": True},
]
BAD_VALUES = {"age_years": "thirty", "hbsag": "unknown", "bmi_kg_m2": 200.0}


def before_package() -> ModuleType | None:
    """The `eligibility` package of BASELINE_COMMIT, importable as `eligibility_before`."""
    folder = Path(tempfile.mkdtemp(prefix="eligibility-before-")) / "eligibility_before"
    folder.mkdir()
    try:
        names = subprocess.run(
            ["git", "ls-tree", "--name-only", f"{BASELINE_COMMIT}:{PACKAGE}"],
            cwd=REPOSITORY,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        for name in (n for n in names if n.endswith(".py")):
            text = subprocess.run(
                ["git", "show", f"{BASELINE_COMMIT}:{PACKAGE}/{name}"],
                cwd=REPOSITORY,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            text = text.replace("endotrial.eligibility", "eligibility_before")
            (folder / name).write_text(text, encoding="utf-8")
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"(no 'before' engine: cannot read {BASELINE_COMMIT} from git: {error})")
        return None
    sys.path.insert(0, str(folder.parent))
    return importlib.import_module("eligibility_before")


Timings = dict[str, tuple[list[float], list[float]]]


def interleaved(paths: dict[str, Callable[[int], object]], calls: dict[str, int]) -> Timings:
    """Each path's wall and CPU times (this thread's: DuckDB runs one-row queries on the calling
    thread), the calls alternating between paths so they share the load. Warm: a first call of
    each is not counted (it writes and prepares what later calls reuse)."""
    for work in paths.values():
        work(0)
    times: Timings = {name: ([], []) for name in paths}
    for n in range(max(calls.values())):
        for name, work in paths.items():
            if n < calls[name]:
                wall, cpu = time.perf_counter(), time.thread_time()
                work(n)
                times[name][1].append(time.thread_time() - cpu)
                times[name][0].append(time.perf_counter() - wall)
    return times


def _ms(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def report(label: str, times: Timings) -> None:
    print(f"\n{label}")
    for name, (wall, cpu) in times.items():
        print(
            f"  {name:<8} median {statistics.median(wall) * 1000:8.2f} ms   "
            f"p95 {_ms(wall, 95):8.2f} ms   CPU median {statistics.median(cpu) * 1000:8.2f} ms"
            f"   ({len(wall)} calls)"
        )
    if "before" in times:
        ratio = statistics.median(times["before"][0]) / statistics.median(times["after"][0])
        print(f"  median before / after: {ratio:.0f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="warm calls of the new path")
    parser.add_argument(
        "--before-calls", type=int, default=60, help="warm calls of the old one (0: after alone)"
    )
    args = parser.parse_args()
    protocol = load_protocol("nct07176143")
    old = before_package()
    forms = [{**eligible(), **changes} for changes in SAME_LAYOUT]
    bad = {**eligible(), **BAD_VALUES}

    def candidate_paths(items: list[dict[str, Any]]) -> dict[str, Callable[[int], object]]:
        paths: dict[str, Callable[[int], object]] = {
            "after": lambda n: screen_candidate(protocol, items[n % len(items)], today=TODAY)
        }
        if old is not None and args.before_calls > 0:
            paths["before"] = lambda n: old.screen_candidate(
                protocol, items[n % len(items)], today=TODAY
            )
        return paths

    def table_paths(items: list[dict[str, Any]]) -> dict[str, Callable[[int], object]]:
        tables = [pa.Table.from_pylist([i]) for i in items]
        paths: dict[str, Callable[[int], object]] = {
            "after": lambda n: screen_table(protocol, tables[n % len(tables)], today=TODAY)
        }
        if old is not None and args.before_calls > 0:
            paths["before"] = lambda n: old.screen_table(
                protocol, tables[n % len(tables)], today=TODAY
            )
        return paths

    calls = {"after": args.calls, "before": args.before_calls}
    if old is not None:
        for items in (*forms, bad):
            new_result = screen_candidate(protocol, items, today=TODAY)
            old_result = old.screen_candidate(protocol, items, today=TODAY)
            assert dataclasses.astuple(new_result) == dataclasses.astuple(old_result)
            table = pa.Table.from_pylist([items])
            new_rows = screen_table(protocol, table, today=TODAY).results
            assert new_rows.equals(old.screen_table(protocol, table, today=TODAY).results)
        print("results of before and after: identical on every candidate screened here")
    report(
        "screen_candidate, one form layout (4 candidates in turn)",
        interleaved(candidate_paths(forms), calls),
    )
    report("screen_candidate, bad values typed as text", interleaved(candidate_paths([bad]), calls))
    report(
        "screen_table, one-row table (the services' screening save)",
        interleaved(table_paths(forms), calls),
    )
    start = time.perf_counter()
    screen_candidate(protocol, {**eligible(), "afc": "7", "hcv_ab": None}, today=TODAY)
    print(
        f"\nfirst call of a new column layout (writes and prepares its query): "
        f"{(time.perf_counter() - start) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
