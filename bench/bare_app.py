"""Baselines: bare Starlette endpoints (no auth, no database) and, for PostgreSQL, the same
endpoints running akowe's queries through a psycopg async pool.

`app` answers the balance JSON. `replay_app` answers, on each path, the exact bytes that akowe
answered there (recorded by bench/api.py into the file named by BENCH_REPLAY). `pg_app` does
the same after running akowe's queries for that path (key row, then the balance or
certificate row) on the database named by BENCH_PG_URL, through a psycopg async pool.
"""

from __future__ import annotations

import base64
import json
import os
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def balance(request: Request) -> JSONResponse:
    return JSONResponse({"success": True, "data": {"balance": 10}})


app = Starlette(routes=[Route("/api/users/balance", balance)])


def _recorded() -> dict[str, tuple[bytes, str]]:
    path = os.environ.get("BENCH_REPLAY")
    if not path:
        return {}
    with open(path) as handle:
        raw: dict[str, Any] = json.load(handle)
    return {p: (base64.b64decode(v["body"]), v["contentType"]) for p, v in raw.items()}


RECORDED = _recorded()


def _replay(request: Request) -> Response:
    body, media_type = RECORDED[request.url.path]
    return Response(body, media_type=media_type)


async def replay(request: Request) -> Response:
    return _replay(request)


replay_app = Starlette(routes=[Route(path, replay) for path in RECORDED])

# ---------------------------------------------------------------- PostgreSQL baseline

KEY_SQL = (
    "SELECT account_id, mode, format_version, secret_hash, expires_at, revoked_at, last_used_at"
    " FROM api_key WHERE id = %s"
)
BALANCE_SQL = "SELECT balance FROM credit_balance WHERE account_id = %s AND mode = %s"
CERTIFICATE_SQL = "SELECT * FROM certificate WHERE id = %s AND account_id = %s AND mode = %s"


def _key_id(request: Request) -> str:
    # live-<keyId 36>-0-<secret>: the key id is characters 5..41.
    return request.headers["x-api-key"][5:41]


@asynccontextmanager
async def _pool(app: Starlette):  # type: ignore[no-untyped-def]
    from psycopg_pool import AsyncConnectionPool

    url = os.environ["BENCH_PG_URL"]
    async with AsyncConnectionPool(url, min_size=10, max_size=10, open=True) as pool:
        app.state.pool = pool
        yield


async def pg_balance(request: Request) -> Response:
    async with request.app.state.pool.connection() as conn:
        key = await (await conn.execute(KEY_SQL, (_key_id(request),))).fetchone()
        await (await conn.execute(BALANCE_SQL, (key[0], key[1]))).fetchone()
    return _replay(request)


async def pg_certificate(request: Request) -> Response:
    async with request.app.state.pool.connection() as conn:
        key = await (await conn.execute(KEY_SQL, (_key_id(request),))).fetchone()
        certificate_id = request.path_params["certificate_id"]
        await (await conn.execute(CERTIFICATE_SQL, (certificate_id, key[0], key[1]))).fetchone()
    return _replay(request)


pg_app = Starlette(
    routes=[
        Route("/api/users/balance", pg_balance),
        Route("/api/certificates/{certificate_id}", pg_certificate),
    ],
    lifespan=_pool,
)
