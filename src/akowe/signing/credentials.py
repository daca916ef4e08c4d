"""Open Badges 3.0 `OpenBadgeCredential` documents (W3C VC Data Model 2.0), built from plain data.

Attributes (the issue request's `recipientData.attributes`, e.g. `{"Grade": "Excellent"}`) are
expressed with terms the Open Badges 3.0 context defines, never with invented ones: each key
becomes a `ResultDescription` on the achievement (`name` = the key, `resultType` = `Result`,
id `<achievement id>#attribute-<key>`), and each value a `Result` in the subject's `result`
(`value` = the value, `resultDescription` = that id). This is how OB 3.0 records "what was
achieved, measured how" (a grade, a course name, a score), and every verifier that knows OB 3.0
can show key and value side by side.

The recipient is identified by name and by a salted SHA-256 of their email address
(`IdentityObject`, `identityHash` = `sha256$<hex of sha256(email + salt)>`, per OB 3.0 section
"IdentityObject"); the address itself never appears. Recipient-supplied text has its control
characters removed (see `canon.strip_control_characters`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from akowe.signing.canon import strip_control_characters
from akowe.signing.exceptions import SigningInputError
from akowe.signing.loader import OB_V3P0, VC_V2

CREDENTIAL_CONTEXT: Final = (VC_V2, OB_V3P0)
CREDENTIAL_TYPE: Final = ("VerifiableCredential", "OpenBadgeCredential")


@dataclass(frozen=True, slots=True)
class IssuerProfile:
    """The issuing organization as it was at issue time."""

    did: str
    name: str
    url: str | None = None
    email: str | None = None
    image: str | None = None


@dataclass(frozen=True, slots=True)
class AchievementInfo:
    """What the certificate attests (from the template)."""

    id: str
    name: str
    description: str | None = None
    criteria_narrative: str | None = None
    image: str | None = None


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """Where the credential's revocation bit lives."""

    status_list_credential: str
    index: int
    purpose: str = "revocation"


def new_salt() -> str:
    """A random salt for an identity hash (store it with the certificate)."""
    return secrets.token_hex(16)


def identity_hash(email: str, salt: str) -> str:
    """OB 3.0 `identityHash` of an email address: `sha256$` + hex SHA-256 of (email + salt)."""
    normalized = email.strip().lower()
    return "sha256$" + hashlib.sha256((normalized + salt).encode("utf-8")).hexdigest()


def format_datetime(moment: datetime) -> str:
    """An XSD dateTime in UTC with second precision, e.g. `2026-01-31T09:30:00Z`."""
    if moment.tzinfo is None:
        raise SigningInputError("Datetimes in credentials must be timezone-aware.")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_credential(
    *,
    credential_id: str,
    issuer: IssuerProfile,
    achievement: AchievementInfo,
    recipient_name: str,
    recipient_email: str | None,
    salt: str,
    valid_from: datetime,
    valid_until: datetime | None = None,
    attributes: Mapping[str, str] | None = None,
    status: StatusEntry | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """An unsigned OpenBadgeCredential; sign it with `proofs.sign`."""
    if valid_until is not None and valid_until < valid_from:
        raise SigningInputError("validUntil is before validFrom.")
    attributes = {
        strip_control_characters(key): strip_control_characters(value)
        for key, value in (attributes or {}).items()
    }
    achievement_doc: dict[str, Any] = {
        "id": achievement.id,
        "type": ["Achievement"],
        "name": achievement.name,
    }
    if achievement.description:
        achievement_doc["description"] = achievement.description
    # OB 3.0 requires criteria; an empty narrative is not allowed, so fall back to the name.
    achievement_doc["criteria"] = {"narrative": achievement.criteria_narrative or achievement.name}
    if achievement.image:
        achievement_doc["image"] = {"id": achievement.image, "type": "Image"}
    subject: dict[str, Any] = {
        "type": ["AchievementSubject"],
        "name": strip_control_characters(recipient_name),
    }
    # A certificate may be issued without an email; then the name alone identifies.
    if recipient_email:
        subject["identifier"] = [
            {
                "type": "IdentityObject",
                "identityHash": identity_hash(recipient_email, salt),
                "identityType": "emailAddress",
                "hashed": True,
                "salt": salt,
            }
        ]
    subject["achievement"] = achievement_doc
    if attributes:
        descriptions = []
        results = []
        for key, value in attributes.items():
            description_id = f"{achievement.id}#attribute-{quote(key, safe='')}"
            descriptions.append(
                {
                    "id": description_id,
                    "type": ["ResultDescription"],
                    "name": key,
                    "resultType": "Result",
                }
            )
            results.append(
                {"type": ["Result"], "resultDescription": description_id, "value": value}
            )
        achievement_doc["resultDescription"] = descriptions
        subject["result"] = results

    credential: dict[str, Any] = {
        "@context": list(CREDENTIAL_CONTEXT),
        "id": credential_id,
        "type": list(CREDENTIAL_TYPE),
        "name": name or achievement.name,
        "issuer": issuer_profile(issuer),
        "validFrom": format_datetime(valid_from),
        "awardedDate": format_datetime(valid_from),
        "credentialSubject": subject,
    }
    if valid_until is not None:
        credential["validUntil"] = format_datetime(valid_until)
    if status is not None:
        credential["credentialStatus"] = status_entry(status)
    return credential


def issuer_profile(issuer: IssuerProfile) -> dict[str, Any]:
    """The OB 3.0 `Profile` of an issuer, its id the organization's DID."""
    profile: dict[str, Any] = {"id": issuer.did, "type": ["Profile"], "name": issuer.name}
    if issuer.url:
        profile["url"] = issuer.url
    if issuer.email:
        profile["email"] = issuer.email
    if issuer.image:
        profile["image"] = {"id": issuer.image, "type": "Image"}
    return profile


def status_entry(status: StatusEntry) -> dict[str, Any]:
    """A `BitstringStatusListEntry` pointing at bit `index` of a status list credential."""
    if status.index < 0:
        raise SigningInputError("A status list index cannot be negative.")
    return {
        "id": f"{status.status_list_credential}#{status.index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": status.purpose,
        "statusListIndex": str(status.index),
        "statusListCredential": status.status_list_credential,
    }
