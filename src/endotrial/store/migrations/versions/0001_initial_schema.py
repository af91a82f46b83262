"""Initial schema: trial tables, audit trail and its chain head (seeded with the genesis hash).

Revision ID: 0001
Revises:
Create Date: 2026-11-25 07:38:23.656187
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.bulk_insert(
        sa.table(
            "audit_chain_head",
            sa.column("id", sa.Integer()),
            sa.column("last_seq", sa.BigInteger()),
            sa.column("last_hash", sa.String()),
        ),
        [{"id": 1, "last_seq": 0, "last_hash": "0" * 64}],
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=True),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    op.create_index(
        "ix_audit_log_entity_row", "audit_log", ["entity", "row_id", "field"], unique=False
    )

    op.create_table(
        "data_queries",
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("row_id", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "answered", "closed", name="querystatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_queries")),
    )
    op.create_table(
        "sites",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("code", name=op.f("uq_sites_code")),
    )
    op.create_table(
        "participants",
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("arm", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_participants_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participants")),
        sa.UniqueConstraint("study_id", name=op.f("uq_participants_study_id")),
    )
    op.create_index(op.f("ix_participants_site_id"), "participants", ["site_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "investigator",
                "coordinator",
                "radiologist",
                "cell_lab",
                "embryologist",
                "monitor",
                "statistician",
                "safety_board",
                name="role",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_users_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "adverse_events",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("ctcae_grade", sa.Integer(), nullable=False),
        sa.Column("serious", sa.Boolean(), nullable=False),
        sa.Column(
            "related_procedure",
            sa.Enum(
                "not_related",
                "unlikely",
                "possible",
                "probable",
                "definite",
                name="relatedness",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "related_cells",
            sa.Enum(
                "not_related",
                "unlikely",
                "possible",
                "probable",
                "definite",
                name="relatedness",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "related_hrt",
            sa.Enum(
                "not_related",
                "unlikely",
                "possible",
                "probable",
                "definite",
                name="relatedness",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("expected", sa.Boolean(), nullable=False),
        sa.Column("onset_date", sa.Date(), nullable=False),
        sa.Column("resolution_date", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("action_taken", sa.String(length=200), nullable=True),
        sa.Column("expedited_report_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "ctcae_grade BETWEEN 1 AND 5", name=op.f("ck_adverse_events_ctcae_grade_1_to_5")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_adverse_events_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adverse_events")),
    )
    op.create_index(
        op.f("ix_adverse_events_participant_id"),
        "adverse_events",
        ["participant_id"],
        unique=False,
    )

    op.create_table(
        "allocations",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("arm", sa.String(length=64), nullable=False),
        sa.Column("allocated_on", sa.Date(), nullable=False),
        sa.Column("allocation_basis", sa.Text(), nullable=False),
        sa.Column("allocated_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_allocations_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
        sa.UniqueConstraint("participant_id", name=op.f("uq_allocations_participant_id")),
    )
    op.create_table(
        "consents",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("form_version", sa.String(length=32), nullable=False),
        sa.Column("consent_date", sa.Date(), nullable=False),
        sa.Column("taken_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_consents_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(
        op.f("ix_consents_participant_id"), "consents", ["participant_id"], unique=False
    )

    op.create_table(
        "cycles",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "kind",
            sa.Enum("treatment", "transfer", name="cyclekind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_cycles_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cycles")),
    )
    op.create_index(op.f("ix_cycles_participant_id"), "cycles", ["participant_id"], unique=False)

    op.create_table(
        "participant_identity",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("national_id", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_participant_identity_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participant_identity")),
        sa.UniqueConstraint("participant_id", name=op.f("uq_participant_identity_participant_id")),
    )
    op.create_table(
        "participant_locks",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("locked_by", sa.String(length=64), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_participant_locks_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participant_locks")),
        sa.UniqueConstraint("participant_id", name=op.f("uq_participant_locks_participant_id")),
    )
    op.create_table(
        "protocol_deviations",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("major", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_protocol_deviations_participant_id_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_protocol_deviations_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protocol_deviations")),
    )
    op.create_index(
        op.f("ix_protocol_deviations_participant_id"),
        "protocol_deviations",
        ["participant_id"],
        unique=False,
    )

    op.create_table(
        "screenings",
        sa.Column("candidate_ref", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("item_values", sa.JSON(), nullable=False),
        sa.Column(
            "decision",
            sa.Enum(
                "eligible",
                "ineligible",
                "incomplete",
                name="screeningdecision",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("failed_criteria", sa.JSON(), nullable=False),
        sa.Column("unknown_criteria", sa.JSON(), nullable=False),
        sa.Column("screened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("screened_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_screenings_participant_id_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_screenings_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screenings")),
    )
    op.create_index(
        op.f("ix_screenings_candidate_ref"), "screenings", ["candidate_ref"], unique=False
    )
    op.create_index(
        op.f("ix_screenings_participant_id"), "screenings", ["participant_id"], unique=False
    )

    op.create_table(
        "withdrawals",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("withdrawn_on", sa.Date(), nullable=False),
        sa.Column("initiated_by", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data_use_allowed", sa.Boolean(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_withdrawals_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawals")),
        sa.UniqueConstraint("participant_id", name=op.f("uq_withdrawals_participant_id")),
    )
    op.create_table(
        "embryo_transfers",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("cycle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("transfer_date", sa.Date(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["cycles.id"], name=op.f("fk_embryo_transfers_cycle_id_cycles")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_embryo_transfers_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_embryo_transfers")),
    )
    op.create_index(
        op.f("ix_embryo_transfers_participant_id"),
        "embryo_transfers",
        ["participant_id"],
        unique=False,
    )

    op.create_table(
        "medication_records",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("cycle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("regimen_id", sa.String(length=64), nullable=False),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("doses_taken", sa.Integer(), nullable=False),
        sa.Column("doses_planned", sa.Integer(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "doses_taken >= 0 AND doses_planned >= 0",
            name=op.f("ck_medication_records_doses_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["cycles.id"], name=op.f("fk_medication_records_cycle_id_cycles")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_medication_records_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medication_records")),
    )
    op.create_index(
        op.f("ix_medication_records_cycle_id"),
        "medication_records",
        ["cycle_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_medication_records_participant_id"),
        "medication_records",
        ["participant_id"],
        unique=False,
    )

    op.create_table(
        "procedures",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("cycle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("procedure_date", sa.Date(), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=False),
        sa.Column("pre_checks", sa.JSON(), nullable=False),
        sa.Column("cell_lot", sa.String(length=64), nullable=True),
        sa.Column("viability_pct", sa.Double(), nullable=True),
        sa.Column("weight_kg", sa.Double(), nullable=True),
        sa.Column("dose_cells", sa.BigInteger(), nullable=True),
        sa.Column("volume_ml", sa.Double(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("complications", sa.Text(), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["cycles.id"], name=op.f("fk_procedures_cycle_id_cycles")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_procedures_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedures")),
    )
    op.create_index(
        op.f("ix_procedures_participant_id"), "procedures", ["participant_id"], unique=False
    )

    op.create_table(
        "ultrasounds",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("cycle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("scan_date", sa.Date(), nullable=False),
        sa.Column("thickness_mm", sa.Double(), nullable=True),
        sa.Column("trilaminar", sa.Boolean(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("thickness_mm >= 0", name=op.f("ck_ultrasounds_thickness_not_negative")),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["cycles.id"], name=op.f("fk_ultrasounds_cycle_id_cycles")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_ultrasounds_participant_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ultrasounds")),
    )
    op.create_index(
        op.f("ix_ultrasounds_participant_id"), "ultrasounds", ["participant_id"], unique=False
    )

    op.create_table(
        "pregnancy_outcomes",
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "transfer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("beta_hcg_miu_ml", sa.Double(), nullable=True),
        sa.Column("beta_hcg_date", sa.Date(), nullable=True),
        sa.Column("ultrasound_date", sa.Date(), nullable=True),
        sa.Column("gestational_sacs", sa.Integer(), nullable=True),
        sa.Column("fetal_heartbeat", sa.Boolean(), nullable=True),
        sa.Column("biochemical", sa.Boolean(), nullable=True),
        sa.Column("miscarriage", sa.Boolean(), nullable=True),
        sa.Column("miscarriage_date", sa.Date(), nullable=True),
        sa.Column("ectopic", sa.Boolean(), nullable=True),
        sa.Column("ongoing", sa.Boolean(), nullable=True),
        sa.Column("ongoing_date", sa.Date(), nullable=True),
        sa.Column("live_birth", sa.Boolean(), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_pregnancy_outcomes_participant_id_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["embryo_transfers.id"],
            name=op.f("fk_pregnancy_outcomes_transfer_id_embryo_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pregnancy_outcomes")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_pregnancy_outcomes_transfer_id")),
    )
    op.create_index(
        op.f("ix_pregnancy_outcomes_participant_id"),
        "pregnancy_outcomes",
        ["participant_id"],
        unique=False,
    )

    op.create_table(
        "transferred_embryos",
        sa.Column(
            "transfer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("embryo_day", sa.Integer(), nullable=False),
        sa.Column("expansion", sa.Integer(), nullable=False),
        sa.Column("icm", sa.String(length=1), nullable=False),
        sa.Column("te", sa.String(length=1), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("icm IN ('A', 'B', 'C')", name=op.f("ck_transferred_embryos_icm_grade")),
        sa.CheckConstraint("te IN ('A', 'B', 'C')", name=op.f("ck_transferred_embryos_te_grade")),
        sa.CheckConstraint(
            "embryo_day IN (5, 6)", name=op.f("ck_transferred_embryos_embryo_day_5_or_6")
        ),
        sa.CheckConstraint(
            "expansion BETWEEN 1 AND 6", name=op.f("ck_transferred_embryos_expansion_1_to_6")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["embryo_transfers.id"],
            name=op.f("fk_transferred_embryos_transfer_id_embryo_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transferred_embryos")),
    )
    op.create_index(
        op.f("ix_transferred_embryos_transfer_id"),
        "transferred_embryos",
        ["transfer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_transferred_embryos_transfer_id"), table_name="transferred_embryos")

    op.drop_table("transferred_embryos")
    op.drop_index(op.f("ix_pregnancy_outcomes_participant_id"), table_name="pregnancy_outcomes")

    op.drop_table("pregnancy_outcomes")
    op.drop_index(op.f("ix_ultrasounds_participant_id"), table_name="ultrasounds")

    op.drop_table("ultrasounds")
    op.drop_index(op.f("ix_procedures_participant_id"), table_name="procedures")

    op.drop_table("procedures")
    op.drop_index(op.f("ix_medication_records_participant_id"), table_name="medication_records")
    op.drop_index(op.f("ix_medication_records_cycle_id"), table_name="medication_records")

    op.drop_table("medication_records")
    op.drop_index(op.f("ix_embryo_transfers_participant_id"), table_name="embryo_transfers")

    op.drop_table("embryo_transfers")
    op.drop_table("withdrawals")
    op.drop_index(op.f("ix_screenings_participant_id"), table_name="screenings")
    op.drop_index(op.f("ix_screenings_candidate_ref"), table_name="screenings")

    op.drop_table("screenings")
    op.drop_index(op.f("ix_protocol_deviations_participant_id"), table_name="protocol_deviations")

    op.drop_table("protocol_deviations")
    op.drop_table("participant_locks")
    op.drop_table("participant_identity")
    op.drop_index(op.f("ix_cycles_participant_id"), table_name="cycles")

    op.drop_table("cycles")
    op.drop_index(op.f("ix_consents_participant_id"), table_name="consents")

    op.drop_table("consents")
    op.drop_table("allocations")
    op.drop_index(op.f("ix_adverse_events_participant_id"), table_name="adverse_events")

    op.drop_table("adverse_events")
    op.drop_table("users")
    op.drop_index(op.f("ix_participants_site_id"), table_name="participants")

    op.drop_table("participants")
    op.drop_table("sites")
    op.drop_table("data_queries")
    op.drop_index("ix_audit_log_entity_row", table_name="audit_log")

    op.drop_table("audit_log")
    op.drop_table("audit_chain_head")
