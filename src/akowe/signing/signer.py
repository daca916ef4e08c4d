"""The signer: what signing needs from settings (base URL, secret, pinned-context loaders,
a key cache), the did:web mapping of organizations, and the pure CPU work of turning a
certificate into its signed Open Badges 3.0 credential.

No database here: `signing.service` does the reading and writing, and child processes
(`akowe.processes`) import only this to sign.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from akowe.config import Settings
from akowe.modes import Mode
from akowe.signing.canon import strip_control_characters
from akowe.signing.credentials import AchievementInfo, IssuerProfile, StatusEntry, new_salt
from akowe.signing.credentials import build_credential as build_open_badge
from akowe.signing.did import organization_did, verification_method_id
from akowe.signing.exceptions import MissingSecretKey
from akowe.signing.keys import (
    decrypt_private_key,
    encrypt_private_key,
    read_or_create_secret,
)
from akowe.signing.loader import ALL_CONTEXTS, DEFAULT_CONTEXTS, StaticDocumentLoader
from akowe.signing.proofs import sign

SECRET_FILE: Final = "secret-key"  # noqa: S105 (a file name, not a secret)
TEST_SEGMENT: Final = "test"
TEST_PREFIX: Final = "[TEST] "
STATUS_LISTS_PATH: Final = "/api/public/status-lists"
PUBLIC_CERTIFICATES_PATH: Final = "/api/public/certificates"


def resolve_secret(settings: Settings, *, create: bool = False) -> str:
    """AKOWE_SECRET_KEY, else `<data dir>/secret-key` if it exists (or `create`), else refuse."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().strip()
    path = settings.data_dir / SECRET_FILE
    if create or path.exists():
        secret = read_or_create_secret(path)
        if len(secret) < 16:
            raise MissingSecretKey(f"{path} holds a secret shorter than 16 characters.")
        return secret
    raise MissingSecretKey()


class Signer:
    """What signing needs from settings: the base URL, the secret, the loaders, a key cache.

    One per process; thread-safe. `wake` is called after an issuance commits so the worker in
    this process signs at once instead of at its next poll.
    """

    def __init__(self, *, base_url: str, secret: str, status_list_ttl_seconds: int = 300) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self.status_list_ttl_seconds = status_list_ttl_seconds
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self.wake: Callable[[], None] = _nothing
        self._live_prefix = organization_did(self.base_url, "-")[:-1]
        self._test_prefix = organization_did(self._base(Mode.TEST), "-")[:-1]

    @classmethod
    def from_settings(cls, settings: Settings, *, create_secret: bool = False) -> Signer:
        """The signer for these settings (MissingSecretKey if there is no secret)."""
        return cls(
            base_url=settings.public_base_url,
            secret=resolve_secret(settings, create=create_secret),
            status_list_ttl_seconds=settings.status_list_ttl_seconds,
        )

    # ------------------------------------------------------------ identifiers and URLs

    def _base(self, mode: str) -> str:
        return f"{self.base_url}/{TEST_SEGMENT}" if mode == Mode.TEST else self.base_url

    def did(self, organization_id: str, mode: str) -> str:
        """The organization's did:web DID (test-mode ones live under `/test`)."""
        return organization_did(self._base(mode), organization_id)

    def did_document_url(self, organization_id: str, mode: str) -> str:
        """Where the DID document is served."""
        return f"{self._base(mode)}/orgs/{organization_id}/did.json"

    def parse_did(self, did: str) -> tuple[str, Mode] | None:
        """(organization id, mode) of one of this service's organization DIDs, else None."""
        for prefix, mode in ((self._test_prefix, Mode.TEST), (self._live_prefix, Mode.LIVE)):
            if did.startswith(prefix):
                organization_id = did[len(prefix) :]
                if organization_id and ":" not in organization_id and "%" not in organization_id:
                    return organization_id, mode
        return None

    def status_list_url(self, list_id: str) -> str:
        """The public URL of a status list credential."""
        return f"{self.base_url}{STATUS_LISTS_PATH}/{list_id}"

    def parse_status_list_url(self, url: str) -> str | None:
        """The list id of one of this service's status list URLs, else None."""
        prefix = f"{self.base_url}{STATUS_LISTS_PATH}/"
        if url.startswith(prefix) and "/" not in url[len(prefix) :]:
            return url[len(prefix) :] or None
        return None

    def credential_url(self, certificate_id: str) -> str:
        """The public URL of a certificate's credential (also the credential's `id`)."""
        return f"{self.base_url}{PUBLIC_CERTIFICATES_PATH}/{certificate_id}/credential"

    def parse_credential_url(self, url: str) -> str | None:
        """The certificate id of one of this service's credential URLs, else None."""
        prefix = f"{self.base_url}{PUBLIC_CERTIFICATES_PATH}/"
        if url.startswith(prefix) and url.endswith("/credential"):
            certificate_id = url[len(prefix) : -len("/credential")]
            return certificate_id if certificate_id and "/" not in certificate_id else None
        return None

    def child_arguments(self) -> tuple[str, str, int]:
        """What a signing process needs to build the same signer (it gets the secret)."""
        return (self.base_url, self._secret, self.status_list_ttl_seconds)

    # ------------------------------------------------------------ keys and loaders

    def encrypt(self, key: Ed25519PrivateKey, *, key_id: str) -> str:
        """A private key encrypted for the `signing_key` row `key_id`."""
        return encrypt_private_key(key, self._secret, associated_data=_aad(key_id))

    def private_key(self, key_id: str, encrypted: str) -> Ed25519PrivateKey:
        """The decrypted private key of a `signing_key` row (cached per process)."""
        key = self._keys.get(key_id)
        if key is None:
            key = decrypt_private_key(encrypted, self._secret, associated_data=_aad(key_id))
            with self._lock:
                self._keys[key_id] = key
        return key

    def loader(self, *, examples: bool = False) -> StaticDocumentLoader:
        """This thread's pinned-context loader (pyld's caches are per loader, not locked)."""
        name = "examples_loader" if examples else "loader"
        loader: StaticDocumentLoader | None = getattr(self._local, name, None)
        if loader is None:
            loader = StaticDocumentLoader(ALL_CONTEXTS if examples else DEFAULT_CONTEXTS)
            setattr(self._local, name, loader)
        return loader


def _nothing() -> None:
    return None


def _aad(key_id: str) -> str:
    # Binds the ciphertext to its row: moved to another row, it no longer decrypts.
    return f"signing_key:{key_id}"


def is_test_did(did: str) -> bool:
    """Whether a DID is an akowe test-mode organization (`did:web:...:test:orgs:<id>`)."""
    segments = did.split(":")
    return did.startswith("did:web:") and len(segments) >= 5 and segments[-3:-1] == ["test", "orgs"]


class KeyRow(Protocol):
    """A `signing_key` row, as far as signing needs it."""

    id: str
    private_key: str
    public_key: str


def sign_certificate(
    signer: Signer, certificate: Any, *, key: KeyRow, list_id: str, index: int
) -> dict[str, Any]:
    """The certificate's signed OpenBadgeCredential (pure CPU: build, canonicalise, sign)."""
    mode = certificate.mode
    test = mode == Mode.TEST
    organization = certificate.organization or {}
    issuer_did = signer.did(certificate.organization_id, mode)
    achievement_name = _text(certificate.template_name) or _text(organization.get("name"))
    achievement_name = achievement_name or "Certificate"
    issuer_name = _text(organization.get("name")) or "Issuer"
    unsigned = build_open_badge(
        credential_id=signer.credential_url(certificate.id),
        issuer=IssuerProfile(
            did=issuer_did,
            name=f"{issuer_name} (TEST)" if test else issuer_name,
            url=_web_url(organization.get("website")),
            email=_text(organization.get("email")) or None,
            image=_web_url(organization.get("logoUrl")),
        ),
        achievement=AchievementInfo(
            id=f"urn:uuid:{certificate.template_id}", name=achievement_name
        ),
        recipient_name=certificate.recipient_name,
        recipient_email=certificate.recipient_email,
        salt=new_salt(),
        valid_from=certificate.issued_at,
        valid_until=certificate.expires_at,
        attributes=certificate.attributes,
        status=StatusEntry(signer.status_list_url(list_id), index),
        name=(TEST_PREFIX + achievement_name) if test else achievement_name,
    )
    return sign(
        unsigned,
        signer.private_key(key.id, key.private_key),
        verification_method=verification_method_id(issuer_did, key.public_key),
        created=datetime.now(UTC),
        loader=signer.loader(),
        built=True,
    )


def dump(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _text(value: Any) -> str:
    return strip_control_characters(value).strip() if isinstance(value, str) else ""


_IRI_FORBIDDEN = frozenset('<>"{}|^`\\ ')


def _web_url(value: Any) -> str | None:
    """An absolute http(s) URL usable as an IRI (a scheme is added to a bare host), or None:
    a value the credential cannot carry is left out rather than failing the signature."""
    text = _text(value)
    if not text:
        return None
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if any(ch in _IRI_FORBIDDEN or ord(ch) < 0x21 for ch in text):
        return None
    return text
