"""Cal.com recurring series waiting for the host: each occurrence's request, kept until confirmed

Cal.com sends BOOKING_REQUESTED for every occurrence of a recurring series that needs
confirmation, but one BOOKING_CREATED when the host confirms the whole series. This table keeps
each occurrence's request so that confirmation can book them all.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nurture.core.db

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calcom_waiting",
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("series", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("starts_at", nurture.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requested_at", nurture.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("external_id", name=op.f("pk_calcom_waiting")),
    )
    op.create_index(op.f("ix_calcom_waiting_series"), "calcom_waiting", ["series"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_calcom_waiting_series"), table_name="calcom_waiting")
    op.drop_table("calcom_waiting")
