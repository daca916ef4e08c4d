"""hardening: rate-limit counters, resend records, sub-account webhook endpoints

- `rate_limit_counter` holds the `limits` sliding-window counts when the database is the
  rate-limit store (PostgreSQL by default, or `AKOWE_RATE_LIMIT_STORAGE=database`).
- `certificate_resend`: one row per resend (who, when, which email), counted for the daily
  resend limits; the audit trail can take these rows over.
- `webhook_endpoint.subaccount_id`: endpoints created with `x-subaccount-email` belong to
  that sub-account (NULL: account-wide, as every existing endpoint).

Additive only: two new tables and a nullable column.

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-26 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from akowe.db.base import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counter",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_counter")),
    )
    op.create_index(op.f("ix_rate_limit_counter_expires_at"), "rate_limit_counter", ["expires_at"])

    op.create_table(
        "certificate_resend",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("certificate_id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("address_corrected", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_certificate_resend_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificate.id"],
            name=op.f("fk_certificate_resend_certificate_id_certificate"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_resend")),
    )
    op.create_index(
        op.f("ix_certificate_resend_certificate_id"),
        "certificate_resend",
        ["certificate_id", "created_at"],
    )
    op.create_index(
        op.f("ix_certificate_resend_account_id"),
        "certificate_resend",
        ["account_id", "mode", "created_at"],
    )
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subaccount_id", sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_webhook_endpoint_subaccount_id_sub_account"),
            "sub_account",
            ["subaccount_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_webhook_endpoint_subaccount_id_sub_account"), type_="foreignkey"
        )
        batch_op.drop_column("subaccount_id")
    op.drop_index(op.f("ix_certificate_resend_account_id"), table_name="certificate_resend")
    op.drop_index(op.f("ix_certificate_resend_certificate_id"), table_name="certificate_resend")
    op.drop_table("certificate_resend")
    op.drop_index(op.f("ix_rate_limit_counter_expires_at"), table_name="rate_limit_counter")
    op.drop_table("rate_limit_counter")
