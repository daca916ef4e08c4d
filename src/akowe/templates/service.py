"""Templates: ingest the background image, validate the design, version every change.

With `x-subaccount-email` a caller sees and creates only that sub-account's templates;
without it, the whole account's. Everything is per mode (live/test) and soft-deleted.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from akowe.accounts.service import Principal
from akowe.db.base import utcnow
from akowe.db.quick import QuickReader
from akowe.errors import FieldError
from akowe.pagination import Page, paginate
from akowe.rendering import FieldSpec, TemplateSpec
from akowe.storage.images import (
    ImageInfo,
    ImageRejected,
    check_raster,
    decode_base64,
    is_data_uri,
    parse_data_uri,
)
from akowe.storage.store import FileStore
from akowe.templates.exceptions import TemplateNotFound, ValidationFailed
from akowe.templates.fetch import FetchRefused, ImageFetcher
from akowe.templates.models import Template, TemplateVersion
from akowe.templates.schemas import Dimensions, FieldIn, TemplateCreate, TemplateUpdate

IMAGE_MAX_BYTES = 10 * 1024 * 1024
# Declared dimensions may differ from the image's pixel size (they set the coordinate system
# fontSize is measured in) but must keep its shape; 1% absorbs rounding like 800x566 for
# a 1600x1131 image.
ASPECT_TOLERANCE = 0.01
_URL_RE = re.compile(r"^https?://", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class StoredImage:
    """A checked background in the file store."""

    key: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class TemplateDesign:
    """Everything needed to render one version of a template."""

    template_id: str
    version: int
    image: bytes
    content_type: str
    width: int
    height: int
    image_width: int
    image_height: int
    fields: tuple[FieldSpec, ...]  # stored field dicts use the renderer's names


def _image_error(message: str) -> ValidationFailed:
    return ValidationFailed.field("imageUrl", message)


def _image_bytes(value: str, *, store: FileStore, fetcher: ImageFetcher) -> bytes:
    own_key = store.key_from_url(value)
    if own_key is not None:
        stored = store.get(own_key)
        if stored is not None:
            return stored.data
    if is_data_uri(value):
        uri = parse_data_uri(value)
        if uri.media_type and not uri.media_type.startswith("image/"):
            raise ImageRejected("must be a PNG, JPEG or WebP image")
        return uri.data
    if _URL_RE.match(value):
        try:
            fetched = fetcher.fetch(value)
        except FetchRefused as exc:
            raise _image_error(f"could not be fetched: {exc}") from exc
        return fetched.data
    if "://" in value:
        raise ImageRejected("must be a data URI, base64-encoded image or http(s) URL")
    return decode_base64(value)


def ingest_image(value: str, *, store: FileStore, fetcher: ImageFetcher) -> StoredImage:
    """Decode, fetch or reuse the image, check it is a real PNG/JPEG/WebP, and store it."""
    try:
        info: ImageInfo = check_raster(
            _image_bytes(value, store=store, fetcher=fetcher), max_bytes=IMAGE_MAX_BYTES
        )
    except ImageRejected as exc:
        raise _image_error(str(exc)) from exc
    assert info.width is not None and info.height is not None
    return StoredImage(
        key=store.put(info.data, info.content_type), width=info.width, height=info.height
    )


def check_dimensions(image_width: int, image_height: int, dimensions: Dimensions) -> None:
    """Refuse dimensions whose aspect ratio differs from the image's by more than 1%."""
    image_ratio = image_width / image_height
    ratio = dimensions.width / dimensions.height
    if abs(ratio - image_ratio) / image_ratio > ASPECT_TOLERANCE:
        raise ValidationFailed.field(
            "dimensions",
            f"must have the image's aspect ratio: the image is {image_width}x{image_height} "
            f"pixels but the dimensions are {dimensions.width}x{dimensions.height}",
        )


def _fields_json(fields: Sequence[FieldIn]) -> list[dict[str, Any]]:
    """Fields as stored: snake_case, every one with a unique id (kept when sent)."""
    seen: set[str] = set()
    errors: list[FieldError] = []
    out: list[dict[str, Any]] = []
    for index, field in enumerate(fields):
        field_id = field.id or str(uuid.uuid4())
        if field_id in seen:
            errors.append(FieldError(f"fields.{index}.id", "is used by another field"))
        seen.add(field_id)
        out.append({**field.model_dump(), "id": field_id})
    if errors:
        raise ValidationFailed(f"{errors[0].field}: {errors[0].message}", errors)
    return out


def _snapshot(template: Template) -> TemplateVersion:
    return TemplateVersion(
        template_id=template.id,
        version=template.version,
        image_key=template.image_key,
        image_width=template.image_width,
        image_height=template.image_height,
        width=template.width,
        height=template.height,
        fields=template.fields,
        created_at=template.updated_at,
    )


def create(
    session: Session,
    *,
    principal: Principal,
    data: TemplateCreate,
    store: FileStore,
    fetcher: ImageFetcher,
) -> Template:
    """Create a template (version 1), owned by the sub-account named in the request if any."""
    # The image work (fetch, decode) happens before the first query, so no write lock is
    # held while it runs.
    image = ingest_image(data.image_url, store=store, fetcher=fetcher)
    check_dimensions(image.width, image.height, data.dimensions)
    fields = _fields_json(data.fields)
    now = utcnow()
    template = Template(
        id=str(uuid.uuid4()),
        account_id=principal.account_id,
        mode=principal.mode,
        subaccount_id=principal.subaccount_id,
        subaccount_email=principal.subaccount_email,
        name=data.name,
        version=1,
        image_key=image.key,
        image_width=image.width,
        image_height=image.height,
        width=data.dimensions.width,
        height=data.dimensions.height,
        fields=fields,
        created_at=now,
        updated_at=now,
    )
    session.add(template)
    session.flush()
    session.add(_snapshot(template))
    session.flush()
    return template


def _scoped(principal: Principal) -> Select[Template]:
    statement = select(Template).where(
        Template.account_id == principal.account_id,
        Template.mode == principal.mode,
        Template.deleted_at.is_(None),
    )
    if principal.subaccount_id is not None:
        statement = statement.where(Template.subaccount_id == principal.subaccount_id)
    return statement


def get(
    session: Session, *, principal: Principal, template_id: str, for_update: bool = False
) -> Template | None:
    """The template if the caller may see it (account, mode, sub-account scope), else None."""
    statement = _scoped(principal).where(Template.id == template_id)
    if for_update:
        statement = statement.with_for_update()
    return session.scalar(statement)


def require(
    session: Session, *, principal: Principal, template_id: str, for_update: bool = False
) -> Template:
    """The template, or TemplateNotFound (404) - also for other accounts' ones."""
    template = get(session, principal=principal, template_id=template_id, for_update=for_update)
    if template is None:
        raise TemplateNotFound()
    return template


def list_templates(
    session: Session, *, principal: Principal, limit: int, cursor: str | None
) -> Page[Template]:
    """The templates the caller may see, newest first, one page at a time."""
    return paginate(
        session,
        _scoped(principal),
        created_at=Template.created_at,
        id_column=Template.id,
        limit=limit,
        cursor=cursor,
    )


def update(
    session: Session,
    *,
    principal: Principal,
    template_id: str,
    data: TemplateUpdate,
    store: FileStore,
    fetcher: ImageFetcher,
) -> Template:
    """Change what was sent; a new version is recorded when the image, size or fields change."""
    sent = data.model_fields_set
    image = (
        ingest_image(data.image_url, store=store, fetcher=fetcher)
        if "image_url" in sent and data.image_url is not None
        else None
    )
    template = require(session, principal=principal, template_id=template_id, for_update=True)
    if image is None:
        image = StoredImage(template.image_key, template.image_width, template.image_height)
    dimensions = data.dimensions or Dimensions(width=template.width, height=template.height)
    check_dimensions(image.width, image.height, dimensions)
    fields = _fields_json(data.fields) if data.fields is not None else template.fields
    if data.name is not None:
        template.name = data.name
    design_changed = (
        image.key != template.image_key
        or (dimensions.width, dimensions.height) != (template.width, template.height)
        or fields != template.fields
    )
    template.updated_at = utcnow()
    if design_changed:
        template.image_key = image.key
        template.image_width, template.image_height = image.width, image.height
        template.width, template.height = dimensions.width, dimensions.height
        template.fields = fields
        template.version += 1
        session.add(_snapshot(template))
    session.flush()
    return template


def delete(session: Session, *, principal: Principal, template_id: str) -> Template:
    """Soft-delete: gone from the API; its versions stay for certificates issued from them."""
    template = require(session, principal=principal, template_id=template_id, for_update=True)
    template.deleted_at = utcnow()
    session.flush()
    return template


def get_version(
    session: Session, *, store: FileStore, template_id: str, version: int
) -> TemplateDesign | None:
    """One version of a design with its image bytes (also for edited or deleted templates)."""
    row = session.get(TemplateVersion, (template_id, version))
    if row is None:
        return None
    stored = store.get(row.image_key)
    if stored is None:
        return None
    return TemplateDesign(
        template_id=row.template_id,
        version=row.version,
        image=stored.data,
        content_type=stored.content_type,
        width=row.width,
        height=row.height,
        image_width=row.image_width,
        image_height=row.image_height,
        fields=tuple(FieldSpec(**f) for f in row.fields),
    )


def render_spec(design: TemplateDesign) -> TemplateSpec:
    """The renderer's view of a design version (its cache key changes with the version)."""
    return TemplateSpec(
        key=f"{design.template_id}:{design.version}",
        width=design.width,
        height=design.height,
        background=design.image,
        fields=design.fields,
    )


def current_version(reader: QuickReader, *, principal: Principal, template_id: str) -> int:
    """The version a certificate issued now pins, or TemplateNotFound (hot path)."""
    sql = (
        "SELECT version FROM template"
        " WHERE id = ? AND account_id = ? AND mode = ? AND deleted_at IS NULL"
    )
    params: list[Any] = [template_id, principal.account_id, principal.mode]
    if principal.subaccount_id is not None:
        sql += " AND subaccount_id = ?"
        params.append(principal.subaccount_id)
    row = reader.one(sql, *params)
    if row is None:
        raise TemplateNotFound()
    return int(row[0])
