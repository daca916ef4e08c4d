"""Organizations: account-wide (sub-accounts see them all), per mode, soft-deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from akowe.accounts.service import Principal
from akowe.db.base import utcnow
from akowe.db.quick import QuickReader
from akowe.organizations.exceptions import OrganizationNotFound, ValidationFailed
from akowe.organizations.models import Organization
from akowe.organizations.schemas import OrganizationCreate, OrganizationUpdate
from akowe.pagination import Page, paginate
from akowe.storage.images import (
    ImageRejected,
    check_raster,
    check_svg,
    is_data_uri,
    looks_like_svg,
    parse_data_uri,
)
from akowe.storage.store import FileStore

LOGO_MAX_BYTES = 1024 * 1024


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
    session: Session, *, principal: Principal, data: OrganizationCreate, store: FileStore
) -> Organization:
    """Create an organization in the caller's account and mode."""
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
    return organization


def get(
    session: Session,
    *,
    principal: Principal,
    organization_id: str,
    include_deleted: bool = False,
    for_update: bool = False,
) -> Organization | None:
    """The organization if it belongs to the caller's account and mode (and is not deleted)."""
    statement = select(Organization).where(
        Organization.id == organization_id,
        Organization.account_id == principal.account_id,
        Organization.mode == principal.mode,
    )
    if not include_deleted:
        statement = statement.where(Organization.deleted_at.is_(None))
    if for_update:
        statement = statement.with_for_update()
    return session.scalar(statement)


def require(
    session: Session, *, principal: Principal, organization_id: str, for_update: bool = False
) -> Organization:
    """The organization, or OrganizationNotFound (404) - also for other accounts' ones."""
    organization = get(
        session, principal=principal, organization_id=organization_id, for_update=for_update
    )
    if organization is None:
        raise OrganizationNotFound()
    return organization


def list_organizations(
    session: Session, *, principal: Principal, limit: int, cursor: str | None
) -> Page[Organization]:
    """The account's organizations in this mode, newest first, one page at a time."""
    statement = select(Organization).where(
        Organization.account_id == principal.account_id,
        Organization.mode == principal.mode,
        Organization.deleted_at.is_(None),
    )
    return paginate(
        session,
        statement,
        created_at=Organization.created_at,
        id_column=Organization.id,
        limit=limit,
        cursor=cursor,
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
    organization = require(
        session, principal=principal, organization_id=organization_id, for_update=True
    )
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
    organization = require(
        session, principal=principal, organization_id=organization_id, for_update=True
    )
    organization.deleted_at = utcnow()
    session.flush()
    return organization


_SNAPSHOT_SQL = (
    "SELECT id, name, website, email, phone, logo_key FROM organization"
    " WHERE id = ? AND account_id = ? AND mode = ? AND deleted_at IS NULL"
)


def snapshot(
    reader: QuickReader, *, principal: Principal, organization_id: str, store: FileStore
) -> dict[str, Any]:
    """The organization as a certificate records it, or OrganizationNotFound (hot path)."""
    row = reader.one(_SNAPSHOT_SQL, organization_id, principal.account_id, principal.mode)
    if row is None:
        raise OrganizationNotFound()
    id_, name, website, email, phone, logo_key = row
    return {
        "id": id_,
        "name": name,
        "website": website,
        "email": email,
        "phone": phone,
        "logoUrl": store.url(logo_key) if logo_key else None,
    }
