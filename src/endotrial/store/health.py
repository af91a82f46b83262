"""Is the database file whole? Checked before the trail is read and before anyone writes.

A page overwritten or a file cut short (a disk fault, a copy taken mid-write) is damage, not
tampering: it is reported as such, with what to do (restore the last backup), instead of a
traceback or a false alarm about the audit trail, and nothing is written into it.
"""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from endotrial.store.errors import StoreError

#: How many problems SQLite's check lists before stopping (the first is enough to act on).
_PROBLEMS_LISTED = 5


def check_integrity(engine: Engine) -> None:
    """Raise a StoreError (code store.damaged) when the SQLite file is damaged. A PostgreSQL
    server checks its own pages; nothing to do there."""
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(f"PRAGMA quick_check({_PROBLEMS_LISTED})")).all()
    except DBAPIError as error:
        raise damaged(engine, _first_line(error)) from None
    problems = [str(row[0]) for row in rows]
    if problems != ["ok"]:
        raise damaged(engine, "; ".join(problems))


def damaged(engine: Engine, problem: str) -> StoreError:
    url = engine.url
    if url.get_backend_name() == "sqlite":  # the file as the user named it, not its URI form
        where = str(url.database).removeprefix("file:").split("?")[0]
    else:
        where = url.render_as_string(hide_password=True)
    problem = " ".join(problem.split())[:300]
    return StoreError(
        f"the database {where} is damaged ({problem}): this is damage to the file, not "
        "a finding about the audit trail. Stop writing to it, keep it for investigation, and "
        "restore the last backup (`endotrial db restore`)",
        code="store.damaged",
    )


def _first_line(error: DBAPIError) -> str:
    text_ = str(error.orig) if error.orig is not None else str(error)
    return text_.strip().splitlines()[0] if text_.strip() else type(error).__name__
