"""Templates and recipient data for rendering tests, built in memory (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from akowe.rendering import CertificateData, TemplateSpec
from tests.rendering.factories import FIELDS, HEIGHT, URL, WIDTH, photo_background


@pytest.fixture(scope="session")
def jpeg_template() -> TemplateSpec:
    """The benchmark-like template: 1600x1131, photographic JPEG background."""
    return TemplateSpec(
        "tpl-jpeg:1", WIDTH, HEIGHT, photo_background(WIDTH, HEIGHT, "JPEG"), FIELDS
    )


@pytest.fixture(scope="session")
def png_template() -> TemplateSpec:
    """The same design over a photographic PNG background."""
    return TemplateSpec("tpl-png:1", WIDTH, HEIGHT, photo_background(WIDTH, HEIGHT, "PNG"), FIELDS)


@pytest.fixture
def data() -> CertificateData:
    """A recipient with a Latin name and two attributes."""
    return CertificateData(
        certificate_id="CERT-2026-000123",
        recipient_name="Adéwálé Ògúnlẹ̀",
        issued_at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
        attributes={"course": "Advanced Typography", "grade": "Distinction"},
        verification_url=URL,
    )
