"""Electronic signatures on the investigator's sign-off (21 CFR Part 11).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:10:00

- `participant_locks` gains the signature: who signed (username and printed name), when, its
  meaning, a digest of her records as signed, and, once unlocked, who voided it, when and why.
  Locks made before this revision carry no signature (their columns stay empty): they were
  made without the password being asked again, and are shown as such.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("signed_by", sa.String(length=64)),
    ("signer_name", sa.String(length=200)),
    ("signed_at", sa.DateTime(timezone=True)),
    ("meaning", sa.String(length=32)),
    ("records_sha256", sa.String(length=64)),
    ("voided_by", sa.String(length=64)),
    ("voided_at", sa.DateTime(timezone=True)),
    ("void_reason", sa.Text()),
)


def upgrade() -> None:
    for name, kind in COLUMNS:
        op.add_column("participant_locks", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("participant_locks") as batch:
        for name, _kind in reversed(COLUMNS):
            batch.drop_column(name)
