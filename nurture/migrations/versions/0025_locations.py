"""clinic locations: a table of sites, the site of each visit, lead and limited staff account

The clinic as configured today becomes the first site, `main`, with every field empty: an
empty field means the clinic's own value, so the settings keep working exactly as before and
`main` shows whatever they say (the studio's clinic page still edits them).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import nurture.core.db

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    locations = op.create_table(
        "locations",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("opening_hours", sa.Text(), nullable=False),
        sa.Column("closures", sa.JSON(), nullable=False),
        sa.Column("booking_url", sa.String(length=500), nullable=False),
        sa.Column("review_url", sa.String(length=500), nullable=False),
        sa.Column("map_url", sa.String(length=500), nullable=False),
        sa.Column("marketing_from_name", sa.String(length=200), nullable=False),
        sa.Column("transactional_from_name", sa.String(length=200), nullable=False),
        sa.Column("logo_url", sa.String(length=500), nullable=False),
        sa.Column("accent_color", sa.String(length=7), nullable=False),
        sa.Column("calcom_event_types", sa.JSON(), nullable=False),
        sa.Column("calcom_places", sa.JSON(), nullable=False),
        sa.Column("created_at", nurture.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nurture.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_locations")),
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("location_key", sa.String(length=40), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_appointments_location_key"), ["location_key"], unique=False
        )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("location_key", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_leads_location_key"), ["location_key"], unique=False)
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("location_keys", sa.JSON(), nullable=True))
    now = datetime.now(UTC)
    empty = {c.name: "" for c in locations.columns if isinstance(c.type, sa.String | sa.Text)}
    op.bulk_insert(
        locations,
        [
            {
                **empty,
                "key": "main",
                "closures": [],
                "calcom_event_types": [],
                "calcom_places": [],
                "created_at": now,
                "updated_at": now,
            }
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("location_keys")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_location_key"))
        batch_op.drop_column("location_key")
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appointments_location_key"))
        batch_op.drop_column("location_key")
    op.drop_table("locations")
