"""Teams: where each conversation is reached, and room for Teams' long ids

Revision ID: 3d8f1b6a4c20
Revises: 5a1c0e7d2b93
Create Date: 2026-12-07 07:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "3d8f1b6a4c20"
down_revision: str | None = "5a1c0e7d2b93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, nullable): ids a Teams account, conversation or activity fills.
WIDENED = (
    ("person", "channel_user_id", False),
    ("person", "chat_id", False),
    ("conversation", "channel_user_id", False),
    ("inbox_update", "update_id", False),
    ("crisis_reply", "update_id", False),
    ("code_attempt", "channel_user_id", False),
    ("outbox_message", "chat_id", False),
    ("outbox_message", "sent_message_id", True),
    ("outbox_message", "edit_message_id", True),
    ("family_guest", "channel_user_id", True),
    ("family_guest", "chat_id", True),
)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "teams_conversation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=False),
        sa.Column("service_url", sa.String(length=512), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("updated_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams_conversation")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_teams_conversation_conversation_id")),
    )
    op.create_index(
        op.f("ix_teams_conversation_user_id"), "teams_conversation", ["user_id"], unique=False
    )
    # On PostgreSQL a wider VARCHAR is a metadata-only change; SQLite copies each table once.
    _resize(64, 255)


def downgrade() -> None:
    """Revert this revision."""
    _resize(255, 64)
    op.drop_index(op.f("ix_teams_conversation_user_id"), table_name="teams_conversation")
    op.drop_table("teams_conversation")


def _resize(old: int, new: int) -> None:
    """Change each widened column from `old` to `new` characters, one batch per table."""
    tables: dict[str, list[tuple[str, bool]]] = {}
    for table, column, nullable in WIDENED:
        tables.setdefault(table, []).append((column, nullable))
    for table, columns in tables.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, nullable in columns:
                batch_op.alter_column(
                    column,
                    type_=sa.String(length=new),
                    existing_type=sa.String(length=old),
                    existing_nullable=nullable,
                )
