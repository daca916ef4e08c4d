"""The limiter routes use: one `hit` per request, headers for the response, 429 when spent.

A hit asks the shared store only now and then: each process leases a few tokens at a time
(`limit / 20`, at least one) from the store and spends them locally for a short while. A
process never admits more than the store granted it, so the limit holds across processes;
what a lease loses (tokens unspent when it lapses) is capacity given up, never exceeded.
With one token per lease (limits under 40 per window) every request asks the store.

Headers follow draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy: "key";q=100;w=1`
and `RateLimit: "key";r=<remaining>;t=<seconds until more room>`, plus `Retry-After` on a 429.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from akowe.config import Settings
from akowe.db.database import Database
from akowe.errors import TooManyRequests
from akowe.ratelimit.storage import DatabaseStorage

log = logging.getLogger("akowe.ratelimit")

Header = tuple[bytes, bytes]
LEASE_DIVISOR = 20
_MAX_LEASES = 50_000


@dataclass(frozen=True, slots=True)
class Policy:
    """One named limit: `key` (per API key) or `client` (per client address)."""

    name: str
    item: RateLimitItem

    @property
    def window(self) -> int:
        """The window in seconds."""
        return int(self.item.get_expiry())

    @property
    def header(self) -> Header:
        """`RateLimit-Policy`."""
        value = f'"{self.name}";q={self.item.amount};w={self.window}'
        return (b"ratelimit-policy", value.encode())

    @property
    def lease(self) -> int:
        """Tokens taken from the store at a time."""
        return max(1, self.item.amount // LEASE_DIVISOR)


@dataclass(slots=True)
class _Lease:
    tokens: int
    remaining: int  # what the store had left when the lease was taken
    reset_at: float  # epoch seconds when the store has room again
    until: float  # monotonic time the lease lapses
    refusal: Decision | None = None  # the store said no; answered again until `until`


@dataclass(frozen=True, slots=True)
class Decision:
    """What one hit decided, with the headers to answer."""

    allowed: bool
    headers: tuple[Header, ...]
    retry_after: int = 0

    def refusal(self) -> TooManyRequests:
        """The 429 to raise when not allowed."""
        return TooManyRequests(
            retry_after=self.retry_after,
            headers={name.decode(): value.decode() for name, value in self.headers},
        )


class Limiter:
    """Sliding window counters (the `limits` library) over a shared store, leased."""

    def __init__(self, storage: Any, *, key: Policy, client: Policy) -> None:
        self.storage = storage
        self.strategy = SlidingWindowCounterRateLimiter(storage)
        self.key = key
        self.client = client
        self._leases: dict[str, _Lease] = {}
        self._pending: dict[str, asyncio.Future[Decision | None]] = {}

    async def hit(self, policy: Policy, identity: str) -> Decision:
        """Spend one request of `identity` (a key id or a client address) under `policy`."""
        name = f"{policy.name}:{identity}"
        while True:
            lease = self._leases.get(name)
            if lease is not None and lease.until > time.monotonic():
                if lease.refusal is not None:
                    return lease.refusal  # refused a moment ago: no need to ask again yet
                if lease.tokens > 0:
                    lease.tokens -= 1
                    return self._allowed(policy, lease)
            pending = self._pending.get(name)
            if pending is None:
                break
            # One request per key asks the store at a time; the others wait for its lease
            # (a burst must not send the store one query per request).
            refused = await asyncio.shield(pending)
            if refused is not None:
                return refused
        future: asyncio.Future[Decision | None] = asyncio.get_running_loop().create_future()
        self._pending[name] = future
        decision: Decision | None = None
        try:
            decision = await self._take(policy, name)
        except Exception as exc:
            # The store is unreachable or saturated: serve rather than fail every request.
            log.warning(
                "rate limit store unavailable; request let through",
                extra={"error": f"{type(exc).__name__}: {exc}"},
            )
            decision = Decision(True, (policy.header,))
            # Until it answers again, each process admits up to the limit on its own.
            self._leases[name] = _Lease(
                tokens=policy.item.amount - 1,
                remaining=0,
                reset_at=time.time() + policy.window,
                until=time.monotonic() + policy.window / 4,
            )
        finally:
            del self._pending[name]
            # Waiters share a refusal; after a grant they take from the new lease.
            future.set_result(decision if decision is not None and not decision.allowed else None)
        return decision

    async def _take(self, policy: Policy, name: str) -> Decision:
        item, strategy = policy.item, self.strategy
        taken = policy.lease
        granted = await strategy.hit(item, name, cost=taken)
        if not granted and taken > 1:
            taken = 1
            granted = await strategy.hit(item, name)
        reset_at, remaining = await strategy.get_window_stats(item, name)
        if not granted:
            retry_after = max(1, math.ceil(reset_at - time.time()))
            headers = (policy.header, _state(policy, 0, retry_after))
            refusal = Decision(False, headers, retry_after)
            # A client over its limit keeps asking: answer from here for a short while.
            self._leases[name] = _Lease(
                tokens=0,
                remaining=0,
                reset_at=reset_at,
                until=time.monotonic() + min(retry_after, policy.window) / 4,
                refusal=refusal,
            )
            return refusal
        if len(self._leases) >= _MAX_LEASES:
            self._prune()
        lease = _Lease(
            tokens=taken - 1,
            remaining=remaining,
            reset_at=reset_at,
            until=time.monotonic() + policy.window / 4,
        )
        self._leases[name] = lease
        return self._allowed(policy, lease)

    def _allowed(self, policy: Policy, lease: _Lease) -> Decision:
        reset = max(0, math.ceil(lease.reset_at - time.time()))
        return Decision(
            True, (policy.header, _state(policy, lease.remaining + lease.tokens, reset))
        )

    def _prune(self) -> None:
        now = time.monotonic()
        for name in [n for n, lease in self._leases.items() if lease.until <= now]:
            del self._leases[name]

    async def close(self) -> None:
        """Release the store's connections (Redis)."""
        close = getattr(self.storage, "aclose", None) or getattr(self.storage, "close", None)
        if close is not None and not isinstance(self.storage, DatabaseStorage):
            result = close()
            if hasattr(result, "__await__"):
                await result


def _state(policy: Policy, remaining: int, reset: int) -> Header:
    return (b"ratelimit", f'"{policy.name}";r={remaining};t={reset}'.encode())


def storage_kind(settings: Settings, db: Database) -> str:
    """Where counters live: the setting, or for `auto` Redis when configured, the database
    on PostgreSQL (deployments that run several processes), memory on SQLite."""
    if settings.rate_limit_storage != "auto":
        return settings.rate_limit_storage
    if settings.redis_url is not None:
        return "redis"
    return "memory" if db.is_sqlite else "database"


def make_limiter(settings: Settings, db: Database) -> Limiter:
    """The limiter the settings describe."""
    kind = storage_kind(settings, db)
    storage: Any
    if kind == "redis":
        if settings.redis_url is None:
            raise ValueError("AKOWE_RATE_LIMIT_STORAGE=redis needs AKOWE_REDIS_URL")
        storage = storage_from_string(
            "async+" + settings.redis_url.get_secret_value(),
            implementation="redispy",
            key_prefix="akowe",
        )
    elif kind == "database":
        storage = DatabaseStorage(db)
    else:
        storage = storage_from_string("async+memory://")
    return Limiter(
        storage,
        key=Policy("key", parse_limit(settings.rate_limit, "AKOWE_RATE_LIMIT")),
        client=Policy("client", parse_limit(settings.public_rate_limit, "AKOWE_PUBLIC_RATE_LIMIT")),
    )


def parse_limit(value: str, setting: str) -> RateLimitItem:
    """`100/second`, `6000 per minute`, ... (refused at start-up when unreadable)."""
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"{setting}={value!r} is not a rate like 100/second") from exc
