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


@pytest.mark.parametrize(
    ("query", "parameter", "shown"),
    [
        ("issuedAfter=yesterday", "issuedAfter", "(got 'yesterday')"),
        ("issuedAfter=", "issuedAfter", "is empty"),
        ("issuedBefore=2026-13-01", "issuedBefore", "(got '2026-13-01')"),
        ("issuedBefore=%20", "issuedBefore", "is empty"),
    ],
)
def test_a_bad_date_filter_is_a_400_naming_the_parameter_and_the_format(
    client: httpx.Client, account, query: str, parameter: str, shown: str
) -> None:
    response = client.get(f"/api/certificates?{query}", headers=account.headers())
    body = assert_envelope(response, 400, "validation_error")
    assert body["message"].startswith(f"Validation failed: {parameter}: ")
    assert "ISO 8601" in body["message"] and "2026-01-31T09:30:00Z" in body["message"]
    assert shown in body["message"]
    assert [e["field"] for e in body["errors"]] == [parameter]


# RFC 3339, as the OpenAPI document says (format date-time: seconds and offset included).
@pytest.mark.parametrize(
    "value", ["2026-01-31", "2026-01-31T09:30:00Z", "2026-01-31T10:30:00+01:00"]
)
def test_date_filters_take_dates_and_date_times(client: httpx.Client, account, value: str) -> None:
    response = client.get(
        "/api/certificates", params={"issuedAfter": value}, headers=account.headers()
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"", {}),
        (b"[]", {"content-type": "application/json"}),
        (b'"x"', {"content-type": "application/json"}),
    ],
    ids=["no body", "a list", "a string"],
)
def test_revoke_without_a_body_says_reason_is_required(
    client: httpx.Client, account, content: bytes, headers: dict[str, str]
) -> None:
    response = client.post(
        "/api/certificates/5b0f6c2e-8d1a-4f3b-9c7e-2a4d6e8f0b13/revoke",
        content=content,
        headers={**account.headers(), **headers},
    )
    body = assert_envelope(response, 400, "validation_error")
    assert body["message"] == "The request body must be a JSON object with `reason`."
    assert body["errors"] == [{"field": "reason", "message": "is required"}]


def test_issue_without_a_body_names_every_required_field(client: httpx.Client, account) -> None:
    response = client.post("/api/certificates/issue", headers=account.headers())
    body = assert_envelope(response, 400, "validation_error")
    assert "`recipientData`" in body["message"] and "`organizationId`" in body["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/certificates/batch"),  # bulk issuance is `/bulk`
        ("PUT", "/api/certificates/export.xlsx"),
        ("POST", "/api/templates/not-a-template-id"),
        ("POST", "/api/profile/organization/settings"),
        ("PUT", "/api/webhooks/everything"),
    ],
)
def test_an_unknown_sub_path_is_404_not_405(
    client: httpx.Client, account, method: str, path: str
) -> None:
    """A segment that cannot be an id names no resource: 405 would say it exists."""
    response = client.request(method, path, headers=account.headers())
    body = assert_envelope(response, 404, "not_found")
    assert "allow" not in response.headers
    assert body["message"] == "The requested resource could not be found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/api/certificates/5b0f6c2e-8d1a-4f3b-9c7e-2a4d6e8f0b13", "GET"),
        ("GET", "/api/certificates/issue", "POST"),
        ("PUT", "/api/certificates/export.csv", "GET"),
        ("PUT", "/api/templates/777e143a-f685-48da-bc8d-39105b8336c0", "PATCH"),
    ],
)
def test_a_wrong_method_on_a_real_path_is_still_405_with_allow(
    client: httpx.Client, account, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path, headers=account.headers())
    assert_envelope(response, 405, "method_not_allowed")
    assert allowed in response.headers["allow"]


def test_json_answers_declare_utf_8(client: httpx.Client, account) -> None:
    """API.md: `application/json; charset=utf-8`, on success, error and fast-path answers."""
    answers = [
        client.get("/api/certificates", headers=account.headers()),
        client.get("/api/users/balance", headers=account.headers()),  # the fast path
        client.get("/api/nothing-here"),
        client.get("/healthz"),
    ]
    for response in answers:
        assert response.headers["content-type"] == "application/json; charset=utf-8", response.url
