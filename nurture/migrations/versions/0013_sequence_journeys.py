"""sequence journeys: trigger, goals, re-entry and wait-until steps

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The defaults are what every version did before: started at signup by its audience, ended
    # by a booking, and open to anyone not already in it.
    with op.batch_alter_table("sequence_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trigger", sa.String(length=40), server_default="signup", nullable=False)
        )
        batch_op.add_column(
            sa.Column("goals", sa.JSON(), server_default=sa.text("'[\"booked\"]'"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("reentry", sa.String(length=10), server_default="always", nullable=False)
        )
        batch_op.add_column(sa.Column("reentry_after_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wait_until", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("wait_at_most_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.drop_column("wait_at_most_days")
        batch_op.drop_column("wait_until")
    with op.batch_alter_table("sequence_versions", schema=None) as batch_op:
        batch_op.drop_column("reentry_after_days")
        batch_op.drop_column("reentry")
        batch_op.drop_column("goals")
        batch_op.drop_column("trigger")
