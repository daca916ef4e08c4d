"""verification: signing keys, status lists, signed credentials, certificate expiry

Additive only: three new tables and one nullable column. Organizations and certificates that
exist before this revision get their key, status list entry and credential from the signing
worker (its repair sweep), not from the migration: signing needs the secret key.

Revision ID: 0007
Revises: 0008
Create Date: 2026-11-26 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import akowe.db.base

revision: str = "0007"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signing_key",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("created_at", akowe.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", akowe.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_signing_key_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_key")),
    )
    op.create_index(
        "ix_signing_key_organization", "signing_key", ["organization_id", "created_at", "id"]
    )

    op.create_table(
        "status_list",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("bits", sa.LargeBinary(), nullable=False),
        sa.Column("credential", sa.Text(), nullable=False),
        sa.Column("created_at", akowe.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", akowe.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_status_list_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_list")),
    )
    op.create_index(
        "ix_status_list_organization", "status_list", ["organization_id", "purpose", "created_at"]
    )

    op.create_table(
        "credential",
        sa.Column("certificate_id", sa.String(length=36), nullable=False),
        sa.Column("signing_key_id", sa.String(length=36), nullable=False),
        sa.Column("status_list_id", sa.String(length=36), nullable=False),
        sa.Column("status_index", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("signed_at", akowe.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificate.id"],
            name=op.f("fk_credential_certificate_id_certificate"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["signing_key_id"],
            ["signing_key.id"],
            name=op.f("fk_credential_signing_key_id_signing_key"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["status_list_id"],
            ["status_list.id"],
            name=op.f("fk_credential_status_list_id_status_list"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("certificate_id", name=op.f("pk_credential")),
        sa.UniqueConstraint(
            "status_list_id", "status_index", name=op.f("uq_credential_status_list_id")
        ),
    )

    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", akowe.db.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    op.drop_table("credential")
    op.drop_index("ix_status_list_organization", table_name="status_list")
    op.drop_table("status_list")
    op.drop_index("ix_signing_key_organization", table_name="signing_key")
    op.drop_table("signing_key")
