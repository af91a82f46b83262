"""The keyed audit trail and sealed identity data.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:00:00

Audit entries get a MAC made with the trial's key (kept in a key file outside the database,
made by `upgrade_database` right after this revision: entries written before it keep no MAC),
and `trail_keys` records which keys the trail is bound to (public parts only). Triggers refuse
any UPDATE or DELETE of an audit entry, whoever asks (on PostgreSQL the application's role
cannot drop them; on SQLite they stop mistakes, and what a file's owner does is found by the
MACs and the signed checkpoints).

Identifying data move to `persons` (each person's key, wrapped by the trial's identity key)
and `person_identity` (values sealed with it). The old `participant_identity` table held plain
text and was never written by the services: it is dropped, and the upgrade stops if it holds rows
(seal them first; see docs).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = "audit trail entries are append-only"


def upgrade() -> None:
    _refuse_plain_identity_rows()
    op.drop_table("participant_identity")
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
    op.create_table(
        "trail_keys",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("database_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("first_keyed_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trail_keys")),
    )
    op.create_table(
        "persons",
        sa.Column("id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("site_id", ID, nullable=False),
        sa.Column("pseudonym", sa.String(length=32), nullable=False),
        sa.Column("wrapped_key", sa.String(length=200), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_persons_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    op.create_index("uq_persons_site_pseudonym", "persons", ["site_id", "pseudonym"], unique=True)
    op.create_table(
        "person_identity",
        sa.Column("id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("person_id", ID, nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("sealed_value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_person_identity_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_identity")),
    )
    op.create_index(
        op.f("ix_person_identity_person_id"), "person_identity", ["person_id"], unique=False
    )
    op.create_index(
        "uq_person_identity_person_field", "person_identity", ["person_id", "field"], unique=True
    )
    # A plain ADD COLUMN with its foreign key (no batch rebuild of a table others point at).
    if op.get_bind().dialect.name == "sqlite":  # SQLite adds a reference only with the column
        op.execute("ALTER TABLE screenings ADD COLUMN person_id INTEGER REFERENCES persons (id)")
    else:
        op.add_column("screenings", sa.Column("person_id", ID, nullable=True))
        op.create_foreign_key(
            op.f("fk_screenings_person_id_persons"), "screenings", "persons", ["person_id"], ["id"]
        )
    op.create_index(op.f("ix_screenings_person_id"), "screenings", ["person_id"], unique=False)
    _append_only_triggers()


def downgrade() -> None:
    _drop_triggers()
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(
            op.f("fk_screenings_person_id_persons"), "screenings", type_="foreignkey"
        )
    op.drop_index(op.f("ix_screenings_person_id"), table_name="screenings")
    op.execute("ALTER TABLE screenings DROP COLUMN person_id")
    op.drop_index("uq_person_identity_person_field", table_name="person_identity")
    op.drop_index(op.f("ix_person_identity_person_id"), table_name="person_identity")
    op.drop_table("person_identity")
    op.drop_index("uq_persons_site_pseudonym", table_name="persons")
    op.drop_table("persons")
    op.drop_table("trail_keys")
    op.execute("ALTER TABLE audit_log DROP COLUMN mac")
    op.create_table(
        "participant_identity",
        sa.Column("id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("participant_id", ID, nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("national_id", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_participant_identity_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participant_identity")),
        sa.UniqueConstraint("participant_id", name=op.f("uq_participant_identity_participant_id")),
    )


def _refuse_plain_identity_rows() -> None:
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM participant_identity")).scalar()
    if count:
        raise RuntimeError(
            f"participant_identity holds {count} row(s) of plain identifying data, which this "
            "revision no longer keeps: export them, then empty the table and upgrade; enter "
            "them again through the identity service, which seals them"
        )


def _append_only_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION endotrial_audit_append_only() RETURNS trigger AS $$ BEGIN "
        f"RAISE EXCEPTION '{APPEND_ONLY}'; END $$ LANGUAGE plpgsql"
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION endotrial_audit_append_only()"
    )


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        return
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS endotrial_audit_append_only()")
