"""Importing a screening file: every problem of every row at once, nothing stored until the
whole file is clean; a dry run stores nothing even then."""

import datetime as dt
from pathlib import Path
from typing import Any

from services_helpers import COORDINATOR, STATISTICIAN, audit_rows, eligible_items, set_up_trial
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services.imports import import_screenings
from endotrial.store import Screening


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(rows[0])
    lines = [",".join(columns)]
    lines += [",".join(_cell(row.get(c)) for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _row(ref: str, **changes: Any) -> dict[str, Any]:
    return {"candidate_id": ref, **eligible_items(**changes)}


def _screenings(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Screening)) or 0)


def test_every_problem_of_every_row_is_listed_at_once_and_nothing_stored(
    engine: Engine, seed_protocol: Protocol, tmp_path: Path
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    rows = [
        _row("C-1"),
        _row("C-2", sex="X", age_years="abc"),
        _row("C-1"),  # the id again
        _row("bad id!"),
        _row("C-5", screening_date="2025-13-01"),
    ]
    path = _csv(tmp_path / "candidates.csv", rows)
    before = audit_rows(engine)
    for dry_run in (True, False):
        report = import_screenings(trial.study, trial.actor(COORDINATOR), path, dry_run=dry_run)
        assert not report.accepted and report.rows == 5 and report.screenings == ()
        found = {(p.row, p.field) for p in report.problems}
        assert found == {
            (2, "sex"), (2, "age_years"), (3, "candidate_id"), (4, "candidate_id"),
            (5, "screening_date"),
        }  # fmt: skip
        assert all(p.message for p in report.problems)
    assert audit_rows(engine) == before and _screenings(engine) == 0


def test_a_clean_file_dry_run_stores_nothing_then_the_import_stores_every_row(
    engine: Engine, seed_protocol: Protocol, tmp_path: Path
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    path = _csv(tmp_path / "c.csv", [_row("C-1"), _row("C-2", age_years=45), _row("C-3")])
    before = audit_rows(engine)
    rehearsed = import_screenings(trial.study, trial.actor(COORDINATOR), path, dry_run=True)
    assert rehearsed.accepted and rehearsed.dry_run and rehearsed.screenings == ()
    assert audit_rows(engine) == before and _screenings(engine) == 0
    stored = import_screenings(trial.study, trial.actor(COORDINATOR), path)
    assert [s.candidate_ref for s in stored.screenings] == ["C-1", "C-2", "C-3"]
    assert [s.decision.value for s in stored.screenings] == ["eligible", "ineligible", "eligible"]
    assert _screenings(engine) == 3


def test_a_dry_run_says_when_the_service_would_refuse_the_file(
    engine: Engine, seed_protocol: Protocol, tmp_path: Path
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    path = _csv(tmp_path / "c.csv", [_row("C-1")])
    report = import_screenings(trial.study, trial.actor(STATISTICIAN), path, dry_run=True)
    (problem,) = report.problems
    assert (problem.row, problem.code) == (0, "auth.role")


def test_a_column_that_is_no_data_item_is_a_problem_of_the_file(
    engine: Engine, seed_protocol: Protocol, tmp_path: Path
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    path = _csv(tmp_path / "c.csv", [{**_row("C-1"), "agee_years": 31}])
    report = import_screenings(trial.study, trial.actor(COORDINATOR), path, dry_run=True)
    assert [(p.row, p.field, p.code) for p in report.problems] == [
        (0, "agee_years", "import.unknown_column")
    ]
