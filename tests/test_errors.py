"""Every error answers with the envelope: unknown routes, wrong methods, malformed JSON,
oversized bodies, validation errors with field paths, and unexpected exceptions."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from litestar import post
from litestar.params import JSONBody
from pydantic import Field

from akowe.config import Settings
from akowe.main import create_app
from akowe.schemas import RequestSchema
from tests.conftest import _free_port, serve


class Inner(RequestSchema):
    email_address: str = Field(pattern=r"^[^@]+@[^@]+$")


class Probe(RequestSchema):
    display_name: str = Field(min_length=1)
    recipient_data: Inner


# Routes that exist only in this test app: one that validates a body and one that crashes,
# so the error contract is checked independently of any real endpoint.
@post("/api/_probe", sync_to_thread=False)
def probe(data: JSONBody[Probe]) -> dict[str, str]:
    return {"ok": data.display_name}


@post("/api/_boom", sync_to_thread=False)
def boom() -> None:
    raise RuntimeError("secret internal detail")


@pytest.fixture(scope="module")
def probe_server(settings: Settings) -> Iterator[str]:
    port = _free_port()
    app = create_app(settings.model_copy(update={"port": port}), extra_handlers=[probe, boom])
    with serve(app, port) as url:
        yield url


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "detail" not in body and "status_code" not in body
    return body


def test_unknown_route_is_404_envelope(client: httpx.Client) -> None:
    body = assert_envelope(client.get("/api/nothing-here"), 404, "not_found")
    assert body["message"] == "The requested resource could not be found"


def test_wrong_method_is_405_envelope(client: httpx.Client, account) -> None:
    response = client.delete("/api/users/balance", headers=account.headers())
    assert_envelope(response, 405, "method_not_allowed")


def test_malformed_json_is_400_envelope(probe_server: str) -> None:
    response = httpx.post(
        f"{probe_server}/api/_probe",
        content=b'{"displayName": ',
        headers={"content-type": "application/json"},
    )
    body = assert_envelope(response, 400, "malformed_json")
    assert body["message"] == "The request body is not valid JSON."


def test_validation_error_names_each_field_by_its_wire_path(probe_server: str) -> None:
    response = httpx.post(
        f"{probe_server}/api/_probe",
        json={"displayName": "", "recipientData": {"emailAddress": "nope"}},
    )
    body = assert_envelope(response, 400, "validation_error")
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"displayName", "recipientData.emailAddress"}
    assert all(e["message"] for e in body["errors"])


def test_missing_field_is_reported(probe_server: str) -> None:
    response = httpx.post(f"{probe_server}/api/_probe", json={"displayName": "x"})
    body = assert_envelope(response, 400, "validation_error")
    assert [e["field"] for e in body["errors"]] == ["recipientData"]


def test_oversized_body_is_413_envelope(probe_server: str, settings: Settings) -> None:
    big = b'{"displayName": "' + b"a" * (settings.max_body_bytes + 10) + b'"}'
    response = httpx.post(
        f"{probe_server}/api/_probe", content=big, headers={"content-type": "application/json"}
    )
    assert_envelope(response, 413, "payload_too_large")


def test_unexpected_exception_is_generic_500_without_details(probe_server: str) -> None:
    response = httpx.post(f"{probe_server}/api/_boom")
    body = assert_envelope(response, 500, "internal_error")
    assert body["message"] == "An unexpected error occurred. Please try again later."
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-request-id"]
