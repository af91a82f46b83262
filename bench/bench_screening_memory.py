"""Benchmark: peak memory of `endotrial screen` on a 1,000,000-row candidate CSV, per output.

Writes the synthetic candidates of bench_screening.py (seed 7) as one CSV (about 250 MB), then
runs the command in a fresh process for each output — `--out` .csv, `--out` .parquet, `--json`
and the console listing (stdout to /dev/null) — and reports each process's peak resident memory
(the kernel's maxrss for that child, from os.wait4) against the 500 MB target, with its time.

Run:  .venv/bin/python bench/bench_screening_memory.py [--candidates 1000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).parent))
from bench_screening import make_candidates

TARGET_MB = 500
ENDOTRIAL = Path(sys.executable).with_name("endotrial")


def _peak_of(args: list[str], stdout: int) -> tuple[int, float, int]:
    """(exit code, seconds, peak resident MB) of one run of `endotrial args`."""
    start = time.perf_counter()
    process = subprocess.Popen([str(ENDOTRIAL), *args], stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 and process.stderr is not None:
        print(process.stderr.read().decode(errors="replace")[-2000:], file=sys.stderr)
    if process.stderr is not None:
        process.stderr.close()
    return process.returncode, seconds, usage.ru_maxrss // 1024  # Linux: kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "candidates.csv"
        pacsv.write_csv(make_candidates(args.candidates), path)
        size_mb = path.stat().st_size / 1e6
        print(f"{args.candidates:,} candidates, {size_mb:,.0f} MB of CSV")
        runs = {
            "--out results.csv": ["--out", str(Path(folder) / "results.csv")],
            "--out results.parquet": ["--out", str(Path(folder) / "results.parquet")],
            "--json (to /dev/null)": ["--json"],
            "console listing (to /dev/null)": [],
        }
        print(f"{'output':<32} {'peak memory':>12} {'time':>9} {'candidates/s':>13}  target")
        with open(os.devnull, "wb") as devnull:
            for label, extra in runs.items():
                code, seconds, peak_mb = _peak_of(["screen", str(path), *extra], devnull.fileno())
                verdict = "met" if peak_mb < TARGET_MB else "MISSED"
                failed = "" if code == 0 else f"  (exit code {code})"
                print(
                    f"{label:<32} {peak_mb:>9,} MB {seconds:>7.1f} s "
                    f"{args.candidates / seconds:>13,.0f}  < {TARGET_MB} MB {verdict}{failed}"
                )


if __name__ == "__main__":
    main()
