"""Rate limits: per key on every keyed route (the balance fast path included), per client
address on routes that opt in, 429 in the envelope with Retry-After, the IETF RateLimit
headers on every keyed answer, and one limit shared by every process (database or Redis)."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar import get

from akowe.api.edge import route_opt
from akowe.config import Settings
from akowe.main import create_app
from tests.conftest import SMALL_POOL, _free_port, serve
from tests.processes import server_process

STATE = re.compile(r'^"key";r=(\d+);t=(\d+)$')


# The `limits` windows are whole minutes since the epoch, the same in every process. A run
# that straddles two of them is weighed by the sliding window counter (the last window's count
# times the part of it still in view), which right after the edge lets one more request in
# than the limit, and fewer later (CI once saw a fourth of three admitted): the tests that
# count exactly start in a window with time enough left for their requests.
WINDOW_SECONDS = 60


def inside_one_window(seconds: float) -> float:
    """Wait, if need be, until a window starts with at least `seconds` of it left; its
    number."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < seconds:
        time.sleep(left + 0.2)
    return time.time() // WINDOW_SECONDS


@get("/api/_public", opt=route_opt(rate_limit="client"), sync_to_thread=False)
def public_probe() -> dict[str, bool]:
    return {"success": True}


@pytest.fixture(scope="module")
def limited(settings: Settings) -> Iterator[str]:
    port = _free_port()
    config = settings.model_copy(
        update={
            "port": port,
            **SMALL_POOL,
            "rate_limit": "5/minute",
            "public_rate_limit": "3/minute",
        }
    )
    with serve(create_app(config, extra_handlers=[public_probe]), port) as url:
        yield url


def test_every_keyed_answer_carries_the_ratelimit_headers(client: httpx.Client, account) -> None:
    answers = [
        client.get("/api/templates", headers=account.headers()),
        client.get("/api/users/balance", headers=account.headers()),  # the fast path
        client.post("/api/users/balance", headers=account.headers(), content=b"x"),  # the route
        client.get("/api/templates/nope", headers=account.headers()),
        client.post("/api/profile/organization", headers=account.headers(), json={}),
    ]
    for response in answers:
        assert response.headers["ratelimit-policy"] == '"key";q=100;w=1', response.request.url
        assert STATE.match(response.headers["ratelimit"]), response.headers["ratelimit"]
    assert [r.status_code for r in answers] == [200, 200, 200, 404, 400]
    # Unkeyed routes are not limited per key.
    assert "ratelimit" not in client.get("/healthz").headers


def test_over_the_limit_is_429_with_retry_after(limited: str, make_account) -> None:
    account = make_account()
    other = make_account()
    window = inside_one_window(5)
    with httpx.Client(base_url=limited, headers=account.headers()) as http:
        remaining = []
        # The fast path and ordinary routes spend the same allowance.
        for path in (
            "/api/users/balance",
            "/api/templates",
            "/api/users/balance",
            "/api/templates",
        ):
            response = http.get(path)
            assert response.status_code == 200
            remaining.append(int(STATE.match(response.headers["ratelimit"]).group(1)))
        assert remaining == [4, 3, 2, 1]
        assert http.get("/api/certificates").status_code == 200
        for path in ("/api/users/balance", "/api/templates", "/api/certificates/issue"):
            refused = http.request("POST" if "issue" in path else "GET", path)
            assert refused.status_code == 429, path
            assert refused.json() == {
                "success": False,
                "message": "Too many requests. Please slow down.",
                "code": "rate_limited",
            }
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            assert refused.headers["ratelimit-policy"] == '"key";q=5;w=60'
            assert STATE.match(refused.headers["ratelimit"]).group(1) == "0"
    assert time.time() // WINDOW_SECONDS == window, "the run took longer than planned"
    # Another key is not affected.
    assert httpx.get(f"{limited}/api/templates", headers=other.headers()).status_code == 200


def test_a_bad_key_is_401_before_any_limit(limited: str) -> None:
    for _ in range(8):
        response = httpx.get(f"{limited}/api/templates", headers={"x-api-key": "live-x"})
        assert response.status_code == 401


def test_public_routes_can_limit_per_client_address(limited: str) -> None:
    window = inside_one_window(5)
    statuses = [httpx.get(f"{limited}/api/_public").status_code for _ in range(5)]
    refused = httpx.get(f"{limited}/api/_public")
    assert time.time() // WINDOW_SECONDS == window, "the run took longer than planned"
    assert statuses == [200, 200, 200, 429, 429]
    assert refused.headers["ratelimit-policy"] == '"client";q=3;w=60'
    assert refused.headers["retry-after"]


def _spend(urls: list[str], key: str, total: int) -> int:
    """Send `total` requests round-robin over the servers; count the admitted ones."""
    clients = [httpx.Client(base_url=url, headers={"x-api-key": key}) for url in urls]
    try:
        admitted = 0
        for n in range(total):
            status = clients[n % len(clients)].get("/api/templates").status_code
            assert status in (200, 429), status
            admitted += status == 200
        return admitted
    finally:
        for c in clients:
            c.close()


RUN_SECONDS = 15  # at most, for 60 requests (about 1 s alone)


def _two_processes(settings: Settings, tmp_path: Path, make_account, **env: str) -> tuple[int, int]:
    account = make_account()
    with (
        server_process(settings, tmp_path / "a", tmp_path / "a.log", **env) as first,
        server_process(settings, tmp_path / "b", tmp_path / "b.log", **env) as second,
    ):
        window = inside_one_window(RUN_SECONDS)
        admitted = _spend([first.url, second.url], account.api_key, 60)
        assert time.time() // WINDOW_SECONDS == window, "the run took longer than planned"
        assert "Traceback" not in (tmp_path / "a.log").read_text()
    return admitted, 60


def test_two_processes_share_one_limit_in_the_database(
    settings: Settings, tmp_path: Path, make_account
) -> None:
    admitted, _ = _two_processes(
        settings,
        tmp_path,
        make_account,
        AKOWE_RATE_LIMIT="20/minute",
        AKOWE_RATE_LIMIT_STORAGE="database",
    )
    assert admitted == 20, admitted  # one shared allowance (two separate ones would admit 40)


REDIS = os.environ.get("AKOWE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_up() -> bool:
    host, port = REDIS.removeprefix("redis://").split("/")[0].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def test_two_processes_share_one_limit_in_redis(
    settings: Settings, tmp_path: Path, make_account
) -> None:
    if not _redis_up():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI ({REDIS})")
        pytest.skip(f"Redis at {REDIS} is unreachable")
    admitted, _ = _two_processes(
        settings, tmp_path, make_account, AKOWE_RATE_LIMIT="20/minute", AKOWE_REDIS_URL=REDIS
    )
    assert admitted == 20, admitted


def test_a_burst_asks_the_store_once_per_lease() -> None:
    """Concurrent requests of one key share one store query (and its refusal)."""
    import asyncio

    from limits import parse
    from limits.aio.storage import MemoryStorage

    from akowe.ratelimit.limiter import Limiter, Policy

    class Counting(MemoryStorage):
        asked = 0

        async def acquire_sliding_window_entry(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            Counting.asked += 1
            return await super().acquire_sliding_window_entry(*args, **kwargs)

    async def burst() -> list[bool]:
        limiter = Limiter(
            Counting(),
            key=Policy("key", parse("100/minute")),
            client=Policy("client", parse("1/second")),
        )
        first = await asyncio.gather(*(limiter.hit(limiter.key, "k") for _ in range(5)))
        over = await asyncio.gather(*(limiter.hit(limiter.key, "k") for _ in range(200)))
        return [d.allowed for d in (*first, *over)]

    allowed = asyncio.run(burst())
    assert sum(allowed) == 100  # exactly the limit, leases of 5 included
    assert Counting.asked <= 100 // 5 + 3, Counting.asked
