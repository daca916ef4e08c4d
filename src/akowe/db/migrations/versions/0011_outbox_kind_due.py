"""outbox: an index of due messages per kind

`ix_outbox_message_kind_due` (kind, status, next_attempt_at): the delivery worker claims due
credentials (signing) before other messages, each kind read in its own index range.

Additive only: one index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 15:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_message_kind_due",
        "outbox_message",
        ["kind", "status", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_message_kind_due", table_name="outbox_message")
