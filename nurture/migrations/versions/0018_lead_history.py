"""a lead's numbness type at signup and later changes

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nurture.core.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nothing is backfilled: the type a lead signed up with is not known for earlier leads.
    op.create_table(
        "lead_type_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("from_type", sa.String(length=20), nullable=True),
        sa.Column("to_type", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("changed_at", nurture.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_lead_type_changes_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_type_changes")),
    )
    with op.batch_alter_table("lead_type_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_type_changes_lead_id"), ["lead_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lead_type_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_type_changes_lead_id"))
    op.drop_table("lead_type_changes")
