"""Webhook deliveries: signed POSTs to customer URLs, guarded like template image fetches.

Every POST carries `Akowe-Signature: t=<unix seconds>,v1=<hex>` where `v1` is
HMAC-SHA256(secret, f"{t}.{body}"), plus `Akowe-Event-Id` (the same for every retry of an
event, so receivers can drop duplicates) and `Akowe-Event`. Receivers verify like this::

    import hashlib, hmac, time

    def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
        parts = dict(item.split("=", 1) for item in header.split(","))
        signed = parts["t"].encode() + b"." + body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        fresh = abs(time.time() - int(parts["t"])) <= tolerance
        return fresh and hmac.compare_digest(expected, parts["v1"])
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Protocol

import httpx

from akowe.outbound import FetchRefused, GuardedClient, parse_url, vet

SIGNATURE_HEADER = "Akowe-Signature"
EVENT_ID_HEADER = "Akowe-Event-Id"
EVENT_HEADER = "Akowe-Event"
SIGNATURE_TOLERANCE_SECONDS = 300

VERIFY_SNIPPET = '''```python
import hashlib, hmac, time

def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """`header` is the Akowe-Signature value; `body` the raw request body."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    signed = parts["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(parts["t"])) <= tolerance
    return fresh and hmac.compare_digest(expected, parts["v1"])
```'''


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Akowe-Signature` header value for `body` sent at `timestamp`."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    secret: str, body: bytes, header: str, tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """Whether `header` signs `body` with `secret` and is recent (the documented check)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return abs(time.time() - timestamp) <= tolerance and hmac.compare_digest(expected, given)


def vet_url(url: str, *, allow_private: bool) -> None:
    """Refuse (FetchRefused) a URL that is not http(s) or not on a public address."""
    vet(parse_url(url), allow_private=allow_private)


class DeliveryFailed(Exception):
    """A delivery attempt failed; `permanent` ones are not retried. The message is safe to store."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One POST: where, what, and the secret to sign it with."""

    url: str
    body: bytes
    secret: str
    event: str
    event_id: str
    delivery_id: str


class WebhookSender(Protocol):
    """POSTs one signed event; raises DeliveryFailed unless the receiver answered 2xx."""

    def post(self, request: WebhookRequest) -> int:
        """The receiver's status code (2xx), or DeliveryFailed."""
        ...


class HttpWebhookSender:
    """The real sender: vetted address, no redirects, a timeout, one signature per attempt."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.client = GuardedClient(
            allow_private=allow_private, transport=transport, user_agent="akowe-webhooks"
        )

    def post(self, request: WebhookRequest) -> int:
        """POST the event to the vetted address with the hostname in Host and SNI."""
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(request.secret, request.body, timestamp),
            EVENT_ID_HEADER: request.event_id,
            EVENT_HEADER: request.event,
            "Akowe-Delivery-Id": request.delivery_id,
        }
        try:
            response = self.client.send(
                "POST", request.url, timeout=self.timeout, headers=headers, content=request.body
            )
        except FetchRefused as exc:
            raise DeliveryFailed(str(exc), permanent=not exc.transient) from exc
        response.close()
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"the endpoint answered HTTP {response.status_code}")
        return response.status_code

    def close(self) -> None:
        """Close pooled connections."""
        self.client.close()
