"""The only JSON-LD document loader the signing core uses: pinned contexts, never the network.

Every context is a file in `akowe/signing/contexts/` (sources and licences in its README.md),
checked against the SHA-256 below the first time a loader reads it. The loader hands each to
pyld with `tag: "static"`, which lets pyld keep the *processed* context between documents; that
cache is what brings a signature from ~4.7 ms to under 3 ms. Each loader owns its pyld context
cache (`context_resolver()`), so a context one loader was allowed to serve can never reach a
document processed through another loader that refuses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from cachetools import LRUCache
from pyld import ContextResolver  # type: ignore[import-untyped]

from akowe.signing.exceptions import ContextIntegrityError, UnknownContext

VC_V2: Final = "https://www.w3.org/ns/credentials/v2"
OB_V3P0: Final = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
DID_V1: Final = "https://www.w3.org/ns/did/v1"
MULTIKEY_V1: Final = "https://w3id.org/security/multikey/v1"
DATA_INTEGRITY_V2: Final = "https://w3id.org/security/data-integrity/v2"
CREDENTIALS_EXAMPLES_V2: Final = "https://www.w3.org/ns/credentials/examples/v2"


@dataclass(frozen=True, slots=True)
class PinnedContext:
    """A context shipped in the package: its URL, file name and SHA-256 of the file's bytes."""

    url: str
    filename: str
    sha256: str


PINNED_CONTEXTS: Final[Mapping[str, PinnedContext]] = {
    pinned.url: pinned
    for pinned in (
        PinnedContext(
            VC_V2,
            "credentials-v2.jsonld",
            "8a9f494a89ecc51db093e90e84713e07e84d6d9204364a9b3c7868b21751236f",
        ),
        PinnedContext(
            OB_V3P0,
            "ob-v3p0-context-3.0.3.json",
            "ef2fa9c7846dce233cc166b43639027278be4ee44f00bb1d45c75de2dd0cd761",
        ),
        PinnedContext(
            DID_V1,
            "did-v1.jsonld",
            "62c1054bf404d6dd3a4b26b64f830fd72095f6a26edc4469908c94351352ce5f",
        ),
        PinnedContext(
            MULTIKEY_V1,
            "multikey-v1.jsonld",
            "c5f3806f8286920573221938917988a18a4cc5a09e968d29649613c7a1c2b1f6",
        ),
        PinnedContext(
            DATA_INTEGRITY_V2,
            "data-integrity-v2.jsonld",
            "0f77743daf5b4e8fc067fc5ba5b21044283053aa717fc6b0219843bed3b00363",
        ),
        PinnedContext(
            CREDENTIALS_EXAMPLES_V2,
            "credentials-examples-v2.jsonld",
            "57393fbc69d6efb9b9b5dc9cb6b9880b0944360abfe2eaf459c9e58cf2279d7c",
        ),
    )
}

# What credentials, DID documents and status lists issued or verified by the service may use.
# The examples context (`@vocab` for every undefined term) is for test vectors and test mode.
DEFAULT_CONTEXTS: Final[frozenset[str]] = frozenset(
    {VC_V2, OB_V3P0, DID_V1, MULTIKEY_V1, DATA_INTEGRITY_V2}
)
ALL_CONTEXTS: Final[frozenset[str]] = frozenset(PINNED_CONTEXTS)

# Processed contexts kept per loader; the pinned set is small, so nothing is ever evicted.
_RESOLVED_CACHE_SIZE = 64
_PROCESSED_CACHE_SIZE = 4096


def read_pinned_context(url: str, *, directory: Path | None = None) -> dict[str, Any]:
    """The pinned context for `url`, parsed after its SHA-256 is checked."""
    pinned = PINNED_CONTEXTS.get(url)
    if pinned is None:
        raise UnknownContext(f"The JSON-LD context {url!r} is not one of the pinned contexts.")
    if directory is None:
        data = resources.files("akowe.signing").joinpath("contexts", pinned.filename).read_bytes()
    else:
        data = (directory / pinned.filename).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != pinned.sha256:
        raise ContextIntegrityError(
            f"The pinned context {url!r} ({pinned.filename}) has SHA-256 {digest}, "
            f"expected {pinned.sha256}; refusing to use it."
        )
    document: dict[str, Any] = json.loads(data)
    return document


class StaticDocumentLoader:
    """A pyld document loader serving pinned contexts as static documents, refusing all else."""

    def __init__(
        self, urls: Iterable[str] = DEFAULT_CONTEXTS, *, directory: Path | None = None
    ) -> None:
        self.urls = frozenset(urls)
        unknown = sorted(self.urls - ALL_CONTEXTS)
        if unknown:
            raise UnknownContext(f"No pinned context for {', '.join(unknown)}.")
        self._directory = directory
        self._documents: dict[str, bytes] = {}
        self._resolved: LRUCache[str, Any] = LRUCache(maxsize=_RESOLVED_CACHE_SIZE)
        # Processed active contexts, memoised by `canon` (see canon._SafeProcessor).
        self.processed: LRUCache[Any, Any] = LRUCache(maxsize=_PROCESSED_CACHE_SIZE)

    def __call__(self, url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the pinned context at `url` as a pyld RemoteDocument; refuse any other URL."""
        if url not in self.urls:
            raise UnknownContext(
                f"The JSON-LD context {url!r} is not allowed here; contexts are never fetched."
            )
        raw = self._documents.get(url)
        if raw is None:
            raw = json.dumps(read_pinned_context(url, directory=self._directory)).encode()
            self._documents[url] = raw
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            # A fresh copy: pyld resolves relative context URLs in place.
            "document": json.loads(raw),
            "tag": "static",
        }

    def context_resolver(self) -> Any:
        """A pyld ContextResolver over this loader's own cache (pass as `contextResolver`)."""
        return ContextResolver(self._resolved, self)

    def options(self) -> dict[str, Any]:
        """pyld options that load through this loader and cache in it (fresh per operation)."""
        return {"documentLoader": self, "contextResolver": self.context_resolver()}


_default_loader: StaticDocumentLoader | None = None


def default_loader() -> StaticDocumentLoader:
    """The process-wide loader for the default contexts (its cache is what makes signing fast)."""
    global _default_loader
    if _default_loader is None:
        _default_loader = StaticDocumentLoader()
    return _default_loader
