"""Errors of verification.

ServiceError
├── Forbidden (403)
│   └── TestModeOnly (403 test_mode_only): the VC-API endpoints need a test key
├── PayloadTooLarge (413 payload_too_large): an upload above AKOWE_VERIFY_UPLOAD_MAX_BYTES
└── ValidationFailed (400)
    └── UnreadableDocument (400 unreadable_document): not a credential, PDF or baked PNG
"""

from __future__ import annotations

from akowe.errors import Forbidden, ServiceError, ValidationFailed


class TestModeOnly(Forbidden):
    """The VC-API endpoints exist for conformance testing, with test keys only."""

    code = "test_mode_only"
    default_message = "The VC-API endpoints are available with test keys only."


class PayloadTooLarge(ServiceError):
    """The uploaded document is larger than AKOWE_VERIFY_UPLOAD_MAX_BYTES."""

    code = "payload_too_large"
    status_code = 413
    default_message = "The document is too large to verify."


class UnreadableDocument(ValidationFailed):
    """The uploaded bytes are not a credential JSON, a certificate PDF or a baked PNG."""

    code = "unreadable_document"
    default_message = "Send a credential (JSON), a certificate PDF or a baked Open Badges PNG."
