"""Organizations: account-wide (sub-accounts see them all), per mode, soft-deleted."""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping
from typing import Any, cast

from cachetools import LRUCache
from PIL import Image
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from akowe.accounts.service import Principal
from akowe.db.base import utcnow
from akowe.db.database import Database
from akowe.db.statements import Query, QueryFamily, load
from akowe.organizations.exceptions import OrganizationNotFound, ValidationFailed
from akowe.organizations.models import Organization
from akowe.organizations.schemas import OrganizationCreate, OrganizationUpdate
from akowe.pagination import Page, fetch_page, keyset
from akowe.signing import service as signing_service
from akowe.storage.images import (
    ImageRejected,
    check_raster,
    check_svg,
    is_data_uri,
    looks_like_svg,
    parse_data_uri,
)
from akowe.storage.store import FileStore, content_type_of, is_valid_key

LOGO_MAX_BYTES = 1024 * 1024
# Logos a certificate can draw. SVG logos are refused for logo fields rather than
# rasterised: drawing untrusted SVG needs a full SVG engine (scripts, external references,
# filters) in the rendering path; an organization that wants its logo printed uploads a PNG.
DRAWABLE_LOGOS = frozenset(("image/png", "image/jpeg", "image/webp"))


def store_logo(store: FileStore, value: str) -> str:
    """Check a logo data URI (PNG, JPEG, WebP or SVG, <= 1 MiB), store it, return its key."""
    own_key = store.key_from_url(value)
    if own_key is not None:
        return own_key  # a logo URL we answered earlier, sent back unchanged
    if not is_data_uri(value):
        raise ValidationFailed.field("logo", "must be a data URI (data:image/png;base64,...)")
    try:
        uri = parse_data_uri(value)
        if uri.media_type and not uri.media_type.startswith("image/"):
            raise ImageRejected("must be a PNG, JPEG, WebP or SVG image")
        if uri.media_type == "image/svg+xml" or looks_like_svg(uri.data):
            info = check_svg(uri.data, max_bytes=LOGO_MAX_BYTES)
        else:
            info = check_raster(uri.data, max_bytes=LOGO_MAX_BYTES)
    except ImageRejected as exc:
        message = str(exc).replace("WebP image", "WebP or SVG image")
        raise ValidationFailed.field("logo", message) from exc
    return store.put(info.data, info.content_type)


def create(
    session: Session,
    *,
    principal: Principal,
    data: OrganizationCreate,
    store: FileStore,
    signer: signing_service.Signer,
) -> Organization:
    """Create an organization in the caller's account and mode, with its signing key."""
    logo_key = store_logo(store, data.logo) if data.logo else None
    now = utcnow()
    organization = Organization(
        account_id=principal.account_id,
        mode=principal.mode,
        name=data.name,
        website=data.website,
        email=data.email,
        phone=data.phone,
        logo_key=logo_key,
        created_at=now,
        updated_at=now,
    )
    session.add(organization)
    session.flush()
    signing_service.create_key(
        session, signer=signer, organization_id=organization.id, mode=organization.mode
    )
    return organization


_ORGANIZATIONS = cast(Table, Organization.__table__)
ORGANIZATION_BY_ID: Query[Organization] = Query(
    select(_ORGANIZATIONS).where(
        _ORGANIZATIONS.c.id == bindparam("organization_id"),
        _ORGANIZATIONS.c.account_id == bindparam("account_id"),
        _ORGANIZATIONS.c.mode == bindparam("mode"),
        _ORGANIZATIONS.c.deleted_at.is_(None),
    ),
    name="organization by id",
)
ORGANIZATION_PAGE: QueryFamily[Organization] = QueryFamily(
    lambda with_cursor: keyset(
        select(_ORGANIZATIONS).where(
            _ORGANIZATIONS.c.account_id == bindparam("account_id"),
            _ORGANIZATIONS.c.mode == bindparam("mode"),
            _ORGANIZATIONS.c.deleted_at.is_(None),
        ),
        created_at=_ORGANIZATIONS.c.created_at,
        id_column=_ORGANIZATIONS.c.id,
        with_cursor=with_cursor,
    ),
    name="organizations",
)


def _scope(principal: Principal, organization_id: str) -> dict[str, Any]:
    return {
        "organization_id": organization_id,
        "account_id": principal.account_id,
        "mode": principal.mode,
    }


async def get(db: Database, *, principal: Principal, organization_id: str) -> Organization | None:
    """The organization if it belongs to the caller's account and mode and is not deleted."""
    return await db.one(
        ORGANIZATION_BY_ID, tenant=principal.account_id, **_scope(principal, organization_id)
    )


async def require(db: Database, *, principal: Principal, organization_id: str) -> Organization:
    """The organization, or OrganizationNotFound (404) - also for other accounts' ones."""
    organization = await get(db, principal=principal, organization_id=organization_id)
    if organization is None:
        raise OrganizationNotFound()
    return organization


def lock(session: Session, *, principal: Principal, organization_id: str) -> Organization:
    """The organization for update in the caller's transaction, or OrganizationNotFound."""
    organization = load(
        session,
        Organization,
        ORGANIZATION_BY_ID,
        for_update=True,
        **_scope(principal, organization_id),
    )
    if organization is None:
        raise OrganizationNotFound()
    return organization


async def list_organizations(
    db: Database, *, principal: Principal, limit: int, cursor: str | None
) -> Page[Organization]:
    """The account's organizations in this mode, newest first, one page at a time."""
    return await fetch_page(
        db,
        ORGANIZATION_PAGE,
        limit=limit,
        cursor=cursor,
        tenant=principal.account_id,
        account_id=principal.account_id,
        mode=principal.mode,
    )


def update(
    session: Session,
    *,
    principal: Principal,
    organization_id: str,
    data: OrganizationUpdate,
    store: FileStore,
) -> Organization:
    """Change the fields sent; `null` clears an optional one."""
    sent = data.model_fields_set
    logo_key = store_logo(store, data.logo) if "logo" in sent and data.logo else None
    organization = lock(session, principal=principal, organization_id=organization_id)
    if "name" in sent and data.name is not None:
        organization.name = data.name
    for attribute in ("website", "email", "phone"):
        if attribute in sent:
            setattr(organization, attribute, getattr(data, attribute))
    if "logo" in sent:
        organization.logo_key = logo_key
    organization.updated_at = utcnow()
    session.flush()
    return organization


def delete(session: Session, *, principal: Principal, organization_id: str) -> Organization:
    """Soft-delete: gone from the API, kept for the certificates already issued under it."""
    organization = lock(session, principal=principal, organization_id=organization_id)
    organization.deleted_at = utcnow()
    session.flush()
    return organization


def snapshot(organization: Organization, *, store: FileStore) -> dict[str, Any]:
    """The organization as a certificate records it (frozen at issue time)."""
    return {
        "id": organization.id,
        "name": organization.name,
        "website": organization.website,
        "email": organization.email,
        "phone": organization.phone,
        "logoUrl": store.url(organization.logo_key) if organization.logo_key else None,
    }


def logo_key_of(snapshot: Mapping[str, Any] | None) -> str | None:
    """The file store key of the logo a certificate recorded (the last segment of its URL,
    so a change of the public base URL does not lose it)."""
    url = (snapshot or {}).get("logoUrl")
    if not isinstance(url, str):
        return None
    key = url.rsplit("/", 1)[-1]
    return key if is_valid_key(key) else None


def can_draw_logo(logo_key: str | None) -> bool:
    """Whether a logo field can draw this logo (PNG, JPEG or WebP; not SVG, not none)."""
    return logo_key is not None and content_type_of(logo_key) in DRAWABLE_LOGOS


_logos: LRUCache[str, bytes] = LRUCache(maxsize=32)
_logos_lock = threading.Lock()


def logo_image(store: FileStore, logo_key: str | None) -> bytes | None:
    """The logo as PNG or JPEG bytes for the renderer (WebP converted once to PNG), or None
    for no logo, an SVG logo or a file gone from the store."""
    if not can_draw_logo(logo_key):
        return None
    assert logo_key is not None
    stored = store.get(logo_key)
    if stored is None:
        return None
    if stored.content_type != "image/webp":
        return stored.data
    with _logos_lock:
        cached = _logos.get(logo_key)
    if cached is None:
        with Image.open(io.BytesIO(stored.data), formats=["WEBP"]) as image:
            out = io.BytesIO()
            image.save(out, format="PNG")
        cached = out.getvalue()
        with _logos_lock:
            _logos[logo_key] = cached
    return cached
