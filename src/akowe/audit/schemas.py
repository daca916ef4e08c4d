"""Audit events on the wire."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from akowe.schemas import BaseSchema, Timestamp


class AuditEventRead(BaseSchema):
    """One recorded action of the account."""

    id: str
    action: str = Field(
        description="`certificate.issued`, `.corrected`, `.revoked`, `.resent` or `.erased`."
    )
    actor: str = Field(description="`key:<key id>` (with `/sub:<email>`) or `cli:<operator>`.")
    certificate_id: str | None
    details: dict[str, Any] = Field(description="What changed; never a recipient's data.")
    address: str | None = Field(description="The client's address, when known.")
    created_at: Timestamp
