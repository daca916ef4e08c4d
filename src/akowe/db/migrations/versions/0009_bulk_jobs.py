"""bulk jobs: `job` (one bulk issuance) and `job_row` (one recipient each)

A row's status changes in the same transaction that records its certificate, so a chunk
retried after a crash never issues a row twice. Additive only: two new tables.

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-26 09:31:04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from akowe.db.base import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("subaccount_id", sa.String(length=36), nullable=True),
        sa.Column("subaccount_email", sa.String(length=320), nullable=True),
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("turn_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_job_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subaccount_id"],
            ["sub_account.id"],
            name=op.f("fk_job_subaccount_id_sub_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    op.create_index("ix_job_account_page", "job", ["account_id", "mode", "created_at", "id"])
    op.create_index(op.f("ix_job_status"), "job", ["status", "turn_at"])

    op.create_table(
        "job_row",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("row_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("cells", JSON, nullable=False),
        sa.Column("certificate_id", sa.String(length=36), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_column", sa.String(length=200), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_job_row_job_id_job"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "row_number", name=op.f("pk_job_row")),
    )
    op.create_index(op.f("ix_job_row_job_id"), "job_row", ["job_id", "status", "row_number"])


def downgrade() -> None:
    op.drop_index(op.f("ix_job_row_job_id"), table_name="job_row")
    op.drop_table("job_row")
    op.drop_index(op.f("ix_job_status"), table_name="job")
    op.drop_index("ix_job_account_page", table_name="job")
    op.drop_table("job")
