"""How long `endotrial demo` takes to build the synthetic trial (SQLite, through the services).

Run: .venv/bin/python bench/bench_demo.py   Prints the build time of each of 3 runs and the
audit entries written per second, so the figure can be compared with bench_audit.py's.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from endotrial.demo import build_demo
from endotrial.store import make_engine, verify_audit_chain

RUNS = 3


def _one_run(folder: Path, run: int) -> tuple[float, int]:
    url = f"sqlite:///{folder / f'demo-{run}.db'}"
    started = time.perf_counter()
    build_demo(url)
    elapsed_s = time.perf_counter() - started
    engine = make_engine(url)
    entries = verify_audit_chain(engine).entries_checked
    engine.dispose()
    return elapsed_s, entries


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for run in range(1, RUNS + 1):
            elapsed_s, entries = _one_run(Path(folder), run)
            print(
                f"run {run}: demo built in {elapsed_s:.2f} s, {entries} audit entries "
                f"({entries / elapsed_s:,.0f} audited field writes/s)"
            )


if __name__ == "__main__":
    main()
