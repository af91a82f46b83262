"""Enrolment date, the arms a screening left open, and the number of babies born alive.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 08:30:00

Existing rows keep NULL: an enrolment date or a live-born count cannot be invented, and the
open arms of an older screening are derived from its failed criteria (see services.screening).
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


def downgrade() -> None:
    with op.batch_alter_table("pregnancy_outcomes") as batch:
        batch.drop_constraint(
            op.f("ck_pregnancy_outcomes_live_born_count_not_negative"), type_="check"
        )
        batch.drop_column("live_born_count")
    with op.batch_alter_table("screenings") as batch:
        batch.drop_column("eligible_arms")
    with op.batch_alter_table("participants") as batch:
        batch.drop_column("enrolled_on")
