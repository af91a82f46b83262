"""A dry run of any operation: would it be accepted, and if not why; what it would write.

`dry_run(record_procedure, study, actor, procedure)` runs the operation exactly as a save
would (the same checks, the same edit checks, under the same write lock), then rolls its
transaction back: nothing is committed, no audit entry kept, no checkpoint signed, and nothing
may commit anywhere while it runs (a sign-in, which writes outside an operation's transaction,
is stopped and reported as not rehearsable). The result says whether the operation would be
accepted, the refusal's code, field, parameters and message if not, each field it would write
(read from the audit entries its transaction appended before the rollback), the data queries
its edit checks would open, its own result (a procedure's dose), and what it noted before a
refusal (the dose a procedure needing an override would give).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from endotrial.errors import EndotrialError
from endotrial.services import _rehearsal
from endotrial.services._common import EDIT_CHECK_PREFIX
from endotrial.services.context import Actor, Study
from endotrial.services.errors import InvalidInput
from endotrial.store.unit_of_work import PlannedChange

P = ParamSpec("P")
R = TypeVar("R")

#: The note holding a procedure's `DosePlan` (noted before its safety and override checks).
DOSE_PLAN_NOTE = _rehearsal.DOSE_PLAN_NOTE


@dataclass(frozen=True)
class Refusal:
    """Why the operation would be refused: the error it would raise, as problem details."""

    kind: str
    """The error's class (RuleViolation, InvalidInput, PermissionDenied, LockedError, ...)."""
    code: str
    field: str | None
    record: str | None
    params: Mapping[str, Any]
    message: str

    @classmethod
    def of(cls, error: EndotrialError) -> Refusal:
        return cls(
            type(error).__name__,
            error.code,
            error.field,
            error.record,
            dict(error.params),
            error.message,
        )


@dataclass(frozen=True)
class PlannedQuery:
    """A data query an edit check would open (on a record the operation writes or reads)."""

    table: str
    row_id: str
    field: str
    check: str
    """The edit check's name (e.g. 'range', 'visit_window', 'weight_change')."""
    text: str


@dataclass(frozen=True)
class DryRunResult(Generic[R]):
    """What an operation would do. Ids of records it would create are provisional: a save
    gives them new ones."""

    accepted: bool
    result: R | None
    """The operation's own result when accepted (an id, a `ProcedureRecord` with its dose)."""
    refusal: Refusal | None
    changes: tuple[PlannedChange, ...] = ()
    """Every field of trial data it would write (table, record, action, field, old and new
    value, reason): what the audit trail would record. The sign-in log, which is not trial
    data and not in the trail, is not listed."""
    queries: tuple[PlannedQuery, ...] = ()
    notes: Mapping[str, Any] = field(default_factory=dict)
    """What the operation computed before deciding (DOSE_PLAN_NOTE: a procedure's dose)."""

    def changed(self, table: str, field_name: str) -> list[PlannedChange]:
        """The planned changes of one field of one table."""
        return [c for c in self.changes if c.table == table and c.field == field_name]


def dry_run(
    operation: Callable[Concatenate[Study, Actor, P], R],
    study: Study,
    actor: Actor,
    *args: P.args,
    **kwargs: P.kwargs,
) -> DryRunResult[R]:
    """Run `operation(study, actor, *args, **kwargs)` without keeping anything it writes.

    An operation refused (any of the project's errors: a rule, the input, a permission, a
    lock, a conflict the database found) comes back as `accepted=False` with its refusal. An
    operation that writes outside a transaction of the services (sign_in, sign_out) cannot be
    rehearsed: InvalidInput 'dry_run.unsupported', and nothing is written.
    """
    if not callable(operation):
        raise InvalidInput(
            "input.wrong_type", what="operation", expected="an operation of endotrial.services",
            given=type(operation).__name__,
        )  # fmt: skip
    rehearsal, token = _rehearsal.begin()
    result: R | None = None
    refusal: Refusal | None = None
    try:
        result = operation(study, actor, *args, **kwargs)
    except _rehearsal.CommitDuringDryRun:
        refusal = None
    except EndotrialError as error:
        refusal = Refusal.of(error)
    finally:
        _rehearsal.end(token)
    if rehearsal.committed_outside:
        name = getattr(operation, "__name__", type(operation).__name__)
        raise InvalidInput("dry_run.unsupported", field="operation", operation=name)
    if refusal is not None:
        return DryRunResult(False, None, refusal, notes=dict(rehearsal.notes))
    changes = tuple(c for t in rehearsal.transactions for c in t.changes)
    return DryRunResult(
        True, result, None, changes, _planned_queries(changes), dict(rehearsal.notes)
    )


def _planned_queries(changes: tuple[PlannedChange, ...]) -> tuple[PlannedQuery, ...]:
    """The data queries among the inserts, rebuilt from their fields."""
    rows: dict[str, dict[str, Any]] = {}
    for change in changes:
        if change.table == "data_queries" and change.action == "insert" and change.field:
            rows.setdefault(change.row_id, {})[change.field] = change.new_value
    return tuple(
        PlannedQuery(
            table=str(row.get("entity")),
            row_id=str(row.get("row_id")),
            field=str(row.get("field")),
            check=str(row.get("opened_by", "")).removeprefix(EDIT_CHECK_PREFIX),
            text=str(row.get("text")),
        )
        for row in rows.values()
    )
