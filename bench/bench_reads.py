"""Latency of the read side on the demo database: a participant's timeline and the dashboard.

Run: .venv/bin/python bench/bench_reads.py [--database URL]   (about 1.5 min: builds the demo
first, in a temporary folder, unless a demo database is given.)

Each read is measured beside a baseline that reads the same database with one plain SQL
statement, call by call in turn so both see the same load; medians and the ratio are printed:
- timeline: `participant_timeline` (sign-in check, role and site check, her records from six
  tables, her schedule built and matched) against `SELECT count(*) FROM ultrasounds WHERE
  participant_id = ?`;
- dashboard: `dashboard` (every participant's timeline, queries' owners, AEs, screening and
  enrolment counts) against `SELECT site_id, arm, status, count(*) FROM participants GROUP BY
  ...`, the one count a hand-written dashboard would start from.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, text

from endotrial.demo import build_demo
from endotrial.demo.run import DEMO_PASSWORDS, MONITOR
from endotrial.protocol import load_protocol
from endotrial.services import dashboard, open_study, participant_timeline, participants, sign_in
from endotrial.store import make_engine

ROUNDS = 200
DASHBOARD_ROUNDS = 30
WARM_UP = 3


def _timed(call: Callable[[int], object], index: int) -> float:
    started = time.perf_counter()
    call(index)
    return (time.perf_counter() - started) * 1000


def _side_by_side(
    name: str, read: Callable[[int], object], baseline: Callable[[int], object], rounds: int
) -> None:
    for index in range(WARM_UP):
        read(index), baseline(index)
    read_ms, base_ms = [], []
    for index in range(rounds):
        read_ms.append(_timed(read, index))
        base_ms.append(_timed(baseline, index))
    read_median, base_median = statistics.median(read_ms), statistics.median(base_ms)
    p95 = statistics.quantiles(read_ms, n=20)[-1]
    print(
        f"{name:<10} read median {read_median:7.2f} ms (p95 {p95:6.2f})   plain SQL median "
        f"{base_median:6.3f} ms   read / SQL {read_median / base_median:6.0f}x"
    )


def _count(engine: Engine, sql: str, **params: object) -> object:
    with engine.connect() as connection:
        return connection.execute(text(sql), params).all()


def run(url: str) -> None:
    engine = make_engine(url)
    study = open_study(engine, load_protocol())
    monitor = sign_in(study, MONITOR, DEMO_PASSWORDS[MONITOR])
    ids = [p.participant_id for p in participants(study, monitor)]
    print(f"demo database: {len(ids)} participants")
    _side_by_side(
        "timeline",
        lambda i: participant_timeline(study, monitor, ids[i % len(ids)]),
        lambda i: _count(
            engine,
            "SELECT count(*) FROM ultrasounds WHERE participant_id = :pid",
            pid=ids[i % len(ids)],
        ),
        ROUNDS,
    )
    _side_by_side(
        "dashboard",
        lambda i: dashboard(study, monitor),
        lambda i: _count(
            engine,
            "SELECT site_id, arm, status, count(*) FROM participants GROUP BY site_id, arm, status",
        ),
        DASHBOARD_ROUNDS,
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a demo database already built (sqlite:///...)")
    url = parser.parse_args().database
    if url is not None:
        run(url)
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        started = time.perf_counter()
        build_demo(url)
        print(f"demo built in {time.perf_counter() - started:.0f} s")
        run(url)


if __name__ == "__main__":
    main()
