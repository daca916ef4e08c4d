"""Fonts: uploads checked in a sandbox with their licence enforced; what templates pin.

Fonts belong to the account (every sub-account may use them) in one mode, like
organizations. A template names a font by its family; when its fields are saved, the files
of the families it names are pinned to that template version (see `pin`), so certificates
issued from it draw with the same files for ever, whatever is uploaded later.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any, cast

import anyio.to_thread
from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from akowe.accounts.service import Principal
from akowe.db.base import utcnow
from akowe.db.database import Database, session_reader
from akowe.db.statements import Query, QueryFamily
from akowe.fonts import sandbox
from akowe.fonts.exceptions import FontNotEmbeddable, FontNotFound, FontRejected
from akowe.fonts.models import Font
from akowe.pagination import Page, fetch_page, keyset
from akowe.rendering.fonts import bundled_families, is_known_family
from akowe.storage.store import FileStore

FONT_MAX_BYTES = 5 * 1024 * 1024
MAX_FONTS = 200  # per account and mode
# fsType bit 8: "No subsetting". Certificates embed only the glyphs they draw.
_NO_SUBSETTING = 0x0100
_UNSAFE_NAME = re.compile(r"[^\w .()+,-]")

_FONTS = cast(Table, Font.__table__)
_OWNED = (_FONTS.c.account_id == bindparam("account_id"), _FONTS.c.mode == bindparam("mode"))

FONT_BY_ID: Query[Font] = Query(
    select(_FONTS).where(*_OWNED, _FONTS.c.id == bindparam("font_id")), name="font by id"
)
FONT_BY_FILE: Query[Font] = Query(
    select(_FONTS).where(*_OWNED, _FONTS.c.file_key == bindparam("file_key")),
    name="font by file",
)
FONT_PAGE: QueryFamily[Font] = QueryFamily(
    lambda with_cursor: keyset(
        select(_FONTS).where(*_OWNED),
        created_at=_FONTS.c.created_at,
        id_column=_FONTS.c.id,
        with_cursor=with_cursor,
    ),
    name="fonts",
)
# What a template save needs to pin fonts: every font of the account, newest first.
FONT_CHOICES: Query[Font] = Query(
    select(_FONTS.c.family, _FONTS.c.style, _FONTS.c.file_key)
    .where(*_OWNED)
    .order_by(_FONTS.c.created_at.desc(), _FONTS.c.id.desc())
    .limit(MAX_FONTS),
    name="font choices",
)
_FONT_COUNT: Query[int] = Query(
    select(func.count()).select_from(_FONTS).where(*_OWNED), name="font count"
)


def _scope(principal: Principal) -> dict[str, Any]:
    return {"account_id": principal.account_id, "mode": str(principal.mode)}


def _file_name(name: str | None) -> str | None:
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE_NAME.sub("_", base).strip()[:255] or None


def _check_license(inspected: sandbox.Inspected) -> None:
    info = inspected.info
    if not info.embeddable:
        raise FontNotEmbeddable.field(
            "file",
            f"{info.full_name}: its licence (OS/2 fsType 0x{info.fs_type:04x}) does not allow "
            "embedding it in documents",
        )
    if info.fs_type & _NO_SUBSETTING:
        raise FontNotEmbeddable.field(
            "file",
            f"{info.full_name}: its licence (OS/2 fsType 0x{info.fs_type:04x}) does not allow "
            "subsetting, and certificates embed only the glyphs they draw",
        )


async def upload(
    db: Database, *, principal: Principal, data: bytes, file_name: str | None, store: FileStore
) -> tuple[Font, bool]:
    """Check an uploaded TTF/OTF file and record it; returns (font, created).

    The same file uploaded again answers the font recorded the first time (created False).
    """
    if not data:
        raise FontRejected.field("file", "is empty")
    if len(data) > FONT_MAX_BYTES:
        raise FontRejected.field("file", f"is larger than {FONT_MAX_BYTES // (1024 * 1024)} MiB")
    try:
        inspected = await sandbox.inspect(data)
    except sandbox.FontUnreadable as exc:
        raise FontRejected.field("file", str(exc)) from exc
    _check_license(inspected)
    if is_known_family(inspected.info.family):
        raise FontRejected.field(
            "file",
            f"its family {inspected.info.family!r} is a bundled family name, which always "
            f"means the bundled fonts ({', '.join(bundled_families()[:2])}); give the font "
            "its own family name",
        )
    content_type = "font/otf" if data[:4] == b"OTTO" else "font/ttf"
    key = await anyio.to_thread.run_sync(store.put, data, content_type)
    record = partial(
        _record,
        principal=principal,
        inspected=inspected,
        key=key,
        size=len(data),
        file_name=_file_name(file_name),
    )
    try:
        return await db.transaction(record, tenant=principal.account_id)
    except IntegrityError:
        # The same file uploaded twice at once: the other request recorded it.
        existing = await db.one(
            FONT_BY_FILE, tenant=principal.account_id, file_key=key, **_scope(principal)
        )
        if existing is None:
            raise
        return existing, False


def _record(
    session: Session,
    *,
    principal: Principal,
    inspected: sandbox.Inspected,
    key: str,
    size: int,
    file_name: str | None,
) -> tuple[Font, bool]:
    reader = session_reader(session)
    existing = reader.one(FONT_BY_FILE, file_key=key, **_scope(principal))
    if existing is not None:
        return existing, False
    if (reader.scalar(_FONT_COUNT, **_scope(principal)) or 0) >= MAX_FONTS:
        raise FontRejected.field("file", f"the account already has {MAX_FONTS} fonts")
    info = inspected.info
    font = Font(
        id=str(uuid.uuid4()),
        account_id=principal.account_id,
        mode=str(principal.mode),
        family=info.family,
        style=info.style,
        full_name=info.full_name,
        is_bold=info.bold,
        is_italic=info.italic,
        outlines=info.outlines,
        glyph_count=info.glyph_count,
        fs_type=info.fs_type,
        embeddable=info.embeddable,
        license=inspected.license,
        license_url=inspected.license_url,
        file_key=key,
        file_name=file_name,
        size_bytes=size,
        created_at=utcnow(),
    )
    session.add(font)
    session.flush()
    return font, True


async def get(db: Database, *, principal: Principal, font_id: str) -> Font | None:
    """The font if it is the caller's account's, in the caller's mode."""
    return await db.one(
        FONT_BY_ID, tenant=principal.account_id, font_id=font_id, **_scope(principal)
    )


async def require(db: Database, *, principal: Principal, font_id: str) -> Font:
    """The font, or FontNotFound (404) - also for other accounts' ones."""
    font = await get(db, principal=principal, font_id=font_id)
    if font is None:
        raise FontNotFound()
    return font


async def list_fonts(
    db: Database, *, principal: Principal, limit: int, cursor: str | None
) -> Page[Font]:
    """The account's fonts in this mode, newest first, one page at a time."""
    return await fetch_page(
        db, FONT_PAGE, limit=limit, cursor=cursor, tenant=principal.account_id, **_scope(principal)
    )


def pin(choices: Sequence[Font], families: Iterable[str]) -> list[str]:
    """File keys of the uploaded fonts that fields naming `families` draw with.

    `choices` are the account's fonts newest first (FONT_CHOICES): per family and style the
    newest upload is taken, so uploading a corrected file changes templates saved after it
    and no certificate issued before. Bundled and generic family names never pick an upload.
    """
    wanted = [f for f in dict.fromkeys(families) if not is_known_family(f)]
    keys: list[str] = []
    taken: set[tuple[str, str]] = set()
    for font in choices:
        for family in wanted:
            if is_known_family(family, (font.family,)) and (family, font.style) not in taken:
                taken.add((family, font.style))
                keys.append(font.file_key)
    return list(dict.fromkeys(keys))
