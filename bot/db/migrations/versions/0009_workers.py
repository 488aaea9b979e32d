"""Processes that claim outbox rows, so a dead one's claims are taken over in seconds; crisis
replies sent before a turn, so a restart does not send them again

Revision ID: 7e4b2f0c9a15
Revises: 3c9d51a0e8f2
Create Date: 2026-12-06 16:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "7e4b2f0c9a15"
down_revision: str | None = "3c9d51a0e8f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "worker",
        sa.Column("instance", sa.String(length=16), nullable=False),
        sa.Column("seen_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("instance", name=op.f("pk_worker")),
    )
    op.create_table(
        "crisis_reply",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("update_id", sa.String(length=64), nullable=False),
        sa.Column("sent_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crisis_reply")),
        sa.UniqueConstraint("channel", "update_id", name=op.f("uq_crisis_reply_channel")),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("crisis_reply")
    op.drop_table("worker")
