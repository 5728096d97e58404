"""a language per lead

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from nurture.core.config import get_settings

revision: str = "0024"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Everyone known before this revision reads the clinic's default language (the first of
    # NURTURE_LANGUAGES); new leads get theirs from the code, so no server default stays.
    default = get_settings().default_language
    with op.batch_alter_table("leads") as batch:
        batch.add_column(
            sa.Column("language", sa.String(length=35), server_default=default, nullable=False)
        )
    with op.batch_alter_table("leads") as batch:
        batch.alter_column("language", existing_type=sa.String(length=35), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("language")
