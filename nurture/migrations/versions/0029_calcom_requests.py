"""Cal.com reschedules waiting for the host: the booking that would replace a visit

A reschedule of an event that needs confirmation arrives as BOOKING_REQUESTED naming the booking
it replaces; the visit keeps its time until BOOKING_CREATED (confirmed) or BOOKING_REJECTED
for the new booking. This table remembers the link in between, also when the request arrives
before the booking it replaces.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nurture.core.db

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calcom_requests",
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("replaces", sa.String(length=200), nullable=False),
        sa.Column("requested_at", nurture.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("external_id", name=op.f("pk_calcom_requests")),
    )


def downgrade() -> None:
    op.drop_table("calcom_requests")
