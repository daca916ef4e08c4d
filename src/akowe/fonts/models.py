"""Table: font (an uploaded TTF/OTF file, checked once, immutable, per account and mode)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from akowe.db.base import Base, new_id, utcnow


class Font(Base):
    """One uploaded font file: what it is (family, style), what its licence allows, where the
    bytes are (a content-addressed key in the file store). Never changed once recorded, so a
    template version that pinned its key renders the same for ever."""

    __tablename__ = "font"
    __table_args__ = (
        Index("ix_font_page", "account_id", "mode", "created_at", "id"),
        UniqueConstraint("account_id", "mode", "file_key", name="uq_font_account_file"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    family: Mapped[str] = mapped_column(String(200))
    style: Mapped[str] = mapped_column(String(20))
    full_name: Mapped[str] = mapped_column(String(300))
    is_bold: Mapped[bool]
    is_italic: Mapped[bool]
    outlines: Mapped[str] = mapped_column(String(16))
    glyph_count: Mapped[int]
    # OS/2 fsType as found in the file, and what it allows: only embeddable fonts are
    # accepted, the flag is kept so the record says why the file was allowed.
    fs_type: Mapped[int]
    embeddable: Mapped[bool]
    license: Mapped[str | None] = mapped_column(String(2000))
    license_url: Mapped[str | None] = mapped_column(String(2048))
    file_key: Mapped[str] = mapped_column(String(80))
    file_name: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
