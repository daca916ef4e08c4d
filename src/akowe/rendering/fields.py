"""What each field draws for one certificate, and sample data for previews."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, date, datetime

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date

from akowe.rendering.model import CertificateData, FieldSpec, TemplateSpec

FIELD_TYPES = frozenset(("name", "date", "text", "qr", "certificateId", "logo"))
TEXT_FIELD_TYPES = frozenset(("name", "date", "text", "certificateId"))
ALIGNMENTS = frozenset(("left", "center", "right"))
VERTICAL_ALIGNMENTS = frozenset(("top", "middle", "bottom"))
DATE_FORMATS = frozenset(("short", "medium", "long", "full"))
SAMPLE_NAME = "Jane Doe"
SAMPLE_CERTIFICATE_ID = "SAMPLE-0000-0000"
# English keeps the day-month-year form certificates have always had ("25 November 2026").
_ENGLISH_PATTERN = "d MMMM y"


@functools.lru_cache(maxsize=256)
def parse_locale(locale: str) -> Locale:
    """A Babel locale from "fr", "pt-BR" or "pt_BR"; raises ValueError for unknown ones."""
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown locale {locale!r}") from exc


def is_known_locale(locale: str) -> bool:
    """True when Babel (CLDR) has data for `locale`."""
    try:
        parse_locale(locale)
    except ValueError:
        return False
    return True


def format_date(issued_at: datetime, fmt: str = "", locale: str = "en") -> str:
    """Format the issue date in `locale` ("25 November 2026" in English, the CLDR long form
    elsewhere); `fmt` may be a strftime format (with "%"), a CLDR pattern or a CLDR length."""
    day = issued_at.astimezone(UTC) if issued_at.tzinfo else issued_at
    if "%" in fmt:
        return day.strftime(fmt)
    return _cldr_date(day.date(), fmt, locale)


@functools.lru_cache(maxsize=1024)
def _cldr_date(day: date, fmt: str, locale: str) -> str:
    # The same day in the same format for every certificate of the day: formatted once.
    where = parse_locale(locale)
    if not fmt:
        fmt = _ENGLISH_PATTERN if where.language == "en" else "long"
    return str(babel_format_date(day, format=fmt, locale=where))


def field_text(field: FieldSpec, data: CertificateData, locale: str = "en") -> str:
    """Return what a text field draws ("" draws nothing), whitespace collapsed."""
    if field.type == "name":
        value = data.recipient_name
    elif field.type == "date":
        value = format_date(data.issued_at, field.text, locale)
    elif field.type == "certificateId":
        value = data.certificate_id
    elif field.type == "text":
        value = data.attributes.get(field.text, "")
    else:
        raise ValueError(f"field {field.id!r} has no text: type {field.type!r}")
    # Newlines and runs of spaces would only misplace the alignment; wrapping is the box's job.
    return " ".join(value.split())


def sample_data(
    template: TemplateSpec,
    verification_url: str,
    issued_at: datetime | None = None,
    values: Mapping[str, str] | None = None,
) -> CertificateData:
    """Sample values for a preview: "Jane Doe", each text field's key as its value, today.

    `values` overrides them: "name" sets the recipient name, "certificateId" the id, any other
    key the attribute of that name (so the longest expected name can be tried before issuing).
    """
    values = dict(values or {})
    attributes = {f.text: f.text for f in template.fields if f.type == "text" and f.text}
    name = values.pop("name", SAMPLE_NAME)
    certificate_id = values.pop("certificateId", SAMPLE_CERTIFICATE_ID)
    attributes.update(values)
    return CertificateData(
        certificate_id=certificate_id,
        recipient_name=name,
        issued_at=issued_at or datetime.now(UTC),
        attributes=attributes,
        verification_url=verification_url,
    )
