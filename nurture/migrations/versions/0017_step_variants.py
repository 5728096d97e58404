"""variants of a step and the one each enrollment got

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "step_variants",
        sa.Column("id", _ID, nullable=False),
        sa.Column("step_id", _ID, nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("preheader", sa.String(length=300), nullable=True),
        sa.Column("body_markdown", sa.Text(), nullable=True),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("body_text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["steps.id"],
            name=op.f("fk_step_variants_step_id_steps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_variants")),
        sa.UniqueConstraint("step_id", "key", name=op.f("uq_step_variants_step_id_key")),
    )
    # Null for every existing message: no step had variants before this revision.
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant_key", sa.String(length=40), nullable=True))
        # Planning counts a step's messages per variant, to keep the split even.
        batch_op.create_index(
            "ix_messages_step_id_variant_key", ["step_id", "variant_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_step_id_variant_key")
        batch_op.drop_column("variant_key")
    op.drop_table("step_variants")
