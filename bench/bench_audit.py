"""Audited writes per second vs the same writes without the audit trail, on SQLite, in one run.

The audited writes are what the services do: a signed-in user's unit of work (the write lock
taken first, the sign-in checked), each entry with its MAC, and the chain's tip signed into the
checkpoint log after every commit. Each case runs on its own fresh, migrated SQLite file (WAL,
synchronous=FULL), doing the same work:
inserts of ultrasound records, then corrections of each (an UPDATE with a reason). "Per write"
commits every record in its own transaction (how the app writes); "batched" commits 100 per
transaction, so the trail's own CPU cost is not hidden behind the commit's fsync.
Each case alternates plain and audited runs for several rounds and reports the medians.
Run: python bench/bench_audit.py [--records N] [--rounds R]
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from endotrial.store import (
    Participant,
    Role,
    Site,
    Ultrasound,
    User,
    make_engine,
    upgrade_database,
)
from endotrial.store.audit import install_listeners, remove_listeners
from endotrial.store.auth import open_auth_session
from endotrial.store.unit_of_work import unit_of_work

Opener = Callable[[Engine, str | None], AbstractContextManager[Session]]
_TOKENS: dict[int, str] = {}


def audited(engine: Engine, reason: str | None) -> AbstractContextManager[Session]:
    return unit_of_work(engine, token=_TOKENS[id(engine)], reason=reason)


@contextmanager
def plain(engine: Engine, _reason: str | None) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def _setup(path: Path) -> tuple[Engine, int]:
    url = f"sqlite:///{path}"
    upgrade_database(url)
    engine = make_engine(url)
    with unit_of_work(engine, setup_user="bench") as session:
        site = Site(code="B", name="Bench site")
        session.add(site)
        session.flush()
        user = User(username="bench", full_name="B", role=Role.INVESTIGATOR, password_hash="-")
        participant = Participant(study_id="B001", site_id=site.id, status="enrolled")
        session.add_all([user, participant])
        session.flush()
        user_id, participant_id = user.id, participant.id
    with Session(engine) as session, session.begin():
        _TOKENS[id(engine)] = open_auth_session(session, user_id, timedelta(hours=1))
    return engine, participant_id


def _workload(engine: Engine, participant_id: int, open_: Opener, n: int, batch: int) -> float:
    """Seconds for n inserts then n updates, committing every `batch` records."""
    ids: list[int] = []
    started = time.perf_counter()
    for start in range(0, n, batch):
        with open_(engine, None) as session:
            scans = [
                Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, 1 + i % 28))
                for i in range(start, min(start + batch, n))
            ]
            for i, scan in enumerate(scans):
                scan.thickness_mm, scan.trilaminar = 5.0 + i / 100, False
            session.add_all(scans)
            session.flush()
            ids += [scan.id for scan in scans]
    for start in range(0, n, batch):
        with open_(engine, "re-measured") as session:
            for scan_id in ids[start : start + batch]:
                session.get_one(Ultrasound, scan_id).thickness_mm = 7.25
    return time.perf_counter() - started


def measure(folder: Path, name: str, audit_on: bool, n: int, batch: int) -> float:
    """Writes per second (inserts + updates) for one case on a fresh database."""
    engine, participant_id = _setup(folder / f"{name}.db")
    if not audit_on:
        remove_listeners()
    try:
        seconds = _workload(engine, participant_id, audited if audit_on else plain, n, batch)
    finally:
        install_listeners()
        engine.dispose()
    return 2 * n / seconds


def compare(folder: Path, case: str, n: int, batch: int, rounds: int) -> tuple[float, float]:
    """Median writes/s without and with the trail, the two cases alternating round by round
    so that drifts in disk and CPU speed hit both alike."""
    plain_rates, audited_rates = [], []
    for r in range(rounds):
        plain_rates.append(measure(folder, f"plain_{case}_{r}", False, n, batch))
        audited_rates.append(measure(folder, f"audited_{case}_{r}", True, n, batch))
    return statistics.median(plain_rates), statistics.median(audited_rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=400, help="records per case (default 400)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    args = parser.parse_args()
    print(f"{'case':<10} {'without trail':>15} {'with trail':>13} {'cost':>7}   (median writes/s)")
    with tempfile.TemporaryDirectory() as tmp:
        for case, batch, n in (("per write", 1, args.records), ("batched", 100, 10 * args.records)):
            plain_rate, audited_rate = compare(
                Path(tmp), case.replace(" ", "_"), n, batch, args.rounds
            )
            ratio = plain_rate / audited_rate
            print(f"{case:<10} {plain_rate:>15.0f} {audited_rate:>13.0f} {ratio:>6.2f}x")


if __name__ == "__main__":
    main()
