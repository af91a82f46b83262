"""PostgreSQL: the application's own role, which can add to the audit trail but never change it.

Migrations run as the database's owner; the application connects as another role with the
grants below. The append-only trigger refuses an UPDATE or DELETE of an entry whoever asks, and
only the owner could drop it; without UPDATE, DELETE and TRUNCATE on the trail's tables the
application's role cannot even try.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

from endotrial.store.errors import StoreError

_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: Tables the application only adds to.
APPEND_ONLY_TABLES = ("audit_log", "trail_keys")


def grant_app_role(engine: Engine, role: str) -> list[str]:
    """Grant `role` what the application needs on the database's current schema, and nothing
    that changes the trail; returns the statements run."""
    if engine.dialect.name != "postgresql":
        raise StoreError(
            "roles are a PostgreSQL matter: a SQLite file is protected by its file permissions "
            "and by the keyed trail",
            code="store.roles",
        )
    if not _ROLE.fullmatch(role):
        raise StoreError(
            f"'{role}' is not a role name endotrial will grant to: lower-case letters, digits, _",
            code="store.roles",
        )
    with engine.begin() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        statements = [
            f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"',
            f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"',
            *(
                f'REVOKE UPDATE, DELETE, TRUNCATE ON "{schema}".{table} FROM "{role}"'
                for table in APPEND_ONLY_TABLES
            ),
        ]
        for statement in statements:
            connection.execute(text(statement))
    return statements
