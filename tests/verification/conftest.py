"""Helpers for verification tests: issue through the real API, read what the public sees,
run the `akowe` CLI on files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from akowe.config import Settings
from tests.certificates.conftest import Issuer, make_issuer

CHECKS = ["integrity", "signature", "issuer key", "status", "expiry"]


def issue(client: httpx.Client, issuer: Issuer, **overrides: Any) -> dict[str, Any]:
    """Issue one certificate (silently, no email) and return its wire data."""
    body = issuer.body(mailData={"templateId": issuer.template_id}, **overrides)
    response = client.post("/api/certificates/issue", headers=issuer.headers, json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def public_verdict(client: httpx.Client, certificate_id: str) -> dict[str, Any]:
    response = client.get(f"/api/public/verify/{certificate_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def upload(client: httpx.Client, content: bytes, content_type: str) -> dict[str, Any]:
    response = client.post(
        "/api/public/verify", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def summary(verdict: dict[str, Any]) -> tuple[Any, ...]:
    """What every surface must agree on: verdict, and each check's name and result."""
    return (
        verdict["valid"],
        verdict["status"],
        tuple((check["name"], check["passed"]) for check in verdict["checks"]),
    )


def akowe(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AKOWE_DATABASE_URL": settings.resolved_database_url,
        "AKOWE_DATA_DIR": str(settings.data_dir),
        "AKOWE_BASE_URL": settings.public_base_url,
        "AKOWE_SECRET_KEY": settings.secret_key.get_secret_value() if settings.secret_key else "",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "akowe.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli_verify(settings: Settings, path: Path, *flags: str) -> tuple[int, dict[str, Any]]:
    done = akowe(settings, "verify", str(path), "--json", *flags)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture
def issuer(client: httpx.Client, make_account) -> Issuer:  # type: ignore[no-untyped-def]
    """A live account with credits, an organization and a template."""
    return make_issuer(client, make_account(credits=10, test_credits=5))
