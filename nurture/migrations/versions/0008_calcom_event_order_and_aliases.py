"""Cal.com event order per visit, and the ids a visit had before a reschedule

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nurture.core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "appointments",
        sa.Column("source_changed_at", nurture.core.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "appointment_aliases",
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column(
            "appointment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_appointment_aliases_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("external_id", name=op.f("pk_appointment_aliases")),
    )
    op.create_index(
        op.f("ix_appointment_aliases_appointment_id"),
        "appointment_aliases",
        ["appointment_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_appointment_aliases_appointment_id"), table_name="appointment_aliases")
    op.drop_table("appointment_aliases")
    with op.batch_alter_table("appointments") as batch:
        batch.drop_column("source_changed_at")
