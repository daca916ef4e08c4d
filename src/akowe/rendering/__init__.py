"""Certificate rendering: (template, recipient data) -> PDF or PNG bytes. Pure; no database."""

from akowe.rendering.check import check, check_template, unknown_families
from akowe.rendering.fields import (
    ALIGNMENTS,
    FIELD_TYPES,
    VERTICAL_ALIGNMENTS,
    format_date,
    is_known_locale,
    sample_data,
)
from akowe.rendering.fonts import FontError, FontInfo, bundled_families, inspect_font
from akowe.rendering.layout import Problem
from akowe.rendering.model import Attachment, CertificateData, FieldSpec, TemplateSpec
from akowe.rendering.page import PAGE_SIZES, default_page_size, is_valid_page_size
from akowe.rendering.pdf import UnrenderableText, render_pdf
from akowe.rendering.raster import render_png

__all__ = [
    "ALIGNMENTS",
    "FIELD_TYPES",
    "PAGE_SIZES",
    "VERTICAL_ALIGNMENTS",
    "Attachment",
    "CertificateData",
    "FieldSpec",
    "FontError",
    "FontInfo",
    "Problem",
    "TemplateSpec",
    "UnrenderableText",
    "bundled_families",
    "check",
    "check_template",
    "default_page_size",
    "format_date",
    "inspect_font",
    "is_known_locale",
    "is_valid_page_size",
    "render_pdf",
    "render_png",
    "sample_data",
    "unknown_families",
]
