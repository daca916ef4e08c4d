"""Tables: template (the current design) and template_version (every design ever issued from).

`template` holds the current state for cheap reads; each change of image, dimensions, fields,
page size, locale or language adds an immutable `template_version` row, so a certificate that
records (template_id, version) renders identically after the template is edited or deleted.

`font_keys` lists the uploaded font files (file store keys) the design draws with, pinned when
the fields were saved; NULL marks a design saved before fonts could be uploaded, whose font
families keep being drawn the way they always were (see `akowe.templates.service`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from akowe.db.base import Base, Json, new_id, utcnow


class Template(Base):
    """A certificate design owned by an account (and optionally one sub-account) in one mode."""

    __tablename__ = "template"
    __table_args__ = (
        Index("ix_template_page", "account_id", "mode", "created_at", "id"),
        Index("ix_template_subaccount_page", "subaccount_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))
    subaccount_id: Mapped[str | None] = mapped_column(
        ForeignKey("sub_account.id", ondelete="SET NULL")
    )
    # Kept as written at creation: the wire shows it even if the sub-account goes away.
    subaccount_email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(default=1)
    image_key: Mapped[str] = mapped_column(String(80))
    image_width: Mapped[int]
    image_height: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    fields: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    # As sent: a size name ("A4-landscape"), {"width_mm", "height_mm"}, or NULL (automatic:
    # A4 or Letter by the design's aspect ratio).
    page_size: Mapped[Any] = mapped_column(Json, nullable=True)
    locale: Mapped[str] = mapped_column(String(35), default="en", server_default="en")
    language: Mapped[str | None] = mapped_column(String(35))
    font_keys: Mapped[list[str] | None] = mapped_column(Json, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class TemplateVersion(Base):
    """An immutable snapshot of a template's design; never updated or deleted."""

    __tablename__ = "template_version"

    template_id: Mapped[str] = mapped_column(
        ForeignKey("template.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(primary_key=True)
    image_key: Mapped[str] = mapped_column(String(80))
    image_width: Mapped[int]
    image_height: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    fields: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    # Pinned: the page size the version prints on, resolved when it was saved (NULL only for
    # versions saved before page sizes could be chosen: automatic, as they always were).
    page_size: Mapped[Any] = mapped_column(Json, nullable=True)
    locale: Mapped[str] = mapped_column(String(35), default="en", server_default="en")
    language: Mapped[str | None] = mapped_column(String(35))
    font_keys: Mapped[list[str] | None] = mapped_column(Json, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
