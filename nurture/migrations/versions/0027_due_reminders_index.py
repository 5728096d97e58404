"""a small partial index of pending reminders, for the tick's superseded-reminder UPDATE

At 10,000,000 outbox rows the planner misjudged how many pending rows are due (due_at of sent
rows lies in the past too) and ran skip_stale's superseded-reminder UPDATE as a sequential scan
of the whole table, about 2 s cold, on every tick that had anything due. Pending reminders are
few; indexed on their own the UPDATE reads a handful of index pages.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = "status = 'pending' AND template IN ('appointment_reminder', 'appointment_nudge')"


def upgrade() -> None:
    op.create_index(
        "ix_messages_due_reminders",
        "messages",
        ["due_at"],
        postgresql_where=sa.text(_WHERE),
        sqlite_where=sa.text(_WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_due_reminders", table_name="messages")
