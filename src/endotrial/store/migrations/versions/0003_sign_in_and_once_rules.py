"""Sign-in sessions and attempts, and database rules behind the services' "once" rules.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00

Unique indexes (not table constraints, so SQLite needs no rebuild of referenced tables) make a
second cycle of one kind, a second transfer in one cycle, a second procedure of one kind in one
cycle and two participants with one enrolment number impossible even if two saves race. The
procedure's protocol id is new: procedures stored before it keep '' (their arm had one).
Enrolment numbers cannot be assigned after the fact (the order is not recorded), so existing
participants keep NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "auth_sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_auth_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_auth_sessions_token_sha256")),
    )
    op.create_index(op.f("ix_auth_sessions_user_id"), "auth_sessions", ["user_id"])
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_attempts")),
    )
    op.create_index(op.f("ix_sign_in_attempts_username"), "sign_in_attempts", ["username"])
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("enrolment_number", sa.Integer(), nullable=True))
    with op.batch_alter_table("procedures") as batch:
        batch.add_column(
            sa.Column("procedure_id", sa.String(length=32), server_default="", nullable=False)
        )
    op.create_index(
        "uq_participants_enrolment_number", "participants", ["enrolment_number"], unique=True
    )
    op.create_index("uq_cycles_participant_kind", "cycles", ["participant_id", "kind"], unique=True)
    op.create_index(
        "uq_procedures_participant_procedure_cycle",
        "procedures",
        ["participant_id", "procedure_id", "cycle_id"],
        unique=True,
    )
    op.create_index(
        "uq_embryo_transfers_participant_cycle",
        "embryo_transfers",
        ["participant_id", "cycle_id"],
        unique=True,
    )
    op.create_index("ix_screenings_site_candidate", "screenings", ["site_id", "candidate_ref"])


def downgrade() -> None:
    op.drop_index("ix_screenings_site_candidate", table_name="screenings")
    op.drop_index("uq_embryo_transfers_participant_cycle", table_name="embryo_transfers")
    op.drop_index("uq_procedures_participant_procedure_cycle", table_name="procedures")
    op.drop_index("uq_cycles_participant_kind", table_name="cycles")
    op.drop_index("uq_participants_enrolment_number", table_name="participants")
    # Plain DROP COLUMN: a batch rebuild of a table others point at is refused by SQLite.
    op.execute("ALTER TABLE procedures DROP COLUMN procedure_id")
    op.execute("ALTER TABLE participants DROP COLUMN enrolment_number")
    op.drop_index(op.f("ix_sign_in_attempts_username"), table_name="sign_in_attempts")
    op.drop_table("sign_in_attempts")
    op.drop_index(op.f("ix_auth_sessions_user_id"), table_name="auth_sessions")
    op.drop_table("auth_sessions")
