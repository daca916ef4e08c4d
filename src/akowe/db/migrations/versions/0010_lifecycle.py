"""lifecycle: corrections, erasure, recipient search, audit trail

- `certificate.revision`, `corrected_at` (a correction keeps the id and bumps the revision),
  `erased_at`, `erased_by_key_id` (erasure leaves a tombstone).
- `certificate_search_term`: the normalized words of each recipient's name and email (filled
  for existing certificates here), for `GET /api/certificates?q=`.
- `superseded_credential`: credentials replaced by a correction; their status bits are set.
- `audit_event`: the account's audit trail.

Additive only: new tables and columns (existing certificates are revision 1).

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-26 09:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from akowe.certificates.search import terms
from akowe.db.base import Json, UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TERM = sa.String(length=200).with_variant(sa.String(length=200, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("corrected_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("erased_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("erased_by_key_id", sa.String(length=36), nullable=True))

    op.create_table(
        "certificate_search_term",
        sa.Column("certificate_id", sa.String(length=36), nullable=False),
        sa.Column("term", TERM, nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificate.id"],
            name=op.f("fk_certificate_search_term_certificate_id_certificate"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("certificate_id", "term", name=op.f("pk_certificate_search_term")),
    )
    op.create_index(
        "ix_certificate_search_term_lookup",
        "certificate_search_term",
        ["account_id", "mode", "term"],
    )

    op.create_table(
        "superseded_credential",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("certificate_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("signing_key_id", sa.String(length=36), nullable=False),
        sa.Column("status_list_id", sa.String(length=36), nullable=False),
        sa.Column("status_index", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=True),
        sa.Column("signed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificate.id"],
            name=op.f("fk_superseded_credential_certificate_id_certificate"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["status_list_id"],
            ["status_list.id"],
            name=op.f("fk_superseded_credential_status_list_id_status_list"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_superseded_credential")),
        sa.UniqueConstraint(
            "status_list_id",
            "status_index",
            name=op.f("uq_superseded_credential_status_list_id"),
        ),
    )
    op.create_index(
        op.f("ix_superseded_credential_certificate_id"),
        "superseded_credential",
        ["certificate_id"],
    )

    op.create_table(
        "audit_event",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("certificate_id", sa.String(length=36), nullable=True),
        sa.Column("details", Json, nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_audit_event_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index(
        "ix_audit_event_page", "audit_event", ["account_id", "mode", "created_at", "id"]
    )
    op.create_index(op.f("ix_audit_event_certificate_id"), "audit_event", ["certificate_id"])

    # Existing certificates become searchable.
    certificates = sa.table(
        "certificate",
        sa.column("id"),
        sa.column("account_id"),
        sa.column("mode"),
        sa.column("recipient_name"),
        sa.column("recipient_email"),
    )
    search_terms = sa.table(
        "certificate_search_term",
        sa.column("certificate_id"),
        sa.column("term"),
        sa.column("account_id"),
        sa.column("mode"),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(certificates)).all()
    values = [
        {"certificate_id": r.id, "term": t, "account_id": r.account_id, "mode": r.mode}
        for r in rows
        for t in terms(r.recipient_name, r.recipient_email)
    ]
    if values:
        connection.execute(sa.insert(search_terms), values)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_event_certificate_id"), table_name="audit_event")
    op.drop_index("ix_audit_event_page", table_name="audit_event")
    op.drop_table("audit_event")
    op.drop_index(
        op.f("ix_superseded_credential_certificate_id"), table_name="superseded_credential"
    )
    op.drop_table("superseded_credential")
    op.drop_index("ix_certificate_search_term_lookup", table_name="certificate_search_term")
    op.drop_table("certificate_search_term")
    with op.batch_alter_table("certificate", schema=None) as batch_op:
        batch_op.drop_column("erased_by_key_id")
        batch_op.drop_column("erased_at")
        batch_op.drop_column("corrected_at")
        batch_op.drop_column("revision")
