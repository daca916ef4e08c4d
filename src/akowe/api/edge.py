"""The edge: what every request meets before a handler reads anything.

Two layers, both plain ASGI:

- `edge_middleware` wraps the whole app (the balance fast path included): it refuses NUL
  bytes in the path and query string (the same 400 on SQLite and PostgreSQL, before any
  query sees them) and adds the security headers to every response (JSON, HTML, files, docs).
- `edge_guard` is Litestar middleware, so it runs once the route is known and before the
  handler's parameters are parsed. In this order: authenticate the key on keyed routes (a
  missing or bad key is 401 whatever the body holds; the principal is kept for the
  `principal` dependency), spend one request of the rate limit (429), then read the body
  under the route's size cap and time limit (413, 408) and check a JSON body's encoding,
  depth and NUL escapes (400) before anything parses it.

Routes declare what differs from the defaults with `route_opt(...)` in their `opt`:

    @post("/fonts", opt=route_opt(body="upload"))            # large cap, streamed
    @get("/verify/{id:str}", opt=route_opt(rate_limit="client"))  # public: per address

Body classes: `json` (default, `AKOWE_MAX_JSON_BODY_BYTES`), `image` (JSON that embeds an
image, `AKOWE_MAX_IMAGE_BODY_BYTES`), `upload` (files, `AKOWE_MAX_BODY_BYTES`; the body is
not read here but metered as the handler streams it, e.g. with `spool_body`). Keyed routes
(those with a security requirement) are limited per key; others only when they opt in.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from litestar.types import ASGIApp
from litestar.utils.scope.state import ScopeState

from akowe.accounts import service as accounts_service
from akowe.accounts.service import WithKey
from akowe.api.deps import note_authenticated
from akowe.api.openapi import BODY_OPT, RATE_LIMIT_OPT
from akowe.config import Settings
from akowe.db.base import utcnow
from akowe.errors import PayloadTooLarge, ServiceError, ValidationFailed
from akowe.ratelimit.limiter import Limiter, Policy

BodyClass = Literal["json", "image", "upload"]
RateLimitClass = Literal["key", "client", "none"]
MAX_JSON_DEPTH = 32

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# Added when a route did not set its own: API answers are private and never framed.
_ADDED = (
    *SECURITY_HEADERS,
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
)
_NUL_QUERY = re.compile(rb"%00|\x00")
# A `\u0000` escape not itself escaped (an odd number of backslashes before the `u`).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def route_opt(
    *, body: BodyClass | None = None, rate_limit: RateLimitClass | None = None
) -> dict[str, Any]:
    """The `opt` of a route that needs a larger body or another rate limit than usual."""
    opt: dict[str, Any] = {}
    if body is not None:
        opt[BODY_OPT] = body
    if rate_limit is not None:
        opt[RATE_LIMIT_OPT] = rate_limit
    return opt


class MalformedRequest(ValidationFailed):
    """The request cannot be read as sent (encoding, nesting, NUL bytes)."""

    code = "malformed_request"


class RequestTimeout(ServiceError):
    """The body did not arrive in time: answered, then the connection is closed."""

    code = "request_timeout"
    status_code = 408
    default_message = "The request body did not arrive in time."
    headers = {"Connection": "close"}


# ------------------------------------------------------------------ outer layer


def edge_middleware(app: ASGIApp) -> ASGIApp:
    """Refuse NUL bytes in the path or query, add security headers to every response."""

    async def edge(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if "\x00" in scope["path"] or _NUL_QUERY.search(scope["query_string"]):
            await _answer(send, 400, _NUL_BODY)
            return

        replaced = False

        async def secured(message: Any) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start":
                headers = message.get("headers") or ()
                if message["status"] == 404 and not _is_ours(headers):
                    # The framework's own pages (docs, static files) answer 404 in HTML;
                    # our own pages (which set their own content policy) are kept.
                    replaced = True
                    await _answer(send, 404, _NOT_FOUND_BODY)
                    return
                message["headers"] = secure_headers(headers)
            elif replaced:
                return
            await send(message)

        await app(scope, receive, secured)

    return edge


def secure_headers(headers: Any) -> list[tuple[bytes, bytes]]:
    """`headers` with the security headers a route did not set itself added."""
    out = list(headers)
    present = {name.lower() for name, _ in out}
    out.extend(header for header in _ADDED if header[0] not in present)
    return out


_NUL_BODY = (
    b'{"success":false,"message":"The request contains a NUL character (\\\\u0000 or %00), '
    b'which no field accepts.","code":"invalid_characters"}'
)


def _is_ours(headers: Any) -> bool:
    """A JSON answer, or a page of ours (akowe.web sets its content security policy)."""
    return any(
        (name.lower() == b"content-type" and b"json" in value)
        or name.lower() == b"content-security-policy"
        for name, value in headers
    )


_NOT_FOUND_BODY = (
    b'{"success":false,"message":"The requested resource could not be found","code":"not_found"}'
)


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send(
        {"type": "http.response.start", "status": status, "headers": secure_headers(headers)}
    )
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------ route layer


@dataclass(frozen=True, slots=True)
class _Rule:
    keyed: bool
    body: BodyClass
    rate_limit: RateLimitClass


def _rule(handler: Any) -> _Rule:
    opt = handler.opt or {}
    keyed = bool(handler.resolve_security())
    body: BodyClass = opt.get(BODY_OPT, "json")
    rate_limit: RateLimitClass = opt.get(RATE_LIMIT_OPT, "key" if keyed else "none")
    return _Rule(keyed=keyed, body=body, rate_limit=rate_limit)


def body_limit(settings: Settings, body: BodyClass) -> int:
    """The byte cap of a body class."""
    if body == "upload":
        return settings.max_body_bytes
    if body == "image":
        return settings.max_image_body_bytes
    return settings.max_json_body_bytes


def edge_guard(app: ASGIApp) -> ASGIApp:
    """Litestar middleware: authenticate, rate-limit, then read and check the body."""
    rule: _Rule | None = None

    async def guard(scope: Any, receive: Any, send: Any) -> None:
        nonlocal rule
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if rule is None:
            rule = _rule(scope["route_handler"])
        services = scope["litestar_app"].state.services
        settings: Settings = services.settings
        state = scope.setdefault("state", {})
        if rule.keyed:
            headers = _headers(scope)
            auth = await accounts_service.authenticate(
                services.db,
                raw_key=headers.get("x-api-key"),
                subaccount_email=headers.get("x-subaccount-email"),
                now=utcnow(),
                touch_after=timedelta(seconds=settings.key_last_used_resolution_seconds),
                prefetch=_prefetch(services, scope),
            )
            note_authenticated(scope, services.db, auth)
            state["principal"] = auth.principal
        extra: tuple[tuple[bytes, bytes], ...] = ()
        if rule.rate_limit != "none":
            limiter: Limiter = services.limiter
            policy: Policy
            if rule.rate_limit == "key" and "principal" in state:
                policy, identity = limiter.key, state["principal"].key_id
            else:
                policy, identity = limiter.client, _client(scope)
            decision = await limiter.hit(policy, identity)
            if not decision.allowed:
                raise decision.refusal()
            extra = decision.headers
        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and _has_body(scope):
            limit = body_limit(settings, rule.body)
            length = _content_length(scope)
            if length is not None and length > limit:
                raise _too_large(limit)
            if rule.body == "upload":
                receive = _metered(receive, limit, settings.body_timeout_seconds)
            else:
                body = await _read_body(receive, limit, settings.body_timeout_seconds)
                check_json(body)
                ScopeState.from_scope(scope).body = body
        if extra:
            original = send

            async def send(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*(message.get("headers") or ()), *extra]
                await original(message)

        await app(scope, receive, send)

    return guard


_READS = frozenset(("GET", "HEAD"))


def _prefetch(services: Any, scope: Any) -> tuple[WithKey, str] | None:
    """The resource of the route's path read with the key (`Services.with_key`: by path
    parameter, e.g. every `{certificateId}` route), on PostgreSQL, for reads only: a route
    that changes the resource reads it again afterwards, and must see the change."""
    if not services.with_key or services.db.is_sqlite or scope["method"] not in _READS:
        return None
    for name, value in scope["path_params"].items():
        spec = services.with_key.get(name)
        if spec is not None and isinstance(value, str):
            return spec, value
    return None


def _headers(scope: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in (b"x-api-key", b"x-subaccount-email"):
            out[name.decode()] = value.decode("latin-1")
    return out


def _client(scope: Any) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _has_body(scope: Any) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


def _content_length(scope: Any) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                raise MalformedRequest("The Content-Length header is not a number.") from None
    return None


def _too_large(limit: int) -> PayloadTooLarge:
    error = PayloadTooLarge(f"The request body is too large (at most {_size(limit)} here).")
    # The client is still sending: close the connection instead of reading it all.
    error.headers = {"Connection": "close"}
    return error


def _size(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MiB"
    return f"{limit / 1024:g} KiB"


async def _read_body(receive: Any, limit: int, seconds: float) -> bytes:
    """The whole body, refused past `limit` bytes or `seconds`."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise MalformedRequest("The client disconnected before sending the body.")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise RequestTimeout() from None
    return b"".join(chunks)


def _metered(receive: Any, limit: int, timeout: float) -> Any:
    """`receive` that refuses a body past `limit` bytes or a chunk slower than `timeout`."""
    size = 0

    async def metered() -> Any:
        nonlocal size
        try:
            async with asyncio.timeout(timeout):
                message = await receive()
        except TimeoutError:
            raise RequestTimeout() from None
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise _too_large(limit)
        return message

    return metered


def check_json(body: bytes) -> None:
    """Refuse a JSON body that is not UTF-8, nests deeper than MAX_JSON_DEPTH or holds a NUL
    escape, with a 400 saying which (the parser would otherwise fail deep inside)."""
    if not body:
        return
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("The request body is not valid UTF-8.") from None
    if b"\\u0000" in body and _NUL_ESCAPE.search(body):
        raise MalformedRequest(
            "The request contains a NUL character (\\u0000 or %00), which no field accepts."
        )
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    structure = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in structure:
        if byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise MalformedRequest(
                    f"The request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)."
                )
        else:
            depth -= 1


async def spool_body(
    receive: Any, *, limit: int, seconds: float, memory: int = 1024 * 1024
) -> tempfile.SpooledTemporaryFile[bytes]:
    """Stream a request body into a temporary file (in memory up to `memory` bytes, then on
    disk), refused past `limit` bytes or a chunk slower than `seconds`: for upload routes
    (`request.receive`), so a file is never held whole in memory."""
    # Handed to the caller open (it reads and closes it); closed here only on failure.
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=memory
    )
    size = 0
    try:
        while True:
            try:
                async with asyncio.timeout(seconds):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout() from None
            if message["type"] == "http.disconnect":
                raise MalformedRequest("The client disconnected before sending the body.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            spool.write(chunk)
            if not message.get("more_body", False):
                break
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool
