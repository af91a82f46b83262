"""Measurements: outcome measures' values taken at schedule events.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:10:00

- `measurements`: one row per participant, schedule event and data item (unique index), the
  value typed by its item (exactly one of `value_number`, `value_boolean`, `value_text`, a
  check constraint), the day it was measured and free-text notes. Nothing recorded these
  values before, so there is nothing to carry over.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ONE_VALUE = (
    "(CASE WHEN value_number IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN value_boolean IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN value_text IS NULL THEN 0 ELSE 1 END) = 1"
)


def upgrade() -> None:
    op.create_table(
        "measurements",
        sa.Column("id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("participant_id", ID, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("value_number", sa.Double(), nullable=True),
        sa.Column("value_boolean", sa.Boolean(), nullable=True),
        sa.Column("value_text", sa.String(length=200), nullable=True),
        sa.Column("measured_date", sa.Date(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.CheckConstraint(ONE_VALUE, name=op.f("ck_measurements_one_value")),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_measurements_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurements")),
    )
    op.create_index(
        op.f("ix_measurements_participant_id"), "measurements", ["participant_id"], unique=False
    )
    op.create_index(
        "uq_measurements_participant_event_item",
        "measurements",
        ["participant_id", "event_id", "item"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_measurements_participant_event_item", table_name="measurements")
    op.drop_index(op.f("ix_measurements_participant_id"), table_name="measurements")
    op.drop_table("measurements")
