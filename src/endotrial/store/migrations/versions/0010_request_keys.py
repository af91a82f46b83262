"""Request keys: a form or API request done once, whichever server process takes it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 11:00:00

- `request_keys`: one row per request key (a digest), its owner's digest, the request body's
  SHA-256, when it was claimed and until when the row holds, and once done the answer it got
  (status, headers, body). Technical rows, like sign-in sessions: not in the audit trail.
  Before, the web server kept these in its one process's memory; there is nothing to carry over.
- PostgreSQL: a role that may write the sign-in sessions (the application's role, granted by
  `endotrial db grant-app-role` before this upgrade) may write these rows too. Without it every
  form and keyed API POST would fail (503) after `db upgrade` until the grant was run again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_keys",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("headers_json", sa.Text(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_request_keys")),
    )
    op.create_index(op.f("ix_request_keys_owner"), "request_keys", ["owner"])
    op.create_index(op.f("ix_request_keys_expires_at"), "request_keys", ["expires_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_GRANT_AS_SESSIONS)


#: To each role (not the owner, not PUBLIC) that may insert sign-in sessions, the same rights
#: on request_keys (`grant-app-role` grants them on every table; it is not run by an upgrade).
_GRANT_AS_SESSIONS = """
DO $$
DECLARE grantee text;
BEGIN
  FOR grantee IN
    SELECT DISTINCT r.rolname FROM pg_class c
    CROSS JOIN LATERAL aclexplode(c.relacl) a
    JOIN pg_roles r ON r.oid = a.grantee
    WHERE c.oid = 'auth_sessions'::regclass AND a.privilege_type = 'INSERT'
      AND a.grantee <> c.relowner
  LOOP
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON request_keys TO %I', grantee);
  END LOOP;
END $$;
"""


def downgrade() -> None:
    op.drop_index(op.f("ix_request_keys_expires_at"), table_name="request_keys")
    op.drop_index(op.f("ix_request_keys_owner"), table_name="request_keys")
    op.drop_table("request_keys")
