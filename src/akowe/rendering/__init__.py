"""Certificate rendering: (template, recipient data) -> PDF or PNG bytes. Pure; no database."""

from akowe.rendering.fields import ALIGNMENTS, FIELD_TYPES, format_date, sample_data
from akowe.rendering.model import CertificateData, FieldSpec, TemplateSpec
from akowe.rendering.pdf import render_pdf
from akowe.rendering.raster import render_png

__all__ = [
    "ALIGNMENTS",
    "FIELD_TYPES",
    "CertificateData",
    "FieldSpec",
    "TemplateSpec",
    "format_date",
    "render_pdf",
    "render_png",
    "sample_data",
]
