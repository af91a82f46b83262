"""The trial's protocol, the visits records fulfil, medication periods, sites' time zones and
users in several sites.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:00:00

- `trial_protocols`: which protocol (id, format version, content hash) the database runs. A
  migration cannot know the protocol: a database set up before this revision gets it recorded,
  audited, by its first write (services.context). Amendments will add rows (`sequence` 2, ...).
- `event_id` on cycles, ultrasounds, procedures, embryo transfers and medication records, and
  the β-hCG and pregnancy-scan event ids on pregnancy outcomes: the scheduled event each record
  fulfils. Existing rows keep NULL (not known then).
- Medication periods: `taken_on` becomes `last_day` (a record's day was the last of its
  period); `first_day` is new and NULL on existing rows (only doses_planned says how many days
  they covered).
- Sites get an IANA `time_zone`. Existing sites get 'Asia/Shanghai': the seed trial's first
  site is in Guangzhou (China has one time zone), and no other zone was ever assumed.
- `site_memberships`: further sites of a site's team member. Her home site stays in
  `users.site_id`, so accounts entered before keep what the audit trail recorded of them: a
  membership row added here would not be in the trail, and `audit verify` would rightly report
  it as added outside the application. Each user's current site is thus her first membership.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
EVENT_TABLES = ("cycles", "ultrasounds", "procedures", "embryo_transfers")
#: Every site before this revision was in China (the seed trial's first site is in Guangzhou).
EXISTING_SITES_TIME_ZONE = "Asia/Shanghai"


def upgrade() -> None:
    op.create_table(
        "trial_protocols",
        sa.Column("id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("protocol_id", sa.String(length=64), nullable=False),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trial_protocols")),
        sa.UniqueConstraint("sequence", name=op.f("uq_trial_protocols_sequence")),
    )
    op.create_table(
        "site_memberships",
        sa.Column("id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("site_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_site_memberships_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_memberships_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_memberships")),
    )
    op.create_index(
        "uq_site_memberships_user_site", "site_memberships", ["user_id", "site_id"], unique=True
    )
    # Plain ADD COLUMNs (no batch rebuild of tables others point at).
    op.add_column(
        "sites",
        sa.Column(
            "time_zone",
            sa.String(length=64),
            server_default=EXISTING_SITES_TIME_ZONE,
            nullable=False,
        ),
    )
    for table in EVENT_TABLES:
        op.add_column(table, sa.Column("event_id", sa.String(length=64), nullable=True))
    for name in ("beta_hcg_event_id", "ultrasound_event_id"):
        op.add_column("pregnancy_outcomes", sa.Column(name, sa.String(length=64), nullable=True))
    # medication_records is referenced by no table: a batch rebuild on SQLite is safe.
    with op.batch_alter_table("medication_records") as batch:
        batch.alter_column("taken_on", new_column_name="last_day", existing_type=sa.Date())
        batch.add_column(sa.Column("first_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("event_id", sa.String(length=64), nullable=True))
        batch.create_check_constraint("period_in_order", "last_day >= first_day")


def downgrade() -> None:
    with op.batch_alter_table("medication_records") as batch:
        batch.drop_constraint("period_in_order", type_="check")
        batch.drop_column("event_id")
        batch.drop_column("first_day")
        batch.alter_column("last_day", new_column_name="taken_on", existing_type=sa.Date())
    for name in ("beta_hcg_event_id", "ultrasound_event_id"):
        op.execute(f"ALTER TABLE pregnancy_outcomes DROP COLUMN {name}")
    for table in EVENT_TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN event_id")
    op.execute("ALTER TABLE sites DROP COLUMN time_zone")
    op.drop_index("uq_site_memberships_user_site", table_name="site_memberships")
    op.drop_table("site_memberships")
    op.drop_table("trial_protocols")
