"""The writers of one SQLite database wait their turn in a queue, not in SQLite's busy handler.

SQLite lets one writer at a time hold its write lock. A writer that finds it taken sleeps and
tries again (after 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms, ...): under load a write
then waits several times longer than the writes ahead of it took, and a newcomer can take the
lock before one that has waited (with two server processes, one process's writes starved the
other's for seconds). So the threads of one process that write the same SQLite file queue on
a lock, and the processes (`endotrial serve --workers N`, a command run meanwhile) on an
advisory lock of an empty file beside the database (`<database>-writers`, with the database's
permission bits): a writer is woken the moment the one ahead of it is done. The operating
system drops a killed process's lock; a turn not had within `QUEUE_TIMEOUT_S` (a stopped
process holding it) is given up, and the writer waits at SQLite's lock as before, which
answers "busy" in the end rather than hanging. PostgreSQL queues writers on the audit chain's
row lock and wakes them itself: no queue here.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

#: The file beside a SQLite database whose lock its writers queue for.
LOCK_FILE_SUFFIX = "-writers"
#: As long as SQLite itself waits for its lock (busy_timeout).
QUEUE_TIMEOUT_S = 30.0

_THREADS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_MADE = threading.Lock()
_HELD = threading.local()  # the engines whose turn this thread holds (a turn is re-entrant)


@contextmanager
def write_turn(engine: Engine) -> Iterator[None]:
    """Wait for the turn to write `engine`'s SQLite database (a thread holding it already goes
    on); at once for any other database."""
    held: set[int] = _HELD.__dict__.setdefault("engines", set())
    if engine.dialect.name != "sqlite" or id(engine) in held:
        yield
        return
    started = time.monotonic()
    threads = _threads_of(engine)
    if not threads.acquire(timeout=QUEUE_TIMEOUT_S):
        yield  # SQLite's own wait decides
        return
    held.add(id(engine))
    lock_file = None
    try:
        path = _lock_path(engine)
        if path is not None:
            lock_file = _file_turn(path, QUEUE_TIMEOUT_S - (time.monotonic() - started))
        yield
    finally:
        if lock_file is not None:
            os.close(lock_file)  # closing it gives the turn to the next process
        held.discard(id(engine))
        threads.release()


def _threads_of(engine: Engine) -> threading.Lock:
    with _MADE:
        threads = _THREADS.get(engine)
        if threads is None:
            threads = _THREADS[engine] = threading.Lock()
        return threads


def _lock_path(engine: Engine) -> str | None:
    """`<database>-writers` for a database file; None in memory."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database + LOCK_FILE_SUFFIX


def _file_turn(path: str, timeout_s: float) -> int | None:
    """The lock file opened and locked, once the process ahead has closed its own; None when
    the file cannot be opened (a folder that cannot be written) or within `timeout_s` the turn
    did not come. A lock had too late is given straight back."""
    try:
        lock_file = os.open(path, os.O_RDONLY | os.O_CREAT, _mode_beside(path))
    except OSError:
        return None
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return lock_file
    except BlockingIOError:
        pass
    except OSError:
        os.close(lock_file)
        return None
    return _waited_turn(lock_file, max(timeout_s, 0.0))


def _waited_turn(lock_file: int, timeout_s: float) -> int | None:
    """flock cannot time out: a helper thread waits in it, and closes the file itself if the
    writer has stopped waiting meanwhile."""
    decided = threading.Lock()
    had = threading.Event()
    given_up = False

    def wait() -> None:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        except OSError:
            os.close(lock_file)
            return
        with decided:
            if given_up:
                os.close(lock_file)
            else:
                had.set()

    def give_up() -> None:
        nonlocal given_up
        with decided:
            given_up = True
            if had.is_set():  # it came meanwhile: give it straight back
                os.close(lock_file)

    try:
        threading.Thread(target=wait, name="sqlite-write-turn", daemon=True).start()
    except RuntimeError:  # no thread to be had: SQLite's own wait decides
        os.close(lock_file)
        return None
    except BaseException:  # interrupted (Ctrl-C in a shell) once the helper was started
        give_up()
        raise
    try:
        if had.wait(timeout_s):
            return lock_file
    except BaseException:
        give_up()
        raise
    with decided:
        if had.is_set():
            return lock_file
        given_up = True
    return None


def _mode_beside(path: str) -> int:
    """The lock file may be opened (read-only: flock needs no more) by whoever may read and
    write the database: its permission bits, else the owner's alone."""
    try:
        return os.stat(path.removesuffix(LOCK_FILE_SUFFIX)).st_mode & 0o666
    except OSError:
        return 0o600
