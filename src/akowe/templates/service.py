"""Templates: ingest the background image, validate the design, version every change.

With `x-subaccount-email` a caller sees and creates only that sub-account's templates;
without it, the whole account's. Everything is per mode (live/test) and soft-deleted.

A design is checked when it is saved (`validate_design`: font families, page size, locale,
boxes inside the page) and each version is turned into the renderer's `TemplateSpec` once
per process (`spec_for`, cached by (template, version): versions never change), so the
per-issue check and every render start from the same pinned inputs.
"""

from __future__ import annotations

import io
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache, partial
from typing import Any, cast

import anyio.to_thread
from cachetools import LRUCache
from PIL import Image
from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.orm import Session

from akowe.accounts.service import Principal
from akowe.certificates.renders import RenderCache, png_width
from akowe.db.base import utcnow
from akowe.db.database import Database, session_reader
from akowe.db.statements import DriverReader, Query, QueryFamily, load
from akowe.errors import FieldError
from akowe.fonts import service as fonts_service
from akowe.outbound import FetchRefused, ImageFetcher
from akowe.pagination import Page, fetch_page, keyset
from akowe.rendering import (
    CertificateData,
    FieldSpec,
    Problem,
    TemplateSpec,
    bundled_families,
    check,
    check_template,
    default_page_size,
    render_png,
    sample_data,
    unknown_families,
)
from akowe.rendering.fields import TEXT_FIELD_TYPES
from akowe.storage.images import (
    ImageInfo,
    ImageRejected,
    check_raster,
    decode_base64,
    is_data_uri,
    parse_data_uri,
)
from akowe.storage.store import FileStore
from akowe.templates.exceptions import (
    RenderUnavailable,
    TemplateNotFound,
    UnrenderableValues,
    ValidationFailed,
)
from akowe.templates.legacy import legacy_family
from akowe.templates.models import Template, TemplateVersion
from akowe.templates.schemas import Dimensions, FieldIn, TemplateCreate, TemplateUpdate

IMAGE_MAX_BYTES = 10 * 1024 * 1024
# Declared dimensions may differ from the image's pixel size (they set the coordinate system
# fontSize is measured in) but must keep its shape; 1% absorbs rounding like 800x566 for
# a 1600x1131 image.
ASPECT_TOLERANCE = 0.01
_URL_RE = re.compile(r"^https?://", re.IGNORECASE)
# Versions turned into render inputs, per process: background and font bytes included.
_SPEC_CACHE_SIZE = 32
# Box edges may touch the page edge; rounding of percentages must not refuse them.
_EDGE_TOLERANCE = 0.01
_OFFSETS = {"left": 0.0, "center": 0.5, "right": 1.0, "top": 0.0, "middle": 0.5, "bottom": 1.0}


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
    page_size: str | tuple[float, float] | None = None
    locale: str = "en"
    language: str | None = None
    fonts: tuple[bytes, ...] = ()  # the pinned uploaded font files
    legacy_fonts: bool = False  # saved before families were checked (akowe.templates.legacy)


@dataclass(frozen=True, slots=True)
class Draft:
    """A design about to be saved: what is checked and what a version records."""

    fields: list[dict[str, Any]]
    width: int
    height: int
    page_size: Any  # as stored: a name, {"width_mm", "height_mm"}, or None (automatic)
    locale: str
    language: str | None
    font_keys: list[str] | None  # None: a design saved before fonts were pinned


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


_FIELD_DEFAULTS = {
    "width": None,
    "max_lines": 1,
    "min_font_size": None,
    "vertical_alignment": "middle",
    "language": None,
}


def _same_fields(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> bool:
    """Equal designs, counting attributes older stored fields lack at their defaults."""
    return [{**_FIELD_DEFAULTS, **f} for f in a] == [{**_FIELD_DEFAULTS, **f} for f in b]


def _families(fields: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(f["font_family"]) for f in fields if f["type"] in TEXT_FIELD_TYPES]


def resolved_page_size(page_size: Any, width: int, height: int) -> Any:
    """The page a design prints on: the chosen one, or the automatic choice for its shape."""
    return default_page_size(width, height) if page_size is None else page_size


def _spec_page_size(stored: Any) -> str | tuple[float, float] | None:
    if isinstance(stored, dict):
        return (float(stored["width_mm"]), float(stored["height_mm"]))
    return cast(str | None, stored)


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
        # Pinned, so the page does not change should the automatic choice ever change.
        page_size=resolved_page_size(template.page_size, template.width, template.height),
        locale=template.locale,
        language=template.language,
        font_keys=template.font_keys,
        created_at=template.updated_at,
    )


def _font_files(keys: Sequence[str], *, store: FileStore) -> tuple[bytes, ...] | None:
    files = []
    for key in keys:
        stored = store.get(key)
        if stored is None:
            return None
        files.append(stored.data)
    return tuple(files)


def _box_errors(draft: Draft) -> list[FieldError]:
    """Field boxes that run past the page (text boxes across, logo boxes both ways)."""
    errors = []
    for index, field in enumerate(draft.fields):
        kind = field["type"]
        if kind == "logo":
            width = field.get("width") or field["font_size"] / draft.width * 100
            height: float | None = field["font_size"] / draft.height * 100
        elif kind in TEXT_FIELD_TYPES and field.get("width") is not None:
            width, height = field["width"], None
        else:
            continue
        left = field["x"] - _OFFSETS[field["alignment"]] * width
        if left < -_EDGE_TOLERANCE or left + width > 100 + _EDGE_TOLERANCE:
            errors.append(
                FieldError(
                    f"fields.{index}.width",
                    f"the box runs past the page: placed {field['alignment']} at x={field['x']:g} "
                    f"it spans {left:g}% to {left + width:g}% of the width",
                )
            )
        if height is not None:
            top = field["y"] - _OFFSETS[field.get("vertical_alignment", "middle")] * height
            if top < -_EDGE_TOLERANCE or top + height > 100 + _EDGE_TOLERANCE:
                errors.append(
                    FieldError(
                        f"fields.{index}.fontSize",
                        f"the logo's box runs past the page: it spans {top:g}% to "
                        f"{top + height:g}% of the height",
                    )
                )
    return errors


def validate_design(draft: Draft, *, store: FileStore) -> None:
    """Refuse (400, naming each field) what the renderer cannot draw whatever the values:
    unknown font families, unusable font files, an unknown locale or page size, boxes that
    run past the page. Blocking: reads pinned fonts from the store."""
    fonts = _font_files(draft.font_keys or (), store=store)
    if fonts is None:
        raise ValidationFailed.field(
            "fields", "a font it uses is no longer stored; upload it again"
        )
    spec = TemplateSpec(
        key="validation",
        width=draft.width,
        height=draft.height,
        background=b"",
        fields=tuple(FieldSpec(**f) for f in draft.fields),
        page_size=_spec_page_size(draft.page_size),
        locale=draft.locale,
        language=draft.language,
        fonts=fonts,
    )
    legacy = draft.font_keys is None
    positions = {f["id"]: index for index, f in enumerate(draft.fields)}
    errors = []
    for problem in check_template(spec):
        index = positions.get(problem.field_id)
        if problem.kind == "unknown_font" and index is not None:
            if legacy:
                continue  # drawn as it always was; flagged in reads (akowe.templates.legacy)
            family = draft.fields[index]["font_family"]
            errors.append(
                FieldError(
                    f"fields.{index}.fontFamily",
                    f"unknown font family {family!r}: use a bundled family "
                    f"({', '.join(bundled_families())}) or upload the font (POST /api/fonts)",
                )
            )
        elif problem.kind == "unknown_locale":
            errors.append(FieldError("locale", problem.message))
        elif problem.kind == "bad_page_size":
            errors.append(FieldError("pageSize", problem.message))
        else:
            where = f"fields.{index}" if index is not None else "fields"
            errors.append(FieldError(where, problem.message.split(": ", 1)[-1]))
    errors += _box_errors(draft)
    if errors:
        unknown = [] if legacy else unknown_families(spec)
        prefix = f"Unknown font families: {', '.join(unknown)}. " if unknown else ""
        raise ValidationFailed(f"{prefix}{errors[0].field}: {errors[0].message}", errors)


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
    connection is held while a slow URL downloads. The account's uploaded fonts whose
    families the fields name are pinned to the version.
    """
    image = await anyio.to_thread.run_sync(
        partial(ingest_image, data.image_url, store=store, fetcher=fetcher)
    )
    check_dimensions(image.width, image.height, data.dimensions)
    fields = _fields_json(data.fields)
    choices = await db.all(
        fonts_service.FONT_CHOICES,
        tenant=principal.account_id,
        account_id=principal.account_id,
        mode=str(principal.mode),
    )
    draft = Draft(
        fields=fields,
        width=data.dimensions.width,
        height=data.dimensions.height,
        page_size=data.page_size,
        locale=data.locale,
        language=data.language,
        font_keys=fonts_service.pin(choices, _families(fields)),
    )
    await anyio.to_thread.run_sync(partial(validate_design, draft, store=store))
    return await db.transaction(
        partial(_insert, principal=principal, data=data, image=image, draft=draft),
        tenant=principal.account_id,
    )


def _insert(
    session: Session,
    *,
    principal: Principal,
    data: TemplateCreate,
    image: StoredImage,
    draft: Draft,
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
        width=draft.width,
        height=draft.height,
        fields=draft.fields,
        page_size=draft.page_size,
        locale=draft.locale,
        language=draft.language,
        font_keys=draft.font_keys,
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
    """Change what was sent; a new version is recorded when the image, size, fields, page
    size, locale or language change (checked like a new design)."""
    image = None
    if "image_url" in data.model_fields_set and data.image_url is not None:
        image = await anyio.to_thread.run_sync(
            partial(ingest_image, data.image_url, store=store, fetcher=fetcher)
        )
    return await db.transaction(
        partial(
            _update,
            principal=principal,
            template_id=template_id,
            data=data,
            image=image,
            store=store,
        ),
        tenant=principal.account_id,
    )


def _update(
    session: Session,
    *,
    principal: Principal,
    template_id: str,
    data: TemplateUpdate,
    image: StoredImage | None,
    store: FileStore,
) -> Template:
    template = lock(session, principal=principal, template_id=template_id)
    sent = data.model_fields_set
    if image is None:
        image = StoredImage(template.image_key, template.image_width, template.image_height)
    dimensions = data.dimensions or Dimensions(width=template.width, height=template.height)
    check_dimensions(image.width, image.height, dimensions)
    fields = template.fields
    font_keys = template.font_keys
    fields_changed = False
    if data.fields is not None:
        sent_fields = _fields_json(data.fields)
        fields_changed = not _same_fields(sent_fields, template.fields)
        if fields_changed:
            # New fields name their fonts again: pinned afresh, families checked.
            fields = sent_fields
            choices = session_reader(session).all(
                fonts_service.FONT_CHOICES,
                account_id=principal.account_id,
                mode=str(principal.mode),
            )
            font_keys = fonts_service.pin(choices, _families(fields))
    page_size = data.page_size if "page_size" in sent else template.page_size
    draft = Draft(
        fields=fields,
        width=dimensions.width,
        height=dimensions.height,
        page_size=page_size,
        locale=data.locale or template.locale,
        language=data.language if "language" in sent else template.language,
        font_keys=font_keys,
    )
    design_changed = (
        image.key != template.image_key
        or (draft.width, draft.height) != (template.width, template.height)
        or fields_changed
        or resolved_page_size(page_size, draft.width, draft.height)
        != resolved_page_size(template.page_size, template.width, template.height)
        or (draft.locale, draft.language) != (template.locale, template.language)
        or font_keys != template.font_keys
    )
    if data.name is not None:
        template.name = data.name
    template.updated_at = utcnow()
    template.page_size = page_size  # the same page either way (else a new version below)
    if design_changed:
        validate_design(draft, store=store)
        template.image_key = image.key
        template.image_width, template.image_height = image.width, image.height
        template.width, template.height = draft.width, draft.height
        template.fields = draft.fields
        template.locale, template.language = draft.locale, draft.language
        template.font_keys = draft.font_keys
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
    """A stored version with its image and font bytes (None if a file is gone from the store)."""
    stored = store.get(version.image_key)
    fonts = _font_files(version.font_keys or (), store=store)
    if stored is None or fonts is None:
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
        page_size=_spec_page_size(version.page_size),
        locale=version.locale,
        language=version.language,
        fonts=fonts,
        legacy_fonts=version.font_keys is None,
    )


def render_spec(design: TemplateDesign) -> TemplateSpec:
    """The renderer's view of a design version (its cache key changes with the version)."""
    fields = design.fields
    if design.legacy_fonts:
        fields = tuple(replace(f, font_family=legacy_family(f.type, f.font_family)) for f in fields)
    return TemplateSpec(
        key=f"{design.template_id}:{design.version}",
        width=design.width,
        height=design.height,
        background=design.image,
        fields=fields,
        page_size=design.page_size,
        locale=design.locale,
        language=design.language,
        fonts=design.fonts,
    )


_specs: LRUCache[tuple[str, int], TemplateSpec] = LRUCache(maxsize=_SPEC_CACHE_SIZE)
_specs_lock = threading.Lock()


def version_spec(version: TemplateVersion, *, store: FileStore) -> TemplateSpec:
    """The render inputs of a stored version, built once per process (versions never change).

    Raises RenderUnavailable when its image or a pinned font is gone from the store.
    """
    key = (version.template_id, version.version)
    with _specs_lock:
        spec = _specs.get(key)
    if spec is None:
        found = design(version, store=store)
        if found is None:
            raise RenderUnavailable()
        spec = render_spec(found)
        with _specs_lock:
            _specs[key] = spec
    return spec


def spec_for(
    reader: DriverReader, *, template_id: str, version: int, store: FileStore
) -> TemplateSpec:
    """`version_spec` by (template, version); the version row is read only on a cache miss."""
    with _specs_lock:
        spec = _specs.get((template_id, version))
    if spec is not None:
        return spec
    row = reader.one(TEMPLATE_VERSION, template_id=template_id, version=version)
    if row is None:
        raise RenderUnavailable()
    return version_spec(row, store=store)


def has_logo(spec: TemplateSpec) -> bool:
    """Whether the design draws the organization's logo."""
    return any(f.type == "logo" and f.image is None for f in spec.fields)


def unrenderable(
    spec: TemplateSpec, problems: Sequence[Problem], name: Callable[[FieldSpec], str]
) -> UnrenderableValues:
    """The 422 for `check` problems, each named by `name(field)` (the value's path)."""
    fields = {f.id: f for f in spec.fields}
    errors = []
    for problem in problems:
        field = fields.get(problem.field_id)
        where = name(field) if field is not None else "template"
        message = problem.message.removeprefix(f"field {problem.field_id!r}: ")
        if problem.kind == "missing_glyphs":
            drawn = ", ".join(f"{c} (U+{ord(c):04X})" for c in problem.characters)
            message = f"no available font can draw {drawn}"
        errors.append(FieldError(where, message))
    return UnrenderableValues(errors)


def _preview_name(field: FieldSpec) -> str:
    # The query key a designer sends to try a value in this field.
    return {"name": "name", "text": field.text, "certificateId": "certificateId"}.get(
        field.type, field.type
    )


@cache
def placeholder_logo() -> bytes:
    """What previews draw in logo fields: a neutral grey square (they have no organization)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 200, 200)).save(out, format="PNG")
    return out.getvalue()


def preview(
    version: TemplateVersion,
    *,
    store: FileStore,
    url: str,
    width: int | None,
    values: Mapping[str, str] | None = None,
    cache: RenderCache | None = None,
) -> bytes:
    """A version rendered with sample values as a PNG at one of the cached widths
    (blocking: rendering).

    `values` override the samples ("name", "certificateId" or an attribute key); values the
    design cannot draw or fit are refused like at issue (UnrenderableValues, 422). Previews
    with the default samples are cached; tried values are not (they would fill the cache).
    """
    chosen = png_width(width, version.width, version.height)

    def render() -> bytes:
        spec = version_spec(version, store=store)
        data: CertificateData = sample_data(spec, url, values=values)
        if has_logo(spec):
            data = replace(data, logo=placeholder_logo())
        problems = check(spec, data)
        if problems:
            raise unrenderable(spec, problems, _preview_name)
        return render_png(spec, data, chosen)

    if cache is None or values:
        return render()
    name = f"preview-{version.template_id}-{version.version}-{chosen}.png"
    return cache.get_or_render(name, render)
