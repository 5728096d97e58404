"""a stored calendar UID per visit

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from collections.abc import Sequence
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

from nurture.core.config import get_settings

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.add_column(sa.Column("calendar_uid", sa.String(length=255), nullable=True))
    # Visits booked before this revision were sent with a UID made from the base URL's host.
    # Storing that same UID keeps the events already in patients' calendars in step with later
    # updates and cancellations; from now on it no longer follows the base URL. New visits get
    # a random one (nurture.appointments.models.new_calendar_uid).
    host = urlsplit(get_settings().resolved_base_url).hostname or "nurture.local"
    appointments = sa.table(
        "appointments", sa.column("id", sa.BigInteger), sa.column("calendar_uid", sa.String)
    )
    op.execute(
        appointments.update()
        .where(appointments.c.calendar_uid.is_(None))
        .values(
            calendar_uid=sa.literal("appointment-")
            + sa.cast(appointments.c.id, sa.String)
            + sa.literal(f"@{host}")
        )
    )
    with op.batch_alter_table("appointments") as batch:
        batch.alter_column("calendar_uid", existing_type=sa.String(length=255), nullable=False)
        batch.create_unique_constraint(batch.f("uq_appointments_calendar_uid"), ["calendar_uid"])


def downgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.drop_constraint(batch.f("uq_appointments_calendar_uid"), type_="unique")
        batch.drop_column("calendar_uid")
