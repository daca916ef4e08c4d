"""Verification: the verdict on one of our certificates, or on any credential, check by check.

Every surface (the page, `GET /api/public/verify/{id}`, `POST /api/public/verify`,
`akowe verify`) runs the same `verify_document` over the signed credential, with the five
named checks of `akowe.signing.verify` (integrity, signature, issuer key, status, expiry).
They differ only in where DID documents and status lists come from (`Resolvers`): this
service's own from its database, `did:key` offline, others over HTTP(S) (SSRF-guarded on the
server), or, offline, the DID document cached in the file.

The verdict (`status`) is `valid`, `revoked`, `expired`, `invalid`, or `test`: a credential
of a test-mode organization that would otherwise be valid is `test` and never `valid`.

A stored certificate's report is cached per process, keyed by everything that can change its
verdict: the credential (its signing time), the certificate's status, the status list's
version (bumped by every revocation on it) and whether the expiry has passed. A revocation
therefore changes the key at once, in every process, and the report is recomputed.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar, cast

import httpx
from cachetools import LRUCache
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from akowe.certificates import service as certificates_service
from akowe.certificates.models import Certificate
from akowe.certificates.renders import RenderCache
from akowe.certificates.service import Links
from akowe.db.base import utcnow
from akowe.db.database import Database, session_reader
from akowe.db.statements import DriverReader, Query
from akowe.errors import ServiceError
from akowe.modes import Mode
from akowe.outbound import FetchRefused, GuardedClient
from akowe.schemas import format_timestamp, timestamp_or_none
from akowe.signing import service as signing_service
from akowe.signing.baking import bake, extract_credential_from_png, unbake
from akowe.signing.canon import DEFAULT_LIMITS, Limits
from akowe.signing.did import did_key_document, did_web_url
from akowe.signing.exceptions import SigningInputError
from akowe.signing.loader import StaticDocumentLoader
from akowe.signing.models import Credential, StatusList
from akowe.signing.pdf import extract_credential_from_pdf
from akowe.signing.verify import (
    ISSUER_KEY,
    Check,
    VerificationResult,
    issuer_id,
    verify_credential,
)
from akowe.signing.verify import (
    STATUS as STATUS_CHECK,
)
from akowe.storage.store import FileStore
from akowe.templates.models import Template
from akowe.verification.exceptions import UnreadableDocument as UnreadableDocument

T = TypeVar("T")
VALID, REVOKED, EXPIRED, INVALID, TEST = "valid", "revoked", "expired", "invalid", "test"
WITHDRAWN = "withdrawn"  # erased on request: no credential and no personal data remain
WITHDRAWN_MESSAGE = (
    "The issuer withdrew this certificate and erased its recipient's personal data: "
    "it is no longer valid."
)
DID_KEYWORD: Final = b"diddocument"  # the baked PNG's copy of the issuer's DID document
MAX_REMOTE_BYTES: Final = 512 * 1024
REMOTE_TIMEOUT_SECONDS: Final = 5.0
_CERTIFICATE_URL = re.compile(
    r"/api/public/certificates/([0-9a-fA-F-]{36})/credential$",
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

RemoteFetch = Callable[[str], Mapping[str, Any] | None]
"""Fetch a JSON document (DID document, status list) by URL; None or an error if it fails."""


def is_certificate_id(value: str) -> bool:
    """Whether `value` has the shape of a certificate id (a lowercase UUID)."""
    return _UUID.match(value) is not None


# ---------------------------------------------------------------- verdicts


@dataclass(frozen=True, slots=True)
class Verdict:
    """The checks, and what they add up to."""

    result: VerificationResult
    test: bool
    offline: bool = False
    withdrawn: bool = False

    @property
    def status(self) -> str:
        """`valid`, `revoked`, `expired`, `invalid`, `withdrawn` (erased), or `test` (a sound
        test credential)."""
        if self.withdrawn:
            return WITHDRAWN
        status = self.result.status
        return TEST if self.test and status == VALID else status

    @property
    def valid(self) -> bool:
        """Every check passed and the issuer is live (a test credential is never valid)."""
        return self.result.valid and not self.test

    @property
    def checks(self) -> list[Check]:
        """The five named checks, in order."""
        return self.result.checks


def verdict_wire(verdict: Verdict, certificate: dict[str, Any]) -> dict[str, Any]:
    """`{valid, status, test, checks, certificate}`: the `VerificationRead` shape."""
    return {
        "valid": verdict.valid,
        "status": verdict.status,
        "test": verdict.test,
        "checks": [check.as_dict() for check in verdict.checks],
        "certificate": certificate,
    }


def verify_document(
    document: Any,
    resolvers: Resolvers,
    *,
    loader: StaticDocumentLoader | None = None,
    now: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
    offline: bool = False,
) -> Verdict:
    """Verify a credential with these resolvers (no status resolver when `offline`)."""
    result = verify_credential(
        document,
        resolve_did=resolvers.did,
        resolve_status_list=None if offline else resolvers.status_list,
        now=now,
        loader=loader,
        limits=limits,
    )
    issuer = issuer_id(document) if isinstance(document, Mapping) else None
    ours = resolvers.signer.parse_did(issuer) if issuer and resolvers.signer else None
    if ours is not None:  # this service's own: its base URL says exactly which mode
        test = ours[1] == Mode.TEST
    else:
        test = issuer is not None and signing_service.is_test_did(issuer)
    if offline:
        result = _explain_offline(result, resolvers)
    return Verdict(result, test, offline)


def _explain_offline(result: VerificationResult, resolvers: Resolvers) -> VerificationResult:
    """Say, on the issuer key check, that the key came from the file and not the issuer."""
    checks = []
    for check in result.checks:
        if check.name == ISSUER_KEY and check.passed and resolvers.used_cached:
            check = Check(
                ISSUER_KEY,
                True,
                check.message + " (offline: the key comes from the DID document cached in the "
                "file and was not confirmed with the issuer)",
                checked=False,
            )
        checks.append(check)
    return VerificationResult(
        checks=checks, revoked=result.revoked, expired=result.expired, details=result.details
    )


# ---------------------------------------------------------------- resolvers


class Resolvers:
    """Where DID documents and status lists come from.

    - this service's own organizations and lists: the database (`read`), when given;
    - `did:key`: computed offline;
    - DID documents cached in the file (`cached`): offline verification only;
    - anything else: `remote` (over HTTP(S)), when given; else unresolvable.
    """

    def __init__(
        self,
        *,
        signer: signing_service.Signer | None = None,
        read: Callable[[Callable[[DriverReader], Any]], Any] | None = None,
        remote: RemoteFetch | None = None,
        cached: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.signer = signer
        self.read = read
        self.remote = remote
        self.cached = dict(cached or {})
        self.used_cached = False

    def did(self, did: str) -> Mapping[str, Any] | None:
        """The DID document of `did`, or None."""
        if self.signer is not None and self.read is not None:
            ours = self.signer.parse_did(did)
            if ours is not None:
                signer = self.signer
                organization_id, mode = ours
                document: Mapping[str, Any] | None = self.read(
                    lambda reader: signing_service.did_document_of(
                        reader, signer=signer, organization_id=organization_id, mode=mode
                    )
                )
                return document
        if did.startswith("did:key:"):
            try:
                return did_key_document(did)
            except ServiceError:
                return None
        if did in self.cached:
            self.used_cached = True
            return self.cached[did]
        if self.remote is not None and did.startswith("did:web:"):
            return self.remote(did_web_url(did))
        return None

    def status_list(self, url: str) -> Mapping[str, Any] | None:
        """The status list credential at `url`, or None."""
        if self.signer is not None and self.read is not None:
            list_id = self.signer.parse_status_list_url(url)
            if list_id is not None:
                text: str | None = self.read(
                    lambda reader: signing_service.status_list_document(reader, list_id=list_id)
                )
                return None if text is None else cast(dict[str, Any], json.loads(text))
        if self.remote is not None:
            return self.remote(url)
        return None


def guarded_fetcher(client: GuardedClient) -> RemoteFetch:
    """A RemoteFetch through the SSRF guard (the server's: public addresses only)."""

    def fetch(url: str) -> Mapping[str, Any] | None:
        try:
            response = client.send(
                "GET",
                url,
                timeout=REMOTE_TIMEOUT_SECONDS,
                max_redirects=2,
                headers={"Accept": "application/json", "Accept-Encoding": "identity"},
            )
        except FetchRefused as error:
            raise LookupError(str(error)) from error
        try:
            return _read_json(response)
        finally:
            response.close()

    return fetch


def plain_fetcher(client: httpx.Client) -> RemoteFetch:
    """A RemoteFetch for the CLI (the operator's own machine and network)."""

    def fetch(url: str) -> Mapping[str, Any] | None:
        try:
            with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                return _read_json(response)
        except httpx.HTTPError as error:
            raise LookupError(f"{type(error).__name__}") from error

    return fetch


def _read_json(response: httpx.Response) -> Mapping[str, Any] | None:
    if response.status_code != 200:
        raise LookupError(f"HTTP {response.status_code}")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_REMOTE_BYTES:
            raise LookupError("the document is too large")
        chunks.append(chunk)
    try:
        value = json.loads(b"".join(chunks))
    except ValueError as error:
        raise LookupError("not JSON") from error
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------- documents


@dataclass(frozen=True, slots=True)
class Extracted:
    """A credential found in an uploaded file, and any DID documents the file carries."""

    credential: dict[str, Any]
    kind: str  # json | pdf | png
    cached_dids: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_document(data: bytes) -> Extracted:
    """The credential in a JSON file, a certificate PDF (`credential.json`) or a baked PNG."""
    if not data:
        raise UnreadableDocument("The document is empty.")
    try:
        if data.startswith(b"%PDF-"):
            credential = extract_credential_from_pdf(data)
            if credential is None:
                raise UnreadableDocument("The PDF does not carry a credential.json.")
            did = extract_credential_from_pdf(data, filename=signing_service.DID_FILENAME)
            return Extracted(credential, "pdf", _did_map(did))
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            credential = extract_credential_from_png(data)
            if credential is None:
                raise UnreadableDocument("The PNG does not carry an Open Badges credential.")
            did_text = unbake(data, keyword=DID_KEYWORD)
            did = _json_object(did_text) if did_text else None
            return Extracted(credential, "png", _did_map(did))
    except UnreadableDocument:
        raise
    except SigningInputError as error:
        raise UnreadableDocument(error.message) from error
    parsed = _json_object(data)
    if parsed is None:
        raise UnreadableDocument()
    # A VC-API style wrapper ({"verifiableCredential": {...}}) is accepted as well.
    inner = parsed.get("verifiableCredential")
    return Extracted(inner if isinstance(inner, dict) else parsed, "json")


def _json_object(data: bytes | str) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _did_map(document: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    if isinstance(document, dict) and isinstance(document.get("id"), str):
        return {document["id"]: document}
    return {}


# ---------------------------------------------------------------- certificate summaries


def stored_summary(
    certificate: Any, document: Mapping[str, Any], signer: signing_service.Signer, links: Links
) -> dict[str, Any]:
    """What the public may see of one of our certificates (never the email address)."""
    organization = certificate.organization or {}
    certificate_id = certificate.id
    return {
        "certificateId": certificate_id,
        "recipientName": certificate.recipient_name,
        "achievement": _achievement_name(document) or certificate.template_name,
        "organization": {
            "name": organization.get("name"),
            "website": organization.get("website"),
            "logo": organization.get("logoUrl"),
        },
        "issuedAt": format_timestamp(certificate.issued_at),
        "expiresAt": timestamp_or_none(certificate.expires_at),
        "status": certificates_service.status_of(certificate),
        "revokedAt": timestamp_or_none(certificate.revoked_at),
        "revocationReason": certificate.revoked_reason,
        "test": certificate.mode == Mode.TEST,
        **public_links(certificate_id, signer, links),
        "revision": certificate.revision,
        "correctedAt": timestamp_or_none(certificate.corrected_at),
    }


def public_links(
    certificate_id: str, signer: signing_service.Signer, links: Links
) -> dict[str, str]:
    """The public URLs of a certificate."""
    base = f"{signer.base_url}{signing_service.PUBLIC_CERTIFICATES_PATH}/{certificate_id}"
    return {
        "verificationUrl": links.verification_url(certificate_id),
        "credentialUrl": signer.credential_url(certificate_id),
        "pdfUrl": f"{base}/pdf",
        "imageUrl": f"{base}/image.png",
    }


def document_summary(document: Mapping[str, Any], verdict: Verdict) -> dict[str, Any]:
    """What a credential itself says (for uploads and the CLI)."""
    issuer = document.get("issuer")
    issuer = issuer if isinstance(issuer, dict) else {}
    image = issuer.get("image")
    subject = document.get("credentialSubject")
    subject = subject if isinstance(subject, dict) else {}
    credential_id = document.get("id")
    match = _CERTIFICATE_URL.search(credential_id) if isinstance(credential_id, str) else None
    status = verdict.result.status
    return {
        "certificateId": match.group(1) if match else None,
        "recipientName": _string(subject.get("name")),
        "achievement": _achievement_name(document),
        "organization": {
            "name": _string(issuer.get("name")),
            "website": _string(issuer.get("url")),
            "logo": _string(image.get("id") if isinstance(image, dict) else image),
        },
        "issuedAt": _timestamp(document.get("validFrom")),
        "expiresAt": _timestamp(document.get("validUntil")),
        "status": status if status in (REVOKED, EXPIRED) else "issued",
        "revokedAt": None,
        "revocationReason": None,
        "test": verdict.test,
        "verificationUrl": None,
        "credentialUrl": credential_id if isinstance(credential_id, str) else None,
        "pdfUrl": None,
        "imageUrl": None,
        "revision": None,
        "correctedAt": None,
    }


def _achievement_name(document: Mapping[str, Any]) -> str | None:
    subject = document.get("credentialSubject")
    achievement = subject.get("achievement") if isinstance(subject, dict) else None
    return _string(achievement.get("name")) if isinstance(achievement, dict) else None


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return format_timestamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


# ---------------------------------------------------------------- stored certificates

_CERTIFICATES = cast(Table, Certificate.__table__)
_CREDENTIALS = cast(Table, Credential.__table__)
_LISTS = cast(Table, StatusList.__table__)
_TEMPLATES = cast(Table, Template.__table__)

VERIFY_STATE: Query[Any] = Query(
    select(
        _CERTIFICATES.c.status,
        _CERTIFICATES.c.expires_at,
        _CREDENTIALS.c.signed_at,
        _LISTS.c.version,
    )
    .select_from(
        _CERTIFICATES.outerjoin(
            _CREDENTIALS, _CREDENTIALS.c.certificate_id == _CERTIFICATES.c.id
        ).outerjoin(_LISTS, _LISTS.c.id == _CREDENTIALS.c.status_list_id)
    )
    .where(_CERTIFICATES.c.id == bindparam("certificate_id")),
    name="verification state",
)
PUBLIC_CERTIFICATE: Query[Any] = Query(
    select(_CERTIFICATES, _TEMPLATES.c.name.label("template_name"))
    .select_from(
        _CERTIFICATES.outerjoin(_TEMPLATES, _TEMPLATES.c.id == _CERTIFICATES.c.template_id)
    )
    .where(_CERTIFICATES.c.id == bindparam("certificate_id")),
    name="public certificate",
)


@dataclass(slots=True)
class Report:
    """A verified certificate: its verdict, public summary, document, and rendered answers."""

    verdict: Verdict
    certificate: dict[str, Any]
    document: dict[str, Any]
    renders: dict[str, bytes] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        """The `VerificationRead` dict."""
        return verdict_wire(self.verdict, self.certificate)


class ReportCache:
    """Reports of stored certificates, per process, keyed by their verification state."""

    def __init__(self, maxsize: int = 4096) -> None:
        self._entries: LRUCache[tuple[Any, ...], Report] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Report | None:
        """The cached report, or None."""
        with self._lock:
            return self._entries.get(key)

    def put(self, key: tuple[Any, ...], report: Report) -> None:
        """Remember a report."""
        with self._lock:
            self._entries[key] = report


async def certificate_report(
    db: Database,
    *,
    signer: signing_service.Signer,
    links: Links,
    cache: ReportCache,
    certificate_id: str,
) -> Report | None:
    """The verification report of one of our certificates (None if there is no such
    certificate). Signs its credential first if that has not happened yet."""
    if not is_certificate_id(certificate_id):
        return None
    state = await db.one(VERIFY_STATE, certificate_id=certificate_id)
    if state is None:
        return None
    if state.status == "erased":
        row = await db.one(PUBLIC_CERTIFICATE, certificate_id=certificate_id)
        return None if row is None else withdrawn_report(row, signer, links)
    if state.signed_at is None:
        await db.call(
            lambda: signing_service.ensure_credential(
                db, signer=signer, certificate_id=certificate_id
            )
        )
        state = await db.one(VERIFY_STATE, certificate_id=certificate_id)
        if state is None or state.signed_at is None:
            return None
    now = utcnow()
    expired = state.expires_at is not None and now > state.expires_at
    key = (certificate_id, state.signed_at, state.status, state.version, expired)
    report = cache.get(key)
    if report is None:
        computed = await db.readonly(
            lambda session: compute_report(
                session, signer=signer, links=links, certificate_id=certificate_id, now=now
            )
        )
        if computed is None:
            return None
        report = computed
        cache.put(key, report)
    return report


def withdrawn_report(certificate: Any, signer: signing_service.Signer, links: Links) -> Report:
    """The report of an erased certificate: withdrawn, with what the tombstone keeps (the
    issuer, dates) and nothing of the recipient."""
    result = VerificationResult(
        checks=[Check(STATUS_CHECK, False, WITHDRAWN_MESSAGE)], revoked=True
    )
    organization = certificate.organization or {}
    summary = {
        "certificateId": certificate.id,
        "recipientName": None,
        "achievement": certificate.template_name,
        "organization": {
            "name": organization.get("name"),
            "website": organization.get("website"),
            "logo": organization.get("logoUrl"),
        },
        "issuedAt": format_timestamp(certificate.issued_at),
        "expiresAt": timestamp_or_none(certificate.expires_at),
        "status": "erased",
        "revokedAt": timestamp_or_none(certificate.erased_at),
        "revocationReason": "withdrawn",
        "test": certificate.mode == Mode.TEST,
        "verificationUrl": links.verification_url(certificate.id),
        "credentialUrl": None,
        "pdfUrl": None,
        "imageUrl": None,
        "revision": certificate.revision,
        "correctedAt": timestamp_or_none(certificate.corrected_at),
    }
    return Report(Verdict(result, test=certificate.mode == Mode.TEST, withdrawn=True), summary, {})


def compute_report(
    session: Session,
    *,
    signer: signing_service.Signer,
    links: Links,
    certificate_id: str,
    now: datetime,
) -> Report | None:
    """Verify a stored certificate's credential against this service's own DID documents and
    status lists (blocking: CPU and database)."""
    reader = session_reader(session)
    certificate = reader.one(PUBLIC_CERTIFICATE, certificate_id=certificate_id)
    stored = signing_service.read_credential(reader, certificate_id=certificate_id)
    if certificate is None or stored is None:
        return None
    document = json.loads(stored.document)
    resolvers = Resolvers(signer=signer, read=lambda fn: fn(reader))
    verdict = verify_document(document, resolvers, loader=signer.loader(), now=now)
    return Report(verdict, stored_summary(certificate, document, signer, links), document)


def verify_upload(
    db: Database,
    *,
    signer: signing_service.Signer,
    remote: RemoteFetch | None,
    data: bytes,
) -> tuple[Verdict, dict[str, Any]]:
    """Verify an uploaded credential, PDF or baked PNG from the document itself (blocking)."""
    extracted = read_document(data)

    def read(fn: Callable[[DriverReader], T]) -> T:
        with db.session() as session:
            return fn(session_reader(session))

    resolvers = Resolvers(signer=signer, read=read, remote=remote)
    verdict = verify_document(extracted.credential, resolvers, loader=signer.loader())
    summary = document_summary(extracted.credential, verdict)
    certificate_id = summary["certificateId"]
    ours = signer.parse_credential_url(str(summary["credentialUrl"] or ""))
    if ours is not None and certificate_id == ours and verdict.result.revoked:
        row = read(lambda reader: reader.one(PUBLIC_CERTIFICATE, certificate_id=ours))
        if row is not None and row.status == "issued":
            # The certificate stands; this credential is an earlier revision of it.
            summary["revokedAt"] = timestamp_or_none(row.corrected_at)
            summary["revocationReason"] = "superseded by a correction"
        elif row is not None:
            summary["revokedAt"] = timestamp_or_none(row.revoked_at)
            summary["revocationReason"] = row.revoked_reason
    if ours is not None:
        summary.update(public_links(ours, signer, certificates_service.Links(signer.base_url)))
    return verdict, summary


def baked_png(
    session: Session,
    *,
    certificate: Any,
    store: FileStore,
    links: Links,
    cache: RenderCache,
) -> bytes:
    """The certificate as an Open Badges 3.0 baked PNG: its image with the signed credential
    (`openbadgecredential`) and the issuer's DID document (`diddocument`, for offline checks)
    in iTXt chunks. Rendered once, then cached. Blocking."""

    def render() -> bytes:
        reader = session_reader(session)
        stored = signing_service.read_credential(reader, certificate_id=certificate.id)
        if stored is None:
            raise signing_service.CredentialPending()
        png = certificates_service.png(
            session, certificate=certificate, store=store, links=links, cache=cache, width=None
        )
        baked = bake(png, stored.document)
        did = signing_service.cached_did_document(reader, stored)
        if did is not None:
            baked = bake(baked, json.dumps(did), keyword=DID_KEYWORD)
        return baked

    return cache.get_or_render(certificates_service.render_name(certificate, "-baked.png"), render)
