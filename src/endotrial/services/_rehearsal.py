"""The state of a dry run in progress (`services.dry_run`), read by `writing()`.

A context variable, not a parameter: every operation opens its transaction through `writing()`,
so one switch there rehearses any of them, and an operation needs no dry-run argument of its own.
While a dry run is active, nothing may commit on any engine (a write outside `writing()`, such as
a sign-in's, is stopped rather than made).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

from endotrial.store.unit_of_work import DryRun


@dataclass
class Rehearsal:
    """What one dry run has seen: each transaction's planned changes, and what the operation
    noted along the way (e.g. the dose it computed before refusing)."""

    transactions: list[DryRun] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    committed_outside: bool = False


#: What `record_procedure` notes before its safety and override checks (its `DosePlan`).
DOSE_PLAN_NOTE = "dose_plan"

_CURRENT: ContextVar[Rehearsal | None] = ContextVar("endotrial_rehearsal", default=None)


def current() -> Rehearsal | None:
    return _CURRENT.get()


def begin() -> tuple[Rehearsal, Any]:
    rehearsal = Rehearsal()
    return rehearsal, _CURRENT.set(rehearsal)


def end(token: Any) -> None:
    _CURRENT.reset(token)


def transaction_dry_run() -> DryRun | None:
    """For `writing()`: a DryRun to give the unit of work when a dry run is active, else None."""
    rehearsal = _CURRENT.get()
    if rehearsal is None:
        return None
    dry_run = DryRun()
    rehearsal.transactions.append(dry_run)
    return dry_run


def note(name: str, value: Any) -> None:
    """Keep a value an operation computed, for the dry run to show even if it is refused (the
    procedure's dose before its override check); nothing when no dry run is active."""
    rehearsal = _CURRENT.get()
    if rehearsal is not None:
        rehearsal.notes[name] = value


class CommitDuringDryRun(Exception):
    """A commit was attempted while a dry run was active (stopped before it happened)."""


def _refuse_commit(_connection: Any) -> None:
    rehearsal = _CURRENT.get()
    if rehearsal is not None:
        rehearsal.committed_outside = True
        raise CommitDuringDryRun("nothing may be committed during a dry run")


if not event.contains(Engine, "commit", _refuse_commit):
    event.listen(Engine, "commit", _refuse_commit)
