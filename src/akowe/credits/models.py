"""Tables: credit_balance (one row per account and mode) and ledger_entry (append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from akowe.db.base import Base, new_id, utcnow


class CreditBalance(Base):
    """The running balance; always equals the sum of the account's ledger entries in that mode.

    Kept as a row so that a debit is one conditional UPDATE (atomic on every database) and the
    balance read is one primary-key lookup.
    """

    __tablename__ = "credit_balance"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    account_id: Mapped[str] = mapped_column(
        ForeignKey("account.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(8), primary_key=True)
    balance: Mapped[int] = mapped_column(default=0)


class LedgerEntry(Base):
    """One signed change of a balance, with why, what for, and who did it."""

    __tablename__ = "ledger_entry"
    __table_args__ = (Index(None, "account_id", "mode", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int]
    balance_after: Mapped[int]
    reason: Mapped[str] = mapped_column(String(500))
    reference: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
