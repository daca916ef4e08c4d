"""Verification answers on the wire (documenting the dicts `verification.service` builds)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from akowe.schemas import BaseSchema, RequestSchema


class CheckRead(BaseSchema):
    """One named check: `integrity`, `signature`, `issuer key`, `status` or `expiry`."""

    name: Literal["integrity", "signature", "issuer key", "status", "expiry"]
    passed: bool
    message: str = Field(description="What was checked, or why it failed.")


class PublicOrganizationRead(BaseSchema):
    """The issuing organization as the certificate records it."""

    name: str | None
    website: str | None
    logo: str | None = Field(description="URL of the logo.")


class PublicCertificateRead(BaseSchema):
    """What anyone may see of a certificate (never the recipient's email address).

    For an uploaded document these come from the document itself; the links are given only
    for this service's own certificates.
    """

    certificate_id: str | None
    recipient_name: str | None
    achievement: str | None
    organization: PublicOrganizationRead
    issued_at: str | None
    expires_at: str | None
    status: Literal["issued", "revoked", "expired", "erased"]
    revoked_at: str | None
    revocation_reason: str | None
    test: bool
    verification_url: str | None
    credential_url: str | None
    pdf_url: str | None
    image_url: str | None
    revision: int | None = Field(
        default=None, description="This service's certificates: 1, plus one per correction."
    )
    corrected_at: str | None = Field(default=None, description="When it was last corrected.")


class VerificationRead(BaseSchema):
    """A verdict: `valid` only when every check passed and the issuer is not in test mode."""

    valid: bool
    status: Literal["valid", "revoked", "expired", "invalid", "test", "withdrawn"] = Field(
        description="`test`: a sound credential of a test-mode (sandbox) organization; "
        "`withdrawn`: the issuer erased it (its recipient's data is gone)."
    )
    test: bool = Field(description="Issued in test mode: never a real certificate.")
    checks: list[CheckRead]
    certificate: PublicCertificateRead


class VcIssueRequest(RequestSchema):
    """VC-API `/credentials/issue`: the unsigned credential naming one of your test-mode
    organizations' DIDs as `issuer`."""

    credential: dict[str, Any]
    options: dict[str, Any] | None = None


class VcIssued(BaseSchema):
    """The credential with its `DataIntegrityProof` (`eddsa-rdfc-2022`)."""

    verifiable_credential: dict[str, Any]


class VcVerifyRequest(RequestSchema):
    """VC-API `/credentials/verify`: a signed credential."""

    verifiable_credential: dict[str, Any]
    options: dict[str, Any] | None = None


class VcVerified(BaseSchema):
    """VC-API verification result (200 when verified, 400 when not)."""

    verified: bool
    checks: list[str] = Field(description="Checks that ran and passed.")
    warnings: list[str]
    errors: list[str] = Field(description="`check: reason` for each failed check.")
