"""The reads of a participant's page (issue 10), side by side with the way they were read before.

Run: .venv/bin/python bench/bench_participant_page.py [--database URL]   (builds the demo first,
in a temporary folder, unless a demo database is given; then about 1 min.)

The page (`web.pages.render_participant`) reads her summary, timeline, queries and records.
Each round times, participants in turn and call by call so both see the same load:
- *now*: the four reads as the services do them;
- *naive*: the same, with `participant_records` done as before issue 10's fix (kept here): each
  table's statement built on every call and her fields' audit history read as ORM objects in
  one query per table;
- *plain SQL*: `SELECT * FROM audit_log WHERE entity = 'participants' AND row_id = ?`, the
  floor of any read of her history.
Medians, p95 and the ratios are printed, with the SQL statements each read sends.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, select, text

from endotrial.demo import build_demo
from endotrial.demo.run import DEMO_PASSWORDS, MONITOR
from endotrial.protocol import load_protocol
from endotrial.services import (
    Actor,
    Study,
    data_queries,
    open_study,
    participant_records,
    participant_summary,
    participant_timeline,
    participants,
    sign_in,
)
from endotrial.services.context import reading
from endotrial.services.permissions import Operation
from endotrial.services.reads import records as reads_records
from endotrial.store import make_engine
from endotrial.store.audit import AuditEntry

ROUNDS = 60
WARM_UP = 3


def _naive_records(study: Study, actor: Actor, participant_id: int) -> object:
    """`participant_records` before the fix: statements built per call, history per table."""
    with reading(study, actor, Operation.READ_PARTICIPANTS) as tx:
        views = []
        for model in reads_records.RECORD_TABLES:
            statement = reads_records._rows_of.__wrapped__(model)  # built anew, as before
            rows = tx.session.scalars(statement, {"participant_id": participant_id})
            views += [reads_records._view(row) for row in rows]
        by_table: dict[str, list[str]] = {}
        for view in views:
            by_table.setdefault(view.entity, []).append(str(view.row_id))
        found: dict[tuple[str, str, str], list[Any]] = {}
        for entity, row_ids in by_table.items():
            query = (
                select(AuditEntry)
                .where(AuditEntry.entity == entity, AuditEntry.row_id.in_(row_ids))
                .where(AuditEntry.field.is_not(None))
                .order_by(AuditEntry.seq)
            )
            for entry in tx.session.scalars(query):
                change = (entry.occurred_at, entry.username, entry.action,
                          reads_records._trail_text(entry.old_value),
                          reads_records._trail_text(entry.new_value), entry.reason)  # fmt: skip
                found.setdefault((entity, entry.row_id, str(entry.field)), []).append(change)
        return views, found


def _page(study: Study, actor: Actor, records: Callable[[Study, Actor, int], object]) -> Any:
    def read(pid: int) -> None:
        participant_summary(study, actor, pid)
        participant_timeline(study, actor, pid)
        data_queries(study, actor, participant_id=pid)
        records(study, actor, pid)

    return read


def _plain(engine: Engine) -> Callable[[int], object]:
    sql = text("SELECT * FROM audit_log WHERE entity = 'participants' AND row_id = :rid")

    def read(pid: int) -> object:
        with engine.connect() as connection:
            return connection.execute(sql, {"rid": str(pid)}).all()

    return read


def _statements(engine: Engine, read: Callable[[int], object], pid: int) -> int:
    sent = [0]

    def count(*_: object) -> None:
        sent[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    read(pid)
    event.remove(engine, "before_cursor_execute", count)
    return sent[0]


def run(url: str) -> None:
    engine = make_engine(url)
    study = open_study(engine, load_protocol())
    monitor = sign_in(study, MONITOR, DEMO_PASSWORDS[MONITOR])
    ids = [p.participant_id for p in participants(study, monitor)]
    reads = {
        "records now": lambda pid: participant_records(study, monitor, pid),
        "records naive": lambda pid: _naive_records(study, monitor, pid),
        "page now": _page(study, monitor, participant_records),
        "page naive": _page(study, monitor, _naive_records),
        "plain SQL": _plain(engine),
    }
    for index in range(WARM_UP):
        for read in reads.values():
            read(ids[index % len(ids)])
    times: dict[str, list[float]] = {name: [] for name in reads}
    for index in range(ROUNDS):
        for name, read in reads.items():
            started = time.perf_counter()
            read(ids[index % len(ids)])
            times[name].append((time.perf_counter() - started) * 1000)
    median = {name: statistics.median(ms) for name, ms in times.items()}
    print(f"demo database: {len(ids)} participants, {ROUNDS} rounds")
    for name, ms in times.items():
        p95 = statistics.quantiles(ms, n=20)[-1]
        count = _statements(engine, reads[name], ids[len(ids) // 2])
        print(f"{name:<14} median {median[name]:7.2f} ms  p95 {p95:7.2f} ms  statements {count}")
    print(f"records: naive / now {median['records naive'] / median['records now']:.2f}x")
    print(f"page:    naive / now {median['page naive'] / median['page now']:.2f}x")
    print(f"page now / plain SQL {median['page now'] / median['plain SQL']:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a demo database's URL (else one is built)")
    url = parser.parse_args().database
    if url is not None:
        run(url)
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        build_demo(url)
        run(url)


if __name__ == "__main__":
    main()
