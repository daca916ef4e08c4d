"""keyset page indexes: (scope, created, id) so pages read off an index without a sort

Lists order newest first with the id as tie-breaker; the older indexes stopped at the
timestamp, so SQLite sorted every page in a temporary B-tree, and a certificate's latest
email (its delivery status) needed a sort too. Additive first: the new indexes are built,
then the ones they cover are dropped (old processes run the same queries either way).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 06:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW = (
    ("ix_certificate_page", "certificate", ["account_id", "mode", "issued_at", "id"]),
    ("ix_certificate_subaccount_page", "certificate", ["subaccount_id", "issued_at", "id"]),
    ("ix_organization_page", "organization", ["account_id", "mode", "created_at", "id"]),
    ("ix_template_page", "template", ["account_id", "mode", "created_at", "id"]),
    ("ix_template_subaccount_page", "template", ["subaccount_id", "created_at", "id"]),
    (
        "ix_outbox_message_certificate_emails",
        "outbox_message",
        ["certificate_id", "kind", "created_at", "id"],
    ),
)
_OLD = (
    ("ix_certificate_account_id", "certificate", ["account_id", "mode", "issued_at"]),
    ("ix_certificate_subaccount_id", "certificate", ["subaccount_id", "issued_at"]),
    ("ix_organization_account_id", "organization", ["account_id", "mode", "created_at"]),
    ("ix_template_account_id", "template", ["account_id", "mode", "created_at"]),
    ("ix_template_subaccount_id", "template", ["subaccount_id", "created_at"]),
    ("ix_outbox_message_certificate_id", "outbox_message", ["certificate_id"]),
)


def upgrade() -> None:
    for name, table, columns in _NEW:
        op.create_index(name, table, columns)
    for name, table, _ in _OLD:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in _OLD:
        op.create_index(name, table, columns)
    for name, table, _ in _NEW:
        op.drop_index(name, table_name=table)
