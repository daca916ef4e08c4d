"""Templates: ingest the background image, validate the design, version every change.

With `x-subaccount-email` a caller sees and creates only that sub-account's templates;
without it, the whole account's. Everything is per mode (live/test) and soft-deleted.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import anyio.to_thread
from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.orm import Session

from akowe.accounts.service import Principal
from akowe.certificates.renders import RenderCache, png_width
from akowe.db.base import utcnow
from akowe.db.database import Database
from akowe.db.statements import Query, QueryFamily, load
from akowe.errors import FieldError
from akowe.outbound import FetchRefused, ImageFetcher
from akowe.pagination import Page, fetch_page, keyset
from akowe.rendering import FieldSpec, TemplateSpec, render_png, sample_data
from akowe.storage.images import (
    ImageInfo,
    ImageRejected,
    check_raster,
    decode_base64,
    is_data_uri,
    parse_data_uri,
)
from akowe.storage.store import FileStore
from akowe.templates.exceptions import RenderUnavailable, TemplateNotFound, ValidationFailed
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


async def create(
    db: Database,
    *,
    principal: Principal,
    data: TemplateCreate,
    store: FileStore,
    fetcher: ImageFetcher,
) -> Template:
    """Create a template (version 1), owned by the sub-account named in the request if any.

    The image is fetched and decoded in a worker thread first, so no database thread or
    connection is held while a slow URL downloads.
    """
    image = await anyio.to_thread.run_sync(
        partial(ingest_image, data.image_url, store=store, fetcher=fetcher)
    )
    check_dimensions(image.width, image.height, data.dimensions)
    fields = _fields_json(data.fields)
    return await db.transaction(
        partial(_insert, principal=principal, data=data, image=image, fields=fields),
        tenant=principal.account_id,
    )


def _insert(
    session: Session,
    *,
    principal: Principal,
    data: TemplateCreate,
    image: StoredImage,
    fields: list[dict[str, Any]],
) -> Template:
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


_TEMPLATES = cast(Table, Template.__table__)
_VERSIONS = cast(Table, TemplateVersion.__table__)


def _visible(sub_account: bool) -> Select[Any]:
    # The caller's account and mode, not deleted; with `x-subaccount-email`, only that
    # sub-account's templates.
    statement = select(_TEMPLATES).where(
        _TEMPLATES.c.account_id == bindparam("account_id"),
        _TEMPLATES.c.mode == bindparam("mode"),
        _TEMPLATES.c.deleted_at.is_(None),
    )
    if sub_account:
        statement = statement.where(_TEMPLATES.c.subaccount_id == bindparam("subaccount_id"))
    return statement


TEMPLATE_BY_ID: QueryFamily[Template] = QueryFamily(
    lambda sub_account: _visible(sub_account).where(_TEMPLATES.c.id == bindparam("template_id")),
    name="template by id",
)
TEMPLATE_PAGE: QueryFamily[Template] = QueryFamily(
    lambda sub_account, with_cursor: keyset(
        _visible(sub_account),
        created_at=_TEMPLATES.c.created_at,
        id_column=_TEMPLATES.c.id,
        with_cursor=with_cursor,
    ),
    name="templates",
)
TEMPLATE_VERSION: Query[TemplateVersion] = Query(
    select(_VERSIONS).where(
        _VERSIONS.c.template_id == bindparam("template_id"),
        _VERSIONS.c.version == bindparam("version"),
    ),
    name="template version",
)


def _scope(principal: Principal) -> dict[str, Any]:
    scope: dict[str, Any] = {"account_id": principal.account_id, "mode": principal.mode}
    if principal.subaccount_id is not None:
        scope["subaccount_id"] = principal.subaccount_id
    return scope


async def get(db: Database, *, principal: Principal, template_id: str) -> Template | None:
    """The template if the caller may see it (account, mode, sub-account scope), else None."""
    query = TEMPLATE_BY_ID(principal.subaccount_id is not None)
    return await db.one(
        query, tenant=principal.account_id, template_id=template_id, **_scope(principal)
    )


async def require(db: Database, *, principal: Principal, template_id: str) -> Template:
    """The template, or TemplateNotFound (404) - also for other accounts' ones."""
    template = await get(db, principal=principal, template_id=template_id)
    if template is None:
        raise TemplateNotFound()
    return template


def lock(session: Session, *, principal: Principal, template_id: str) -> Template:
    """The template for update in the caller's transaction, or TemplateNotFound."""
    template = load(
        session,
        Template,
        TEMPLATE_BY_ID(principal.subaccount_id is not None),
        for_update=True,
        template_id=template_id,
        **_scope(principal),
    )
    if template is None:
        raise TemplateNotFound()
    return template


async def list_templates(
    db: Database, *, principal: Principal, limit: int, cursor: str | None
) -> Page[Template]:
    """The templates the caller may see, newest first, one page at a time."""
    return await fetch_page(
        db,
        TEMPLATE_PAGE,
        principal.subaccount_id is not None,
        limit=limit,
        cursor=cursor,
        tenant=principal.account_id,
        **_scope(principal),
    )


async def update(
    db: Database,
    *,
    principal: Principal,
    template_id: str,
    data: TemplateUpdate,
    store: FileStore,
    fetcher: ImageFetcher,
) -> Template:
    """Change what was sent; a new version is recorded when the image, size or fields change."""
    image = None
    if "image_url" in data.model_fields_set and data.image_url is not None:
        image = await anyio.to_thread.run_sync(
            partial(ingest_image, data.image_url, store=store, fetcher=fetcher)
        )
    return await db.transaction(
        partial(_update, principal=principal, template_id=template_id, data=data, image=image),
        tenant=principal.account_id,
    )


def _update(
    session: Session,
    *,
    principal: Principal,
    template_id: str,
    data: TemplateUpdate,
    image: StoredImage | None,
) -> Template:
    template = lock(session, principal=principal, template_id=template_id)
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
    template = lock(session, principal=principal, template_id=template_id)
    template.deleted_at = utcnow()
    session.flush()
    return template


def design(version: TemplateVersion, *, store: FileStore) -> TemplateDesign | None:
    """A stored version with its image bytes (None if the image is gone from the store)."""
    stored = store.get(version.image_key)
    if stored is None:
        return None
    return TemplateDesign(
        template_id=version.template_id,
        version=version.version,
        image=stored.data,
        content_type=stored.content_type,
        width=version.width,
        height=version.height,
        image_width=version.image_width,
        image_height=version.image_height,
        fields=tuple(FieldSpec(**f) for f in version.fields),
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


def preview(
    version: TemplateVersion,
    *,
    store: FileStore,
    url: str,
    width: int | None,
    cache: RenderCache | None = None,
) -> bytes:
    """A version rendered with sample values as a PNG at one of the cached widths
    (blocking: rendering)."""
    chosen = png_width(width, version.width, version.height)

    def render() -> bytes:
        found = design(version, store=store)
        if found is None:
            raise RenderUnavailable()
        spec = render_spec(found)
        return render_png(spec, sample_data(spec, url), chosen)

    if cache is None:
        return render()
    name = f"preview-{version.template_id}-{version.version}-{chosen}.png"
    return cache.get_or_render(name, render)
