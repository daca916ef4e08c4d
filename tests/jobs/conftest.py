"""Fixtures for bulk jobs: submit through the real API, run chunks with a real JobWorker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from akowe.config import Settings
from akowe.jobs.worker import JobWorker
from tests.certificates.conftest import ATTRIBUTES


def recipients(count: int, *, start: int = 0, domain: str = "example.com") -> list[dict[str, Any]]:
    """`count` distinct valid recipients."""
    return [
        {"name": f"Student {i}", "email": f"student{i}@{domain}", "attributes": dict(ATTRIBUTES)}
        for i in range(start, start + count)
    ]


def bulk_body(issuer: Any, rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A JSON bulk body for the issuer's organization and template."""
    return {
        "organizationId": issuer.organization_id,
        "templateId": issuer.template_id,
        "recipients": rows,
        **extra,
    }


def submit(client: httpx.Client, issuer: Any, count: int) -> str:
    """Post a JSON job of `count` recipients for the issuer; its id (answered 202)."""
    response = client.post(
        "/api/certificates/bulk", json=bulk_body(issuer, recipients(count)), headers=issuer.headers
    )
    assert response.status_code == 202, response.text
    return str(response.json()["data"]["jobId"])


def balance(client: httpx.Client, headers: dict[str, str]) -> int:
    response = client.get("/api/users/balance", headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["balance"])


def job(client: httpx.Client, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    response = client.get(f"/api/jobs/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def all_rows(
    client: httpx.Client, headers: dict[str, str], job_id: str, status: str | None = None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1000}
    if status:
        params["status"] = status
    while True:
        response = client.get(f"/api/jobs/{job_id}/rows", headers=headers, params=params)
        assert response.status_code == 200, response.text
        out += response.json()["data"]
        cursor = response.headers.get("x-next-cursor")
        if not cursor:
            return out
        params["cursor"] = cursor


def wait_for(predicate: Any, timeout: float = 60.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(interval)


@pytest.fixture
def worker(settings: Settings) -> Iterator[JobWorker]:
    """A job worker on the test database (run it with `drain()`)."""
    runner = JobWorker(settings.model_copy(update={"job_chunk_size": 50}))
    yield runner
    runner.close()
