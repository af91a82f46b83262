"""Enrolment date, the arms a screening left open, and the number of babies born alive.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 08:30:00

An enrolment date cannot be invented, so existing participants keep NULL; the open arms of an
older screening are derived from its failed criteria (see services.screening). The live-born
count is filled from what revision 0001 stored: a recorded live birth had at least one baby born
alive (1), a delivery recorded as no live birth had none (0); otherwise it stays unknown.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("enrolled_on", sa.Date(), nullable=True))
    with op.batch_alter_table("screenings") as batch:
        batch.add_column(sa.Column("eligible_arms", sa.JSON(), nullable=True))
    with op.batch_alter_table("pregnancy_outcomes") as batch:
        batch.add_column(sa.Column("live_born_count", sa.Integer(), nullable=True))
        batch.create_check_constraint("live_born_count_not_negative", "live_born_count >= 0")
    outcomes = sa.table(
        "pregnancy_outcomes",
        sa.column("live_birth", sa.Boolean()),
        sa.column("birth_date", sa.Date()),
        sa.column("live_born_count", sa.Integer()),
    )
    op.execute(outcomes.update().where(outcomes.c.live_birth.is_(True)).values(live_born_count=1))
    op.execute(
        outcomes.update()
        .where(outcomes.c.live_birth.is_(False), outcomes.c.birth_date.is_not(None))
        .values(live_born_count=0)
    )


def downgrade() -> None:
    with op.batch_alter_table("pregnancy_outcomes") as batch:
        batch.drop_constraint(
            op.f("ck_pregnancy_outcomes_live_born_count_not_negative"), type_="check"
        )
        batch.drop_column("live_born_count")
    # Plain DROP COLUMN (SQLite 3.35+ and PostgreSQL): a batch rebuild of `participants` would
    # drop a table that other tables' foreign keys point at, which SQLite refuses.
    op.execute("ALTER TABLE screenings DROP COLUMN eligible_arms")
    op.execute("ALTER TABLE participants DROP COLUMN enrolled_on")
