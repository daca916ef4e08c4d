"""Never issue missing text: before any credit is spent, the design must draw the values.

`check_drawable` runs the renderer's `check` on the recipient's values with the template
version's render inputs (built once per process and version, see
`akowe.templates.service.spec_for`), so a name in a script no font covers, or one too long
for its box, is refused with 422 `unrenderable_text` and nothing is recorded or charged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from akowe.certificates.schemas import IssueRequest
from akowe.db.statements import DriverReader
from akowe.errors import FieldError
from akowe.organizations import service as organizations_service
from akowe.organizations.models import Organization
from akowe.rendering import CertificateData, FieldSpec, TemplateSpec, check
from akowe.rendering.check import Memo
from akowe.storage.store import FileStore
from akowe.templates import service as templates_service
from akowe.templates.exceptions import UnrenderableValues
from akowe.templates.models import Template

# The certificate's id is made when it is recorded; the check lays out the widest one a
# version 4 UUID can be in the bundled fonts ("d" is their widest hex digit).
WIDEST_ID = "dddddddd-dddd-4ddd-bddd-dddddddddddd"


def value_name(field: FieldSpec) -> str:
    """Where the value a field draws comes from, as the issue request names it."""
    if field.type == "name":
        return "recipientData.name"
    if field.type == "text":
        return f"recipientData.attributes.{field.text}"
    return field.type  # "date", "certificateId": drawn from the certificate itself


def check_drawable(
    reader: DriverReader,
    *,
    template: Template,
    organization: Organization,
    data: IssueRequest,
    store: FileStore,
    issued_at: datetime,
) -> None:
    """Refuse (UnrenderableValues, 422) values this template version cannot draw as designed:
    characters no available font has, text that does not fit its box, or a logo field for an
    organization without a PNG, JPEG or WebP logo. Blocking (reads the store on a miss)."""
    check_values(
        design_of(reader, template=template, organization=organization, store=store),
        data=data,
        issued_at=issued_at,
    )


@dataclass(frozen=True, slots=True)
class Design:
    """What the drawability check needs of a template version and its organization: plain
    data, so that worker processes can check values too (akowe.processes)."""

    spec: TemplateSpec
    logo_missing: bool  # the design draws a logo the organization does not have


def design_of(
    reader: DriverReader, *, template: Template, organization: Organization, store: FileStore
) -> Design:
    """The template version's render inputs (built once per process and version) and whether
    its logo field can be drawn. Blocking (reads the store on a miss)."""
    spec = templates_service.spec_for(
        reader, template_id=template.id, version=template.version, store=store
    )
    logo_missing = templates_service.has_logo(spec) and not organizations_service.can_draw_logo(
        organization.logo_key
    )
    return Design(spec, logo_missing)


def check_values(
    design: Design, *, data: IssueRequest, issued_at: datetime, memo: Memo | None = None
) -> None:
    """`check_drawable` on a design already read: no database or store (any process).
    `memo`: what earlier checks against this design found (akowe.rendering.check.Memo)."""
    if design.logo_missing:
        raise UnrenderableValues(
            [
                FieldError(
                    "organizationId",
                    "the template draws the organization's logo, and this organization has "
                    "no PNG, JPEG or WebP logo (SVG logos are not drawn on certificates)",
                )
            ]
        )
    values = CertificateData(
        certificate_id=WIDEST_ID,
        recipient_name=data.recipient_data.name,
        issued_at=issued_at,
        attributes=data.recipient_data.attributes,
        verification_url="",
    )
    problems = check(design.spec, values, memo=memo)
    if problems:
        raise templates_service.unrenderable(design.spec, problems, value_name)
