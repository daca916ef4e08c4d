"""What each field draws for one certificate, and sample data for previews."""

from __future__ import annotations

from datetime import UTC, datetime

from akowe.rendering.model import CertificateData, FieldSpec, TemplateSpec

FIELD_TYPES = frozenset(("name", "date", "text", "qr", "certificateId"))
ALIGNMENTS = frozenset(("left", "center", "right"))

# English month names, so output does not depend on the process locale.
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
SAMPLE_NAME = "Jane Doe"
SAMPLE_CERTIFICATE_ID = "SAMPLE-0000-0000"


def format_date(issued_at: datetime, fmt: str = "") -> str:
    """Format the issue date as "25 November 2026", or with `fmt` when it is a strftime format."""
    day = issued_at.astimezone(UTC) if issued_at.tzinfo else issued_at
    if "%" in fmt:
        return day.strftime(fmt)
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def field_text(field: FieldSpec, data: CertificateData) -> str:
    """Return the single line a text field draws ("" draws nothing)."""
    if field.type == "name":
        value = data.recipient_name
    elif field.type == "date":
        value = format_date(data.issued_at, field.text)
    elif field.type == "certificateId":
        value = data.certificate_id
    elif field.type == "text":
        value = data.attributes.get(field.text, "")
    else:
        raise ValueError(f"field {field.id!r} has no text: type {field.type!r}")
    # One line per field: newlines and runs of spaces would only misplace the alignment.
    return " ".join(value.split())


def sample_data(
    template: TemplateSpec, verification_url: str, issued_at: datetime | None = None
) -> CertificateData:
    """Return sample values for a preview: "Jane Doe", each text field's key as its value, today."""
    attributes = {f.text: f.text for f in template.fields if f.type == "text" and f.text}
    return CertificateData(
        certificate_id=SAMPLE_CERTIFICATE_ID,
        recipient_name=SAMPLE_NAME,
        issued_at=issued_at or datetime.now(UTC),
        attributes=attributes,
        verification_url=verification_url,
    )
