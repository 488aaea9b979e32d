"""Wrong joining codes and guest links, to pause an account that guesses

Revision ID: 3c9d51a0e8f2
Revises: aa2e6b7bdadd
Create Date: 2026-12-06 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "3c9d51a0e8f2"
down_revision: str | None = "aa2e6b7bdadd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "code_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("channel_user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_attempt")),
    )
    with op.batch_alter_table("code_attempt", schema=None) as batch_op:
        batch_op.create_index(
            "ix_code_attempt_account", ["channel", "channel_user_id", "at"], unique=False
        )


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("code_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_code_attempt_account")
    op.drop_table("code_attempt")
