"""Table: rate_limit_counter (the database storage of the `limits` sliding window counter)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from akowe.db.base import Base


class RateLimitCounter(Base):
    """One window's hit count for one limited key (`limits` names the window in the key).

    Rows expire: a row past `expires_at` counts as zero and is overwritten or swept.
    """

    __tablename__ = "rate_limit_counter"
    __table_args__ = (Index(None, "expires_at"),)

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[int] = mapped_column(BigInteger)  # epoch milliseconds
