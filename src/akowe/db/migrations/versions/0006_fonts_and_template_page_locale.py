"""fonts, and templates that state their page size, locale, language and pinned fonts

`font` records each uploaded TTF/OTF file (bytes in the file store, by content key).
`template` and `template_version` gain `page_size`, `locale`, `language` and `font_keys`
(the uploaded font files a version draws with). Additive only: rows written before this
revision get `locale` "en" and NULL elsewhere, and NULL `font_keys` marks a design saved
before fonts could be uploaded (it keeps drawing its font families the way it always did).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import akowe.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "font",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("family", sa.String(length=200), nullable=False),
        sa.Column("style", sa.String(length=20), nullable=False),
        sa.Column("full_name", sa.String(length=300), nullable=False),
        sa.Column("is_bold", sa.Boolean(), nullable=False),
        sa.Column("is_italic", sa.Boolean(), nullable=False),
        sa.Column("outlines", sa.String(length=16), nullable=False),
        sa.Column("glyph_count", sa.Integer(), nullable=False),
        sa.Column("fs_type", sa.Integer(), nullable=False),
        sa.Column("embeddable", sa.Boolean(), nullable=False),
        sa.Column("license", sa.String(length=2000), nullable=True),
        sa.Column("license_url", sa.String(length=2048), nullable=True),
        sa.Column("file_key", sa.String(length=80), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", akowe.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_font_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_font")),
        sa.UniqueConstraint("account_id", "mode", "file_key", name="uq_font_account_file"),
    )
    op.create_index("ix_font_page", "font", ["account_id", "mode", "created_at", "id"])

    for table in ("template", "template_version"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("page_size", _json(), nullable=True))
            batch_op.add_column(
                sa.Column("locale", sa.String(length=35), server_default="en", nullable=False)
            )
            batch_op.add_column(sa.Column("language", sa.String(length=35), nullable=True))
            batch_op.add_column(sa.Column("font_keys", _json(), nullable=True))


def downgrade() -> None:
    for table in ("template_version", "template"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("font_keys")
            batch_op.drop_column("language")
            batch_op.drop_column("locale")
            batch_op.drop_column("page_size")

    op.drop_index("ix_font_page", table_name="font")
    op.drop_table("font")
