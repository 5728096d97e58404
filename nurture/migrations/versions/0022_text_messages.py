"""text messages: a channel and a number on outbox rows, SMS suppressions, replies

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nurture.core.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=10), server_default="email", nullable=False)
        )
        batch_op.add_column(sa.Column("to_phone", sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f("ix_messages_to_phone"), ["to_phone"], unique=False)
        batch_op.drop_constraint("uq_messages_appointment_id_reminder", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_messages_appointment_id_reminder_channel"),
            ["appointment_id", "reminder", "channel"],
        )
    op.create_table(
        "sms_suppressions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("created_at", nurture.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_suppressions")),
        sa.UniqueConstraint("phone", name=op.f("uq_sms_suppressions_phone")),
    )
    op.create_table(
        "text_replies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=False),
        sa.Column("from_phone", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "appointment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("received_at", nurture.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", nurture.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_text_replies_appointment_id_appointments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_text_replies_lead_id_leads"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_replies")),
        sa.UniqueConstraint("provider_sid", name=op.f("uq_text_replies_provider_sid")),
    )
    with op.batch_alter_table("text_replies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_text_replies_from_phone"), ["from_phone"])
        batch_op.create_index(batch_op.f("ix_text_replies_received_at"), ["received_at"])


def downgrade() -> None:
    op.drop_table("text_replies")
    op.drop_table("sms_suppressions")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_messages_appointment_id_reminder_channel"), type_="unique"
        )
        batch_op.create_unique_constraint(
            "uq_messages_appointment_id_reminder", ["appointment_id", "reminder"]
        )
        batch_op.drop_index(batch_op.f("ix_messages_to_phone"))
        batch_op.drop_column("to_phone")
        batch_op.drop_column("channel")
