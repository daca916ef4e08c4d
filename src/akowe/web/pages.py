"""The verification page and the friendly error pages, rendered with Jinja (autoescaped).

Every value on a page comes from users (names, attributes, organization names, reasons) and
is escaped by Jinja; URLs we put in `href`/`src` are built by this service, and an
organization's website is linked only when it is an http(s) URL. The stylesheet is inline
and allowed by its hash in the Content-Security-Policy, so the page needs no other request,
runs no script and loads images only from this service.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from akowe.signing.verify import EXPIRY, INTEGRITY, ISSUER_KEY, SIGNATURE, STATUS
from akowe.verification.service import (
    EXPIRED,
    INVALID,
    REVOKED,
    TEST,
    VALID,
    WITHDRAWN,
    Report,
)

LINKEDIN_ADD: Final = "https://www.linkedin.com/profile/add"
_CSS: Final = resources.files("akowe.web").joinpath("templates", "verify.css").read_text("utf-8")
CSS_HASH: Final = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()

_env = Environment(
    loader=PackageLoader("akowe.web", "templates"),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals["css"] = Markup(_CSS)  # noqa: S704 (our own stylesheet, not user data)


@functools.cache
def content_security_policy(base_url: str) -> str:
    """No scripts, no frames, styles by hash, images from here (and the public base URL)."""
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    return (
        f"default-src 'none'; img-src 'self' {origin} data:; style-src 'sha256-{CSS_HASH}'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


@dataclass(frozen=True, slots=True)
class _Verdict:
    label: str
    css: str
    symbol: str
    summary: str


_VERDICTS: Final = {
    VALID: _Verdict(
        "VALID",
        "valid",
        "✓",
        "This certificate is genuine: it was signed by its issuer, has not been altered, "
        "has not been revoked and has not expired.",
    ),
    REVOKED: _Verdict(
        "REVOKED", "revoked", "✗", "The issuer has revoked this certificate: it is no longer valid."
    ),
    EXPIRED: _Verdict("EXPIRED", "expired", "!", "This certificate has expired."),
    TEST: _Verdict(
        "TEST",
        "test",
        "!",
        "This certificate was issued in test mode (a sandbox): it is not a real certificate.",
    ),
    INVALID: _Verdict(
        "INVALID",
        "invalid",
        "✗",
        "This certificate could not be verified: see the checks below for the reason.",
    ),
}
_CHECK_TITLES: Final = {
    SIGNATURE: "Signature",
    ISSUER_KEY: "Issuer key",
    INTEGRITY: "Integrity",
    STATUS: "Revocation status",
    EXPIRY: "Expiry",
}


def verification_page(report: Report) -> bytes:
    """The verification page of one certificate."""
    certificate = report.certificate
    if report.verdict.status == WITHDRAWN:
        return message_page(
            "Certificate withdrawn",
            "The issuer has withdrawn this certificate and erased the personal data it held: "
            "it is no longer valid.",
            f"Certificate ID: {certificate['certificateId']}",
        )
    verdict = _VERDICTS[report.verdict.status]
    if report.verdict.test and report.verdict.status != TEST:
        verdict = _Verdict(
            f"{verdict.label} (TEST)",
            verdict.css,
            verdict.symbol,
            verdict.summary + " It was issued in test mode: it is not a real certificate.",
        )
    organization = certificate["organization"]
    name = certificate["recipientName"] or "the recipient"
    achievement = certificate["achievement"] or "Certificate"
    title = f"{verdict.label}: {achievement} awarded to {name}"
    if organization.get("name"):
        description = f"{achievement}, issued by {organization['name']} to {name}."
    else:
        description = f"{achievement}, issued to {name}."
    checks = [
        {
            "title": _CHECK_TITLES.get(check.name, check.name),
            "result": "Passed"
            if check.passed and check.checked
            else ("Not checked" if check.passed else "Failed"),
            "css": "pass"
            if check.passed and check.checked
            else ("skip" if check.passed else "fail"),
            "message": check.message,
        }
        for check in report.verdict.checks
    ]
    issuer = report.document.get("issuer")
    html = _env.get_template("verify.html").render(
        title=title,
        description=description + " " + verdict.summary,
        certificate=certificate,
        organization=organization,
        website=_http_url(organization.get("website")),
        verdict=verdict,
        checks=checks,
        attributes=attributes_of(report.document),
        issued_on=_date(certificate["issuedAt"]),
        expires_on=_date(certificate["expiresAt"]),
        revoked_on=_date(certificate["revokedAt"]),
        corrected_on=_date(certificate.get("correctedAt")),
        image_alt=f"The certificate awarded to {name}: {achievement}",
        linkedin_url=linkedin_url(certificate) if report.verdict.valid else None,
        issuer_did=issuer.get("id") if isinstance(issuer, dict) else issuer,
    )
    return html.encode()


def message_page(heading: str, *paragraphs: str) -> bytes:
    """A friendly page for "not found" and errors."""
    html = _env.get_template("message.html").render(
        title=heading, heading=heading, paragraphs=paragraphs
    )
    return html.encode()


def not_found_page() -> bytes:
    """The page for an unknown or malformed certificate id."""
    return message_page(
        "Certificate not found",
        "We could not find a certificate at this address. The link may be incomplete or "
        "mistyped: check it against the certificate.",
        "A certificate that was issued here always has a page at this address, even after it "
        "is revoked or expires.",
    )


def linkedin_url(certificate: dict[str, Any]) -> str:
    """LinkedIn's "Add licence or certification" link, prefilled from the certificate."""
    params: dict[str, str] = {
        "startTask": "CERTIFICATION_NAME",
        "name": certificate["achievement"] or "Certificate",
        "organizationName": certificate["organization"].get("name") or "",
    }
    issued = _moment(certificate["issuedAt"])
    if issued is not None:
        params["issueYear"], params["issueMonth"] = str(issued.year), str(issued.month)
    expires = _moment(certificate["expiresAt"])
    if expires is not None:
        params["expirationYear"], params["expirationMonth"] = str(expires.year), str(expires.month)
    params["certUrl"] = certificate["verificationUrl"]
    params["certId"] = certificate["certificateId"]
    return f"{LINKEDIN_ADD}?{urlencode(params)}"


def attributes_of(document: dict[str, Any]) -> list[tuple[str, str]]:
    """The credential's attributes (OB 3.0 results named by their result descriptions)."""
    subject = document.get("credentialSubject")
    if not isinstance(subject, dict):
        return []
    achievement = subject.get("achievement")
    descriptions = achievement.get("resultDescription") if isinstance(achievement, dict) else None
    names = {
        item.get("id"): item.get("name")
        for item in descriptions or []
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }
    out = []
    for result in subject.get("result") or []:
        if isinstance(result, dict) and isinstance(result.get("value"), str):
            name = names.get(result.get("resultDescription"))
            if name:
                out.append((name, result["value"]))
    return out


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _date(value: str | None) -> str:
    moment = _moment(value)
    return f"{moment.day} {moment:%B %Y}" if moment is not None else ""


def _http_url(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    candidate = value if "://" in value else f"https://{value}"
    return candidate if urlsplit(candidate).scheme in ("http", "https") else None
