"""The writers of a SQLite database queue for their turn (store.write_queue): across processes
on the lock of `<database>-writers`, which the operating system drops when its holder is
killed; a turn not had in time is given up (the writer then waits at SQLite's own lock), and
its late lock is given straight back. PostgreSQL keeps no queue."""

import fcntl
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from store_helpers import audit_count, enrol_participant, writes

from endotrial.store import Participant, verify_audit_chain, write_queue
from endotrial.store.request_keys import claim_request
from endotrial.store.write_queue import LOCK_FILE_SUFFIX, write_turn

#: A process that takes the writers' lock of the file given, says so, and keeps it until killed.
_HOLDER = (
    "import fcntl, os, sys, time\n"
    "f = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
    "fcntl.flock(f, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "time.sleep(600)\n"
)


#: The `engine` fixture on SQLite only: PostgreSQL keeps no queue.
ON_SQLITE = pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)


def _lock_file(engine: Engine) -> str:
    return f"{engine.url.database}{LOCK_FILE_SUFFIX}"


def _held_elsewhere(lock_file: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, lock_file], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def _kill(holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.wait()
    if holder.stdout is not None:
        holder.stdout.close()


def _free(lock_file: str) -> bool:
    """Whether nobody holds the writers' lock (taken and given back at once)."""
    probe = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(probe)


def _write_in_thread(engine: Engine, participant_id: int) -> threading.Thread:
    def write() -> None:
        with writes(engine, "coord1", reason="consented") as session:
            session.get_one(Participant, participant_id).status = "consented"

    thread = threading.Thread(target=write)
    thread.start()
    return thread


@ON_SQLITE
def test_a_write_holds_the_turn_of_every_process_until_it_is_done(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    lock_file = _lock_file(engine)
    assert _free(lock_file)
    with writes(engine, "coord1", reason="consented") as session:
        assert not _free(lock_file)  # another process's writer would wait here
        with write_turn(engine):  # the same thread again: goes on (re-entrant)
            pass
        session.get_one(Participant, participant_id).status = "consented"
    assert _free(lock_file)


@ON_SQLITE
def test_another_process_holding_the_turn_makes_a_write_wait_until_it_is_killed(
    engine: Engine,
) -> None:
    """The holder takes no SQLite lock: only the queue can make the writer wait. Killed, its
    lock is dropped by the operating system and the write goes through."""
    participant_id = enrol_participant(engine)
    before = audit_count(engine)
    holder = _held_elsewhere(_lock_file(engine))
    try:
        thread = _write_in_thread(engine, participant_id)
        thread.join(timeout=0.5)
        assert thread.is_alive()  # waiting for its turn
    finally:
        _kill(holder)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert audit_count(engine) == before + 1
    assert verify_audit_chain(engine).ok


@ON_SQLITE
def test_a_turn_not_had_in_time_is_given_up_and_its_late_lock_given_back(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stopped process holding the turn cannot stop writes for good: after the queue's
    timeout the writer goes on to SQLite's lock (free here) and saves. The lock its helper
    gets later is given straight back: the next writer is not kept waiting by it."""
    monkeypatch.setattr(write_queue, "QUEUE_TIMEOUT_S", 0.3)
    participant_id = enrol_participant(engine)
    before = audit_count(engine)
    lock_file = _lock_file(engine)
    holder = _held_elsewhere(lock_file)
    try:
        thread = _write_in_thread(engine, participant_id)
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert audit_count(engine) == before + 1
    finally:
        _kill(holder)
    deadline = time.monotonic() + 10
    while not _free(lock_file) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _free(lock_file)


@ON_SQLITE
def test_threads_writing_at_once_each_save_once_in_one_unbroken_trail(
    engine: Engine,
) -> None:
    participant_id = enrol_participant(engine)
    before = audit_count(engine)
    threads = [_write_in_thread(engine, participant_id) for _ in range(8)]
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert audit_count(engine) == before + 1  # the status changed once; 7 saved nothing
    assert verify_audit_chain(engine).ok
    assert _free(_lock_file(engine))


def test_no_lock_file_where_there_is_no_file_or_no_sqlite(tmp_path: Path) -> None:
    for url in ("sqlite://", "sqlite:///:memory:"):
        with write_turn(create_engine(url)):
            pass
    postgres = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected
    with write_turn(postgres):
        pass
    unwritable = create_engine(f"sqlite:///{tmp_path / 'no such folder' / 'trial.db'}")
    with write_turn(unwritable):  # its writers meet at SQLite's lock only
        pass
    assert os.listdir(tmp_path) == []


class _StartInterrupted(threading.Event):
    """Ctrl-C while the helper thread starts (Thread.start waits on an event, untimed)."""

    def wait(self, timeout: float | None = None) -> bool:
        raise KeyboardInterrupt


class _WaitInterrupted(threading.Event):
    """Ctrl-C while the writer waits for its turn (a timed wait)."""

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None:
            return super().wait()
        raise KeyboardInterrupt


@ON_SQLITE
@pytest.mark.parametrize("interrupted", [_StartInterrupted, _WaitInterrupted])
def test_a_wait_interrupted_gives_the_turn_straight_back_when_it_comes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, interrupted: type[threading.Event]
) -> None:
    lock_file = _lock_file(engine)
    holder = _held_elsewhere(lock_file)
    try:
        monkeypatch.setattr(write_queue.threading, "Event", interrupted)
        with pytest.raises(KeyboardInterrupt), write_turn(engine):
            pass
        monkeypatch.undo()
    finally:
        _kill(holder)
    deadline = time.monotonic() + 10
    while not _free(lock_file) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _free(lock_file)  # not kept by the helper that got it after the interruption


@ON_SQLITE
def test_a_request_key_is_claimed_in_turn_too(engine: Engine) -> None:
    """The web's double-submit guard writes outside the unit of work: it queues as well."""
    holder = _held_elsewhere(_lock_file(engine))
    claimed: list[object] = []
    try:
        thread = threading.Thread(
            target=lambda: claimed.append(
                claim_request(engine, "d" * 64, "owner", "b" * 64, timedelta(minutes=1))
            )
        )
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive() and claimed == []
    finally:
        _kill(holder)
    thread.join(timeout=30)
    assert claimed == [True]
