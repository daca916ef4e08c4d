"""The edge: every malformed input of the hardening probe (issue 11) is a 4xx envelope, the
key is checked before the body is read, bodies are capped per route, and every answer
carries the security headers. The same answers on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar import Request, post

from akowe.api.deps import PrincipalDep
from akowe.api.edge import route_opt, spool_body
from akowe.api.openapi import SECURITY
from akowe.config import Settings
from akowe.main import create_app
from tests.certificates.conftest import Issuer, make_issuer
from tests.conftest import SMALL_POOL, _free_port, serve
from tests.processes import server_process

ISSUE = "/api/certificates/issue"
DEEP = b"[" * 1000 + b"]" * 1000


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["success"] is False and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    assert "Traceback" not in response.text
    return body


@pytest.fixture
def issuer(client: httpx.Client, make_account) -> Issuer:
    return make_issuer(client, make_account(credits=10))


# ---------------------------------------------------------------- the key comes first


@pytest.mark.parametrize(
    "content",
    [b"{}", b'{"recipientData": {"name": "\xff\xfe"}}', DEEP, b"not json at all"],
    ids=["empty-object", "invalid-utf8", "deep", "garbage"],
)
def test_a_keyed_route_without_a_key_is_401_whatever_the_body(
    client: httpx.Client, content: bytes
) -> None:
    response = client.post(ISSUE, content=content, headers={"content-type": "application/json"})
    body = assert_error(response, 401, "invalid_api_key")
    assert body["message"] == "Invalid or missing API key"
    bad_key = client.post(
        ISSUE,
        content=content,
        headers={"content-type": "application/json", "x-api-key": "live-nope"},
    )
    assert_error(bad_key, 401, "invalid_api_key")


def test_an_oversized_body_without_a_key_is_401_not_413(client: httpx.Client) -> None:
    response = client.post(ISSUE, content=b"x" * (3 * 1024 * 1024))
    assert_error(response, 401, "invalid_api_key")


# ---------------------------------------------------------------- bodies


def test_invalid_utf8_is_400(client: httpx.Client, issuer: Issuer) -> None:
    content = json.dumps(issuer.body()).encode().replace(b"John Doe", b"John \xff\xfe Doe")
    response = client.post(
        ISSUE, content=content, headers={**issuer.headers, "content-type": "application/json"}
    )
    body = assert_error(response, 400, "malformed_request")
    assert "UTF-8" in body["message"]


@pytest.mark.parametrize("path", [ISSUE, "/api/templates", "/api/profile/organization"])
def test_json_nested_1000_deep_is_400(client: httpx.Client, issuer: Issuer, path: str) -> None:
    response = client.post(
        path, content=DEEP, headers={**issuer.headers, "content-type": "application/json"}
    )
    body = assert_error(response, 400, "malformed_request")
    assert "nested too deeply" in body["message"]


def test_deep_json_inside_an_attribute_is_400(client: httpx.Client, issuer: Issuer) -> None:
    body = issuer.body()
    nested: object = "x"
    for _ in range(200):
        nested = [nested]
    body["recipientData"]["attributes"]["Course Name"] = nested
    response = client.post(ISSUE, json=body, headers=issuer.headers)
    assert_error(response, 400)


def test_brackets_inside_strings_do_not_count_as_depth(
    client: httpx.Client, issuer: Issuer
) -> None:
    body = issuer.body()
    # Deeper than the limit if the brackets counted, short enough to fit the template's box.
    body["recipientData"]["attributes"]["Grade"] = "[[{{" * 12
    response = client.post(ISSUE, json=body, headers=issuer.headers)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "where",
    ["recipientData.name", "recipientData.attributes", "mailData.subject", "organizationId"],
)
def test_a_nul_escape_in_any_json_text_is_400(
    client: httpx.Client, issuer: Issuer, where: str
) -> None:
    body = issuer.body()
    if where == "recipientData.name":
        body["recipientData"]["name"] = "John\u0000Doe"
    elif where == "recipientData.attributes":
        body["recipientData"]["attributes"]["Gra\u0000de"] = "A"
    elif where == "mailData.subject":
        body["mailData"]["subject"] = "\u0000"
    else:
        body["organizationId"] = issuer.organization_id + "\u0000"
    response = client.post(ISSUE, json=body, headers=issuer.headers)
    body = assert_error(response, 400, "malformed_request")
    assert "NUL" in body["message"]


def test_an_escaped_backslash_before_u0000_is_ordinary_text(
    client: httpx.Client, issuer: Issuer
) -> None:
    body = issuer.body()
    body["recipientData"]["attributes"]["Grade"] = "\\u0000"  # six characters, no NUL
    response = client.post(ISSUE, json=body, headers=issuer.headers)
    assert response.status_code == 201, response.text


def test_a_json_body_over_the_route_cap_is_413(client: httpx.Client, issuer: Issuer) -> None:
    body = issuer.body()
    body["mailData"]["body"] = "x" * (300 * 1024)
    response = client.post(ISSUE, json=body, headers=issuer.headers)
    answer = assert_error(response, 413, "payload_too_large")
    assert "256 KiB" in answer["message"]


def test_template_routes_take_an_image_sized_body(client: httpx.Client, issuer: Issuer) -> None:
    # 400 KiB of JSON is over the ordinary cap but within the image routes' cap: the
    # answer is about the content, not the size.
    response = client.post(
        "/api/templates",
        json={"name": "T", "imageUrl": "A" * (400 * 1024), "dimensions": {}, "fields": []},
        headers=issuer.headers,
    )
    assert_error(response, 400, "validation_error")


# ---------------------------------------------------------------- paths, queries, cursors


@pytest.mark.parametrize(
    "path",
    [
        "/api/certificates/abc%00def",
        "/api/templates/%00",
        "/api/profile/organization/x%00",
        "/api/certificates?recipientEmail=a%00b",
        "/api/certificates?organizationId=%00",
        "/api/certificates?cursor=%00",
        "/api/templates?cursor=abc%00",
        "/api/nothing/%00",
    ],
)
def test_a_nul_in_a_path_or_query_is_400(client: httpx.Client, issuer: Issuer, path: str) -> None:
    response = client.get(path, headers=issuer.headers)
    assert_error(response, 400, "invalid_characters")
    without_key = client.get(path)
    assert_error(without_key, 400, "invalid_characters")


def _cursor(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        _cursor(["0001-01-01T00:00:00+01:00", "x"]),  # before year 1 in UTC
        _cursor(["9999-12-31T23:59:59-01:00", "x"]),  # after year 9999 in UTC
        _cursor(["2026-01-01T00:00:00+00:00", "x\u0000"]),
        _cursor(["2026-01-01T00:00:00\u0000", "x"]),
        _cursor([[[[[[[[["deep"]]]]]]]]]),
        _cursor(b"[" * 140),
        _cursor({"a": 1}),
        _cursor(["2026-01-01", "x"]),  # no time zone
        _cursor(["2026-13-01T00:00:00+00:00", "x"]),
        _cursor([1e308, "x"]),
        "",
    ],
)
@pytest.mark.parametrize(
    "path", ["/api/certificates", "/api/templates", "/api/profile/organization"]
)
def test_a_bad_cursor_is_400(client: httpx.Client, issuer: Issuer, path: str, cursor: str) -> None:
    response = client.get(path, params={"cursor": cursor}, headers=issuer.headers)
    if cursor == "":
        assert response.status_code == 200, response.text  # no cursor: the first page
        return
    body = assert_error(response, 400)
    assert body["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("name", ["issuedAfter", "issuedBefore"])
@pytest.mark.parametrize("value", ["yesterday", "", "2026-02-30", "99999-01-01", "\u00e9t\u00e9"])
def test_a_bad_date_filter_is_400(
    client: httpx.Client, issuer: Issuer, name: str, value: str
) -> None:
    response = client.get("/api/certificates", params={name: value}, headers=issuer.headers)
    body = assert_error(response, 400, "validation_error")
    assert body["errors"][0]["field"] == name


def test_invalid_percent_encoding_in_a_query_is_not_a_500(
    client: httpx.Client, issuer: Issuer
) -> None:
    response = client.get("/api/certificates?recipientEmail=%ff%fe", headers=issuer.headers)
    assert response.status_code in (200, 400), response.text


# ---------------------------------------------------------------- headers


def _assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" in response.headers
    assert "cache-control" in response.headers
    assert "server" not in response.headers
    for name in ("x-content-type-options", "x-frame-options", "cache-control"):
        assert response.headers.get_list(name) == [response.headers[name]], name


def test_every_kind_of_answer_carries_the_security_headers(
    client: httpx.Client, issuer: Issuer
) -> None:
    template = client.get(f"/api/templates/{issuer.template_id}", headers=issuer.headers)
    image = template.json()["data"]["imageUrl"]
    answers = {
        "json": client.get("/api/templates", headers=issuer.headers),
        "balance fast path": client.get("/api/users/balance", headers=issuer.headers),
        "error": client.get("/api/templates"),
        "404": client.get("/api/nothing"),
        "docs html": client.get("/docs"),
        "docs asset": client.get("/docs/assets/swagger-ui.css"),
        "openapi": client.get("/openapi.json"),
        "file": client.get(image),
        "healthz": client.get("/healthz"),
    }
    for what, response in answers.items():
        assert response.status_code < 500, what
        _assert_security_headers(response)
    assert answers["json"].headers["cache-control"] == "no-store"
    assert answers["balance fast path"].headers["cache-control"] == "no-store"
    assert answers["json"].headers["content-security-policy"] == "frame-ancestors 'none'"
    # Routes that set their own keep them.
    assert "immutable" in answers["file"].headers["cache-control"]
    assert "sandbox" in answers["file"].headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/docs/nothing", "/docs/assets/nothing.js", "/docs/x/y"])
def test_docs_404s_are_in_the_envelope(client: httpx.Client, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")


# ---------------------------------------------------------------- the HTTP layer itself


def _raw(server: str, request: bytes, *, wait: float = 5.0) -> bytes:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def test_unparseable_http_is_a_400_envelope(server: str) -> None:
    answer = _raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    assert b"application/json; charset=utf-8" in head
    assert b"x-content-type-options: nosniff" in head.lower()
    assert json.loads(body) == {
        "success": False,
        "message": "The request is not valid HTTP.",
        "code": "bad_request",
    }


@pytest.fixture(scope="module")
def slow_server(settings: Settings) -> Iterator[str]:
    port = _free_port()
    app = create_app(
        settings.model_copy(update={"port": port, **SMALL_POOL, "body_timeout_seconds": 0.5})
    )
    with serve(app, port) as url:
        yield url


def test_a_body_that_does_not_arrive_in_time_is_408(slow_server: str, make_account) -> None:
    key = make_account().api_key
    started = time.monotonic()
    answer = _raw(
        slow_server,
        b"POST /api/profile/organization HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"x-api-key: " + key.encode() + b'\r\nContent-Length: 100\r\n\r\n{"na',
    )
    assert time.monotonic() - started < 4
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert json.loads(body)["code"] == "request_timeout"


# ---------------------------------------------------------------- uploads and timeouts


@post("/api/_upload", opt=route_opt(body="upload"), security=SECURITY)
async def upload_probe(request: Request[Any, Any, Any], principal: PrincipalDep) -> dict[str, int]:
    """Stream the body to a temporary file, as upload routes do."""
    services = request.app.state.services
    spool = await spool_body(
        request.receive,
        limit=services.settings.max_body_bytes,
        seconds=services.settings.body_timeout_seconds,
    )
    with spool:
        return {"size": len(spool.read())}


@pytest.fixture(scope="module")
def upload_server(settings: Settings) -> Iterator[str]:
    port = _free_port()
    app = create_app(
        settings.model_copy(update={"port": port, **SMALL_POOL}), extra_handlers=[upload_probe]
    )
    with serve(app, port) as url:
        yield url


def test_upload_routes_take_larger_bodies_streamed(upload_server: str, make_account) -> None:
    headers = make_account().headers()
    size = 1536 * 1024  # over the JSON cap, under the upload cap (2 MiB in the tests)
    ok = httpx.post(f"{upload_server}/api/_upload", content=b"x" * size, headers=headers)
    assert ok.status_code == 201, ok.text
    assert ok.json() == {"size": size}

    def chunks() -> Iterator[bytes]:  # no Content-Length: metered while streamed
        for _ in range(48):
            yield b"x" * 65536

    too_big = httpx.post(f"{upload_server}/api/_upload", content=chunks(), headers=headers)
    assert_error(too_big, 413, "payload_too_large")
    assert "2 MiB" in too_big.json()["message"]
    unauthenticated = httpx.post(f"{upload_server}/api/_upload", content=b"x" * size)
    assert_error(unauthenticated, 401, "invalid_api_key")


def test_slow_headers_and_idle_connections_are_closed(
    settings: Settings, tmp_path, make_account
) -> None:
    env = {"AKOWE_HEADER_TIMEOUT_SECONDS": "1", "AKOWE_KEEP_ALIVE_SECONDS": "1"}
    with server_process(settings, tmp_path / "data", tmp_path / "log", **env) as server:
        started = time.monotonic()
        answer = _raw(server.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", wait=10)
        assert answer == b"" and time.monotonic() - started < 5  # closed, unanswered
        started = time.monotonic()
        answer = _raw(server.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", wait=10)
        assert answer.startswith(b"HTTP/1.1 200")
        assert time.monotonic() - started < 5  # the idle keep-alive connection closed
