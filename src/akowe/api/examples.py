"""Realistic examples for the API docs: one per documented body, keyed by its model.

Swagger UI builds its sample requests and responses from these (a schema without one shows
`"string"` and `additionalProp1`). `tests/test_docs_examples.py` validates each against its
model, so an example cannot drift from what the service accepts and answers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from akowe import __version__
from akowe.audit.schemas import AuditEventRead
from akowe.certificates.schemas import (
    CertificateRead,
    CorrectionRequest,
    IssueRequest,
    MailData,
    RecipientData,
    RevokeRequest,
)
from akowe.delivery.schemas import (
    DeliveryRead,
    MessageRead,
    ResendRequest,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
)
from akowe.fonts.schemas import FontRead
from akowe.jobs.schemas import (
    BulkOptions,
    BulkRecipient,
    BulkReport,
    BulkRequest,
    JobCounts,
    JobRead,
    JobRowRead,
    RowError,
)
from akowe.organizations.schemas import OrganizationCreate, OrganizationRead, OrganizationUpdate
from akowe.schemas import ErrorItem
from akowe.templates.schemas import (
    Dimensions,
    FieldIn,
    FieldRead,
    PageSizeMm,
    TemplateCreate,
    TemplateRead,
    TemplateUpdate,
    TemplateWarning,
)
from akowe.verification.schemas import (
    CheckRead,
    PublicCertificateRead,
    PublicOrganizationRead,
    VcIssued,
    VcIssueRequest,
    VcVerified,
    VcVerifyRequest,
    VerificationRead,
)

BASE = "https://certificates.lagos-academy.example"
ORGANIZATION_ID = "ae08808f-85e5-4444-92ca-304a07531f3b"
TEMPLATE_ID = "777e143a-f685-48da-bc8d-39105b8336c0"
CERTIFICATE_ID = "5b0f6c2e-8d1a-4f3b-9c7e-2a4d6e8f0b13"
MESSAGE_ID = "c2d4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f"
WEBHOOK_ID = "0e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b"
FIELD_IDS = (
    "1c8e3f40-2b6d-4a9e-8f1c-3d5e7a9b1c2d",
    "2d9f4051-3c7e-4baf-9021-4e6f8bac2d3e",
    "3ea05162-4d8f-4cb0-a132-5f709cbd3e4f",
)
CREATED_AT = "2025-09-24T18:23:43.621Z"
SENT_AT = "2025-09-24T18:23:45.108Z"
JOB_ID = "9f1e2d3c-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
ROW_ERROR = {
    "row": 7,
    "column": "E-mail",
    "code": "invalid_email",
    "message": "value is not a valid email address: An email address must have an @-sign.",
}
JOB_COUNTS = {
    "total": 250,
    "valid": 249,
    "issued": 180,
    "failed": 1,
    "skipped": 0,
    "cancelled": 0,
    "remaining": 69,
}
JOB = {
    "jobId": JOB_ID,
    "kind": "bulk_issue",
    "status": "running",
    "organizationId": ORGANIZATION_ID,
    "templateId": TEMPLATE_ID,
    "counts": JOB_COUNTS,
    "progress": 0.724,
    "createdAt": CREATED_AT,
    "startedAt": SENT_AT,
    "finishedAt": None,
    "fileName": "class-of-2025.csv",
    "subAccountEmail": None,
    "test": False,
}
BULK_RECIPIENT = {
    "name": "Amina Bello",
    "email": "amina.bello@example.com",
    "attributes": {"Course Name": "Machine Learning", "Grade": "Excellent"},
}
RECIPIENT = {
    "name": "John Doe",
    "email": "john@example.com",
    "attributes": {"Course Name": "Machine Learning", "Grade": "Excellent"},
}
DIMENSIONS = {"width": 1600, "height": 1131}
# Three fields of a diploma: the recipient's name, an attribute, and the QR code (whose
# `fontSize` is the side of the square, centred on x, y).
FIELDS_IN: list[dict[str, Any]] = [
    {
        "type": "name",
        "fontSize": 64,
        "fontFamily": "Noto Serif",
        "color": "#1f2a44",
        "isBold": True,
        "alignment": "center",
        "x": 50,
        "y": 45,
        "width": 70,
        "maxLines": 2,
        "minFontSize": 40,
    },
    {
        "type": "text",
        "text": "Course Name",
        "fontSize": 32,
        "color": "#333333",
        "alignment": "center",
        "x": 50,
        "y": 58,
    },
    {"type": "qr", "fontSize": 150, "x": 88, "y": 80},
]
FIELDS_READ: list[dict[str, Any]] = [
    {
        "id": FIELD_IDS[0],
        "type": "name",
        "text": "",
        "fontSize": 64,
        "fontFamily": "Noto Serif",
        "color": "#1f2a44",
        "isBold": True,
        "isItalic": False,
        "alignment": "center",
        "x": 50,
        "y": 45,
        "width": 70,
        "maxLines": 2,
        "minFontSize": 40,
        "verticalAlignment": "middle",
        "language": None,
    },
    {
        "id": FIELD_IDS[1],
        "type": "text",
        "text": "Course Name",
        "fontSize": 32,
        "fontFamily": "Noto Sans",
        "color": "#333333",
        "isBold": False,
        "isItalic": False,
        "alignment": "center",
        "x": 50,
        "y": 58,
        "width": None,
        "maxLines": 1,
        "minFontSize": None,
        "verticalAlignment": "middle",
        "language": None,
    },
    {
        "id": FIELD_IDS[2],
        "type": "qr",
        "text": "",
        "fontSize": 150,
        "fontFamily": "Noto Sans",
        "color": "#000000",
        "isBold": False,
        "isItalic": False,
        "alignment": "center",
        "x": 88,
        "y": 80,
        "width": None,
        "maxLines": 1,
        "minFontSize": None,
        "verticalAlignment": "middle",
        "language": None,
    },
]
# A 1x1 PNG: a real logo's data URI carries the whole image.
PNG_DATA_URI = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH"
    "/iZk9HQAAAABJRU5ErkJggg=="
)
DELIVERY = {"status": "sent", "attempts": 1, "lastError": None, "sentAt": SENT_AT}
ORGANIZATION = {
    "id": ORGANIZATION_ID,
    "name": "Lagos Academy",
    "website": "https://lagos-academy.example",
    "email": "registrar@lagos-academy.example",
    "phone": "+234 1 234 5678",
    "logo": f"{BASE}/files/4b7c1e9a0d2f.png",
    "createdAt": CREATED_AT,
}
WEBHOOK = {
    "id": WEBHOOK_ID,
    "url": "https://hooks.lagos-academy.example/akowe",
    "events": ["certificate.issued", "certificate.delivered", "certificate.delivery_failed"],
    "description": "Student records system",
    "test": False,
    "createdAt": CREATED_AT,
}

CHECKS = [
    {"name": "integrity", "passed": True, "message": "The credential is well formed."},
    {
        "name": "signature",
        "passed": True,
        "message": "The eddsa-rdfc-2022 proof matches the credential.",
    },
    {
        "name": "issuer key",
        "passed": True,
        "message": "The key is listed in the issuer's DID document.",
    },
    {"name": "status", "passed": True, "message": "Not revoked."},
    {"name": "expiry", "passed": True, "message": "Does not expire."},
]
PUBLIC_ORGANIZATION = {
    "name": "Lagos Academy",
    "website": "https://lagos-academy.example",
    "logo": "https://lagos-academy.example/logo.png",
}
PUBLIC_CERTIFICATE = {
    "certificateId": CERTIFICATE_ID,
    "recipientName": "John Doe",
    "achievement": "Machine Learning Certificate",
    "organization": PUBLIC_ORGANIZATION,
    "issuedAt": CREATED_AT,
    "expiresAt": None,
    "status": "issued",
    "revokedAt": None,
    "revocationReason": None,
    "test": False,
    "verificationUrl": f"{BASE}/verify/{CERTIFICATE_ID}",
    "credentialUrl": f"{BASE}/api/public/certificates/{CERTIFICATE_ID}/credential",
    "pdfUrl": f"{BASE}/api/public/certificates/{CERTIFICATE_ID}/pdf",
    "imageUrl": f"{BASE}/api/public/certificates/{CERTIFICATE_ID}/image.png",
    "revision": 1,
    "correctedAt": None,
}
TEST_DID = f"did:web:certificates.lagos-academy.example:test:orgs:{ORGANIZATION_ID}"
VC_CREDENTIAL: dict[str, Any] = {
    "@context": [
        "https://www.w3.org/ns/credentials/v2",
        "https://www.w3.org/ns/credentials/examples/v2",
    ],
    "type": ["VerifiableCredential"],
    "issuer": TEST_DID,
    "validFrom": "2025-09-24T18:23:43Z",
    "credentialSubject": {"id": "did:example:ebfeb1f712ebc6f1c276e12ec21", "name": "John Doe"},
}
VC_SIGNED: dict[str, Any] = {
    **VC_CREDENTIAL,
    "proof": {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2025-09-24T18:23:44Z",
        "verificationMethod": f"{TEST_DID}#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
        "proofPurpose": "assertionMethod",
        "proofValue": "z3FXQjecWufY46yg5abdVZsXqLhxhueuSoZgNSARiKBk9czhSePTFehP8c3PGfb6a22gkfUKKBZ"
        "rpSKdv8Pj2dArEJ",
    },
}
LIVE_DID = f"did:web:certificates.lagos-academy.example:orgs:{ORGANIZATION_ID}"
KEY = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
DID_DOCUMENT: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
    "id": LIVE_DID,
    "verificationMethod": [
        {
            "id": f"{LIVE_DID}#{KEY}",
            "type": "Multikey",
            "controller": LIVE_DID,
            "publicKeyMultibase": KEY,
        }
    ],
    "assertionMethod": [f"{LIVE_DID}#{KEY}"],
}
STATUS_LIST: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/credentials/v2"],
    "id": f"{BASE}/api/public/status-lists/0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
    "type": ["VerifiableCredential", "BitstringStatusListCredential"],
    "issuer": LIVE_DID,
    "validFrom": "2025-09-24T18:23:43Z",
    "credentialSubject": {
        "id": f"{BASE}/api/public/status-lists/0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e#list",
        "type": "BitstringStatusList",
        "statusPurpose": "revocation",
        "encodedList": "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA",
        "ttl": 300000,
    },
    "proof": {**VC_SIGNED["proof"], "verificationMethod": f"{LIVE_DID}#{KEY}"},
}
EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    RecipientData: RECIPIENT,
    MailData: {
        "templateId": TEMPLATE_ID,
        "subject": "Your certificate, {{name}}",
        "body": "Congratulations on completing {{Course Name}}! Verify it at {{verificationUrl}}",
    },
    IssueRequest: {
        "recipientData": RECIPIENT,
        "organizationId": ORGANIZATION_ID,
        "mailData": {
            "templateId": TEMPLATE_ID,
            "subject": "Your certificate, {{name}}",
            "body": "Congratulations on completing {{Course Name}}! "
            "Verify it at {{verificationUrl}}",
        },
    },
    RevokeRequest: {"reason": "Issued to the wrong student"},
    CorrectionRequest: {
        "name": "Adéwálé Ògúnlé",
        "attributes": {"Course Name": "Machine Learning", "Grade": "Distinction"},
        "notify": True,
    },
    AuditEventRead: {
        "id": "4f1e2d3c-5b6a-4789-8a9b-0c1d2e3f4a5b",
        "action": "certificate.corrected",
        "actor": "key:f512814e-9a17-4a67-a567-54f02d5c7317",
        "certificateId": CERTIFICATE_ID,
        "details": {"fields": ["name", "attributes"], "revision": 2},
        "address": "203.0.113.7",
        "createdAt": SENT_AT,
    },
    DeliveryRead: DELIVERY,
    CertificateRead: {
        "certificateId": CERTIFICATE_ID,
        "recipientName": "John Doe",
        "recipientEmail": "john@example.com",
        "organizationId": ORGANIZATION_ID,
        "templateId": TEMPLATE_ID,
        "attributes": {"Course Name": "Machine Learning", "Grade": "Excellent"},
        "status": "issued",
        "issuedAt": CREATED_AT,
        "verificationUrl": f"{BASE}/verify/{CERTIFICATE_ID}",
        "pdfUrl": f"{BASE}/api/certificates/{CERTIFICATE_ID}/pdf",
        "emailStatus": "sent",
        "templateVersion": 1,
        "subAccountEmail": None,
        "test": False,
        "revokedAt": None,
        "revocationReason": None,
        "delivery": DELIVERY,
        "revision": 1,
        "correctedAt": None,
        "erasedAt": None,
    },
    MessageRead: {
        "id": MESSAGE_ID,
        "status": "captured",
        "to": "john@example.com",
        "attempts": 1,
        "lastError": None,
        "createdAt": CREATED_AT,
        "sentAt": SENT_AT,
        "messageId": f"<{MESSAGE_ID}@lagos-academy.example>",
        "subject": "Your certificate, John Doe",
        "text": "Congratulations on completing Machine Learning! Verify it at "
        f"{BASE}/verify/{CERTIFICATE_ID}\n",
        "html": "<!doctype html><html>...</html>",
    },
    ResendRequest: {"email": "john.doe@example.org"},
    WebhookCreate: {
        "url": "https://hooks.lagos-academy.example/akowe",
        "events": ["certificate.issued", "certificate.delivered", "certificate.delivery_failed"],
        "description": "Student records system",
    },
    WebhookRead: WEBHOOK,
    WebhookCreated: {**WEBHOOK, "secret": "whsec_Zq3Fh8kP2mX9vN4rT7yB1cW6dL0sJ5gA8eU3iO2pQ7x"},
    OrganizationCreate: {
        "name": "Lagos Academy",
        "website": "https://lagos-academy.example",
        "email": "registrar@lagos-academy.example",
        "phone": "+234 1 234 5678",
        "logo": PNG_DATA_URI,
    },
    OrganizationUpdate: {"phone": "+234 1 234 9999"},
    OrganizationRead: ORGANIZATION,
    Dimensions: DIMENSIONS,
    FieldIn: FIELDS_IN[1],
    FieldRead: FIELDS_READ[1],
    TemplateCreate: {
        "name": "Diploma",
        "imageUrl": "https://lagos-academy.example/designs/diploma.png",
        "dimensions": DIMENSIONS,
        "fields": FIELDS_IN,
        "pageSize": "A4-landscape",
        "locale": "en",
    },
    TemplateUpdate: {"name": "Diploma (2026)"},
    TemplateRead: {
        "id": TEMPLATE_ID,
        "name": "Diploma",
        "imageUrl": f"{BASE}/files/9c3e5a7b1d2f.png",
        "fields": FIELDS_READ,
        "dimensions": DIMENSIONS,
        "subAccountEmail": None,
        "createdAt": CREATED_AT,
        "updatedAt": CREATED_AT,
        "version": 1,
        "pageSize": "A4-landscape",
        "locale": "en",
        "language": None,
        "warnings": [],
    },
    PageSizeMm: {"widthMm": 297, "heightMm": 210},
    TemplateWarning: {
        "field": "fields.0.fontFamily",
        "message": "'Garamond' is not an available family: drawn with Noto Serif",
    },
    FontRead: {
        "id": "5b2d7c1e-8f3a-4e6b-9c0d-1a2b3c4d5e6f",
        "family": "Great Vibes",
        "style": "regular",
        "fullName": "Great Vibes Regular",
        "isBold": False,
        "isItalic": False,
        "outlines": "truetype",
        "glyphCount": 1123,
        "fsType": 0,
        "embeddable": True,
        "license": "SIL Open Font License, Version 1.1",
        "licenseUrl": "https://openfontlicense.org",
        "fileName": "GreatVibes-Regular.ttf",
        "sizeBytes": 141628,
        "createdAt": CREATED_AT,
    },
    ErrorItem: {"field": "recipientData.email", "message": "value is not a valid email address"},
    CheckRead: CHECKS[1],
    PublicOrganizationRead: PUBLIC_ORGANIZATION,
    PublicCertificateRead: PUBLIC_CERTIFICATE,
    VcIssueRequest: {"credential": VC_CREDENTIAL, "options": {}},
    VcIssued: {"verifiableCredential": VC_SIGNED},
    VcVerifyRequest: {"verifiableCredential": VC_SIGNED, "options": {}},
    VcVerified: {
        "verified": True,
        "checks": ["integrity", "signature", "issuer key", "status", "expiry"],
        "warnings": [],
        "errors": [],
    },
    VerificationRead: {
        "valid": True,
        "status": "valid",
        "test": False,
        "checks": CHECKS,
        "certificate": PUBLIC_CERTIFICATE,
    },
}

EXAMPLES |= {
    BulkRecipient: BULK_RECIPIENT,
    BulkOptions: {"dryRun": False, "duplicates": "skip"},
    BulkRequest: {
        "organizationId": ORGANIZATION_ID,
        "templateId": TEMPLATE_ID,
        "mailData": {
            "subject": "Your certificate, {{name}}",
            "body": "Congratulations on completing {{Course Name}}!",
        },
        "recipients": [
            BULK_RECIPIENT,
            {
                "name": "Chidi Okafor",
                "email": "chidi.okafor@example.com",
                "attributes": {"Course Name": "Machine Learning", "Grade": "Merit"},
            },
        ],
        "options": {"duplicates": "skip"},
    },
    RowError: ROW_ERROR,
    JobCounts: JOB_COUNTS,
    JobRead: JOB,
    BulkReport: {
        "dryRun": True,
        "counts": {**JOB_COUNTS, "issued": 0, "remaining": 249},
        "errors": [ROW_ERROR],
    },
    JobRowRead: {
        "row": 1,
        "status": "issued",
        "name": "Amina Bello",
        "email": "amina.bello@example.com",
        "certificateId": CERTIFICATE_ID,
        "errorCode": None,
        "errorColumn": None,
        "errorMessage": None,
    },
}

# Bodies documented by TypedDicts or dicts rather than models, by component name.
NAMED_EXAMPLES: dict[str, dict[str, Any]] = {
    "BalanceResponse": {"success": True, "data": {"balance": 6}},
    "Balance": {"balance": 6},
    "Health": {"status": "ok", "version": __version__},
    "Readiness": {
        "status": "ready",
        "version": __version__,
        "revision": "0011",
        "database": "ok",
        "store": "ok",
    },
}
