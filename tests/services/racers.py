"""Worker processes for the race tests: each signs in, waits at a barrier with the others, then
calls one operation at the same moment; it reports what happened, never raises."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from endotrial.errors import EndotrialError
from endotrial.protocol import Protocol, load_protocol
from endotrial.services import (
    Actor,
    ConsentInput,
    CycleStartInput,
    EnrolmentInput,
    ProcedureInput,
    Study,
    TransferInput,
    enrol,
    record_consent,
    record_procedure,
    record_transfer,
    set_account_active,
    sign_in,
    start_cycle,
)
from endotrial.store import make_engine

PASSWORD = "correct horse battery"
Outcome = tuple[str, Any]


def _consent(study: Study, actor: Actor, screening_id: int, on: str) -> Any:
    consent = ConsentInput(
        screening_id=screening_id,
        form_version="v1",
        consent_date=dt.date.fromisoformat(on),
        taken_by=actor.username,
    )
    return record_consent(study, actor, consent)


def with_target(protocol: Protocol, target: int) -> Protocol:
    """The protocol with another enrolment target (a database set up with it runs it)."""
    identity = protocol.identity.model_copy(update={"enrollment_target": target})
    return protocol.model_copy(update={"identity": identity})


def _enrol(study: Study, actor: Actor, screening_id: int, on: str, target: int) -> Any:
    """Enrol in a database set up with the enrolment target `target` (the race is for the
    last place)."""
    enrolment = EnrolmentInput(screening_id=screening_id, enrolled_on=dt.date.fromisoformat(on))
    return enrol(Study(study.engine, with_target(study.protocol, target)), actor, enrolment)


def _start_cycle(study: Study, actor: Actor, participant_id: int, cycle: str, on: str) -> Any:
    start = CycleStartInput(
        participant_id=participant_id, cycle=cycle, start_date=dt.date.fromisoformat(on)
    )
    return start_cycle(study, actor, start)


def _procedure(study: Study, actor: Actor, values: dict[str, Any]) -> Any:
    values = {**values, "procedure_date": dt.date.fromisoformat(values["procedure_date"])}
    return record_procedure(study, actor, ProcedureInput(**values)).procedure_id


def _transfer(study: Study, actor: Actor, participant_id: int, on: str) -> Any:
    transfer = TransferInput(
        participant_id=participant_id,
        transfer_date=dt.date.fromisoformat(on),
        embryo_grades=["4AB"],
    )
    return record_transfer(study, actor, transfer)


def _deactivate(study: Study, actor: Actor, username: str) -> Any:
    set_account_active(study, actor, username, active=False, reason="leaves the study team")
    return username


def _guess(study: Study, actor: Actor, username: str) -> Any:
    """A wrong password for someone else's account (the throttle's race)."""
    del actor
    return sign_in(study, username, "a wrong guess")


OPERATIONS: dict[str, Callable[..., Any]] = {
    "guess": _guess,
    "consent": _consent,
    "enrol": _enrol,
    "start_cycle": _start_cycle,
    "procedure": _procedure,
    "transfer": _transfer,
    "deactivate": _deactivate,
}


def work(url: str, barrier: Any, tasks: Any, results: Any) -> None:
    """Run tasks (username, operation, args) until None; one result per task."""
    engine = make_engine(url)
    study = Study(engine, load_protocol("nct07176143"))
    actors: dict[str, Actor] = {}
    while (task := tasks.get()) is not None:
        username, operation, args = task
        try:
            actor = actors.get(username) or sign_in(study, username, PASSWORD)
            actors[username] = actor
        except EndotrialError as error:
            barrier.wait()
            results.put(("error", f"sign-in: {error}"))
            continue
        barrier.wait()
        results.put(_attempt(OPERATIONS[operation], study, actor, args))
    engine.dispose()


def _attempt(
    operation: Callable[..., Any], study: Study, actor: Actor, args: tuple[Any, ...]
) -> Outcome:
    try:
        return ("ok", operation(study, actor, *args))
    except EndotrialError as error:
        return ("refused", error.code)
    except Exception as error:  # the project's errors only: anything else is the finding
        return ("error", f"{type(error).__name__}: {error}")


@dataclass
class Racers:
    """`size` worker processes released together for each round."""

    url: str
    size: int
    _context: Any = field(default_factory=lambda: mp.get_context("spawn"))

    def __post_init__(self) -> None:
        self.barrier = self._context.Barrier(self.size)
        self.tasks = self._context.Queue()
        self.results = self._context.Queue()
        self.processes = [
            self._context.Process(
                target=work, args=(self.url, self.barrier, self.tasks, self.results)
            )
            for _ in range(self.size)
        ]
        for process in self.processes:
            process.start()

    def round(self, *attempts: tuple[str, str, tuple[Any, ...]]) -> list[Outcome]:
        """Each attempt (username, operation, args) in its own process, all at once."""
        assert len(attempts) == self.size
        for attempt in attempts:
            self.tasks.put(attempt)
        try:
            return [self.results.get(timeout=120) for _ in attempts]
        except queue.Empty:  # pragma: no cover - a hung worker fails the test, not the suite
            self.close()
            raise AssertionError("a racing process did not answer within 120 s") from None

    def close(self) -> None:
        for _ in self.processes:
            self.tasks.put(None)
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():  # pragma: no cover
                process.kill()
