"""The language of a user's pages, kept on her account.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:45:00

- `users.language`: 'en' or 'zh_Hans', chosen by her; empty until she chooses (her browser's
  language is used meanwhile).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("language", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
