"""when an email first failed for a passing reason, so retries last a window, not a count

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nurture.core.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retrying_since", nurture.core.db.UTCDateTime(timezone=True), nullable=True)
        )
    # Rows already retrying start their window now: an upgrade loses none of them.
    op.execute(
        sa.text(
            "UPDATE messages SET retrying_since = CURRENT_TIMESTAMP "
            "WHERE status = 'pending' AND attempts > 0"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("retrying_since")
