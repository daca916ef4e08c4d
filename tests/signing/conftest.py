"""Fixtures for the signing core: the shared test vectors, and one realistic issuer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from akowe.signing import (
    AchievementInfo,
    IssuerProfile,
    StatusBitstring,
    StatusEntry,
    build_credential,
    build_status_list_credential,
    did_document,
    generate_private_key,
    organization_did,
    public_key_multibase,
    sign,
    verification_method_id,
)

BASE_URL = "http://127.0.0.1:8000"
ORG_ID = "ae08808f-85e5-4444-92ca-304a07531f3b"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def vectors_dir() -> Path:
    """`../shared/vectors` beside the repository (or AKOWE_VECTORS_DIR)."""
    configured = os.environ.get("AKOWE_VECTORS_DIR")
    if configured:
        return Path(configured)
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "vectors"


@pytest.fixture(scope="session")
def vectors() -> Path:
    """The vectors folder; the signing tests cannot run without it."""
    path = vectors_dir()
    assert path.is_dir(), f"test vectors not found at {path} (set AKOWE_VECTORS_DIR)"
    return path


@dataclass
class Issuer:
    """One organization with a key history, its DID document and a status list."""

    did: str
    keys: list[Ed25519PrivateKey]
    status: StatusBitstring = field(default_factory=StatusBitstring)
    list_url: str = f"{BASE_URL}/status/1"

    @property
    def key(self) -> Ed25519PrivateKey:
        return self.keys[-1]

    def method(self, key: Ed25519PrivateKey | None = None) -> str:
        return verification_method_id(self.did, key or self.key)

    def rotate(self) -> None:
        self.keys.append(generate_private_key())

    def did_document(self) -> dict[str, Any]:
        return did_document(self.did, [public_key_multibase(key) for key in self.keys])

    def credential(
        self,
        *,
        name: str = "Adéwálé Ògúnlẹ̀",
        index: int = 94567,
        valid_until: datetime | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return build_credential(
            credential_id=f"{BASE_URL}/api/public/certificates/c0ffee/credential",
            issuer=IssuerProfile(
                did=self.did,
                name="University of Lagos",
                url="https://unilag.example.edu",
                email="registrar@unilag.example.edu",
                image=f"{BASE_URL}/files/org-logo.png",
            ),
            achievement=AchievementInfo(
                id=f"{BASE_URL}/templates/777e143a-f685-48da-bc8d-39105b8336c0",
                name="Machine Learning Certificate",
                description="Completed the twelve-week Machine Learning programme.",
                criteria_narrative="Passed every assignment and the final project.",
            ),
            recipient_name=name,
            recipient_email="john@example.com",
            salt="6a1f0cf4d7a24b5c9e8d",
            valid_from=NOW - timedelta(days=1),
            valid_until=valid_until,
            attributes=attributes
            if attributes is not None
            else {"Course Name": "Machine Learning", "Grade": "Excellent"},
            status=StatusEntry(self.list_url, index),
        )

    def signed(self, key: Ed25519PrivateKey | None = None, **kwargs: Any) -> dict[str, Any]:
        key = key or self.key
        return sign(
            self.credential(**kwargs), key, verification_method=self.method(key), created=NOW
        )

    def status_list_credential(self) -> dict[str, Any]:
        unsigned = build_status_list_credential(
            list_id=self.list_url,
            issuer=self.did,
            bitstring=self.status,
            valid_from=NOW - timedelta(days=2),
            ttl_ms=300_000,
        )
        return sign(unsigned, self.key, verification_method=self.method(), created=NOW)

    def resolve_did(self, did: str) -> dict[str, Any] | None:
        return self.did_document() if did == self.did else None

    def resolve_status_list(self, url: str) -> dict[str, Any] | None:
        return self.status_list_credential() if url == self.list_url else None


@pytest.fixture
def issuer() -> Issuer:
    """A fresh organization with one key."""
    return Issuer(did=organization_did(BASE_URL, ORG_ID), keys=[generate_private_key()])
