"""Visits: scheduled events no other record fulfils (a safety visit, pregnancy follow-ups).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:20:00

- `visits`: one row per participant and scheduled event (unique index), with the day it was
  held or found missed (`attended` false) and free-text notes. Until now nothing recorded these
  events, so there is nothing to carry over.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "visits",
        sa.Column("id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("participant_id", ID, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("attended", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_visits_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    op.create_index(op.f("ix_visits_participant_id"), "visits", ["participant_id"], unique=False)
    op.create_index(
        "uq_visits_participant_event", "visits", ["participant_id", "event_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_visits_participant_event", table_name="visits")
    op.drop_index(op.f("ix_visits_participant_id"), table_name="visits")
    op.drop_table("visits")
