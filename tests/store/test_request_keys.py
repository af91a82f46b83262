"""Request keys (store revision 0010): a request is claimed once, whichever process asks, its
answer kept for a while, its key freed when it saved nothing or its process died."""

import subprocess
import sys
import threading
from datetime import timedelta

from sqlalchemy import Engine, func, select

from endotrial.store import read_session
from endotrial.store.request_keys import (
    KeptAnswer,
    RequestKey,
    claim_request,
    finish_request,
)

MINUTE = timedelta(minutes=1)
ANSWER = KeptAnswer("b" * 64, 201, (("content-type", "application/json"),), b'{"id": 7}')


def _claim(engine: Engine, digest: str = "k1", owner: str = "o1") -> KeptAnswer | bool:
    return claim_request(engine, digest, owner, "b" * 64, MINUTE)


def _keys(engine: Engine) -> int:
    with read_session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(RequestKey)) or 0)


def test_a_key_is_claimed_once_then_gives_its_kept_answer(engine: Engine) -> None:
    assert _claim(engine) is True
    assert _claim(engine) is False  # still being done
    finish_request(engine, "k1", ANSWER, MINUTE, max_per_owner=10)
    assert _claim(engine) == ANSWER
    assert _claim(engine, "k2") is True  # another key is another request


def test_a_request_that_saved_nothing_frees_its_key(engine: Engine) -> None:
    assert _claim(engine) is True
    finish_request(engine, "k1", None, MINUTE, max_per_owner=10)
    assert _claim(engine) is True
    assert _keys(engine) == 1


def test_a_kept_answer_and_a_dead_claim_lapse(engine: Engine) -> None:
    assert _claim(engine) is True
    finish_request(engine, "k1", ANSWER, timedelta(seconds=-1), max_per_owner=10)
    assert _claim(engine) is True  # the answer's time is over: done again
    assert claim_request(engine, "dead", "o1", "", timedelta(seconds=-1)) is True
    assert claim_request(engine, "dead", "o1", "", MINUTE) is True  # its process never finished
    assert _keys(engine) == 2


def test_an_owner_keeps_at_most_its_share_its_oldest_forgotten(engine: Engine) -> None:
    for digest in ("other", "a", "b", "c"):
        owner = "someone else" if digest == "other" else "flooder"
        assert _claim(engine, digest, owner) is True
        finish_request(engine, digest, ANSWER, MINUTE, max_per_owner=2)
    assert _claim(engine, "other", "someone else") == ANSWER
    assert _claim(engine, "c", "flooder") == ANSWER
    assert _claim(engine, "b", "flooder") == ANSWER
    assert _claim(engine, "a", "flooder") is True  # the flooder's oldest, forgotten


def test_of_many_threads_claiming_one_key_at_once_exactly_one_gets_it(engine: Engine) -> None:
    start = threading.Barrier(8)
    got: list[KeptAnswer | bool] = []

    def claim() -> None:
        start.wait()
        got.append(_claim(engine, "together"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(got, key=str) == [False] * 7 + [True]


_RACER = """
import sys
from datetime import timedelta
from endotrial.store import make_engine
from endotrial.store.request_keys import claim_request
engine = make_engine(sys.argv[1])
won = [claim_request(engine, f"key-{n}", "o", "", timedelta(minutes=1)) is True
       for n in range(40)]
print(sum(won))
"""


def test_two_processes_claiming_the_same_keys_share_them(database_url: str, engine: Engine) -> None:
    """What `endotrial serve --workers 2` relies on: every key is won by one process only."""
    racers = [
        subprocess.Popen([sys.executable, "-c", _RACER, database_url], stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    won = [int(racer.communicate(timeout=120)[0]) for racer in racers]
    assert sum(won) == 40 and _keys(engine) == 40
