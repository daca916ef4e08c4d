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
    if not path or not os.path.getsize(path):
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


def _plans() -> tuple[Any, Any, Any]:
    # The very statements akowe runs (compiled for psycopg): the key row joined with the
    # balance (the balance endpoint's one query), the key row, the certificate row.
    from sqlalchemy.dialects.postgresql import psycopg

    from akowe.accounts.service import KEY_BY_ID
    from akowe.certificates.service import CERTIFICATE_BY_ID
    from akowe.credits.service import KEY_WITH_BALANCE

    dialect = psycopg.dialect()
    key_with_balance, key, certificate = (
        q.plan(dialect) for q in (KEY_WITH_BALANCE, KEY_BY_ID, CERTIFICATE_BY_ID(False))
    )
    return key_with_balance, key, certificate


KEY_WITH_BALANCE, KEY, CERTIFICATE = _plans()


def _key_id(request: Request) -> str:
    # live-<keyId 36>-0-<secret>: the key id is characters 5..41.
    return request.headers["x-api-key"][5:41]


@asynccontextmanager
async def _pool(app: Starlette):  # type: ignore[no-untyped-def]
    from psycopg_pool import AsyncConnectionPool

    url = os.environ["BENCH_PG_URL"]
    kwargs = {"autocommit": True, "prepare_threshold": 0}
    async with AsyncConnectionPool(url, min_size=10, max_size=10, kwargs=kwargs) as pool:
        app.state.pool = pool
        yield


async def pg_balance(request: Request) -> Response:
    async with request.app.state.pool.connection() as conn:
        arguments = KEY_WITH_BALANCE.arguments({"key_id": _key_id(request)})
        cursor = await conn.execute(KEY_WITH_BALANCE.sql, arguments)
        await cursor.fetchone()
    return _replay(request)


async def pg_certificate(request: Request) -> Response:
    async with request.app.state.pool.connection() as conn:
        arguments = KEY.arguments({"key_id": _key_id(request)})
        key = await (await conn.execute(KEY.sql, arguments)).fetchone()
        arguments = CERTIFICATE.arguments(
            {
                "certificate_id": request.path_params["certificate_id"],
                "account_id": key[0],
                "mode": key[1],
            }
        )
        await (await conn.execute(CERTIFICATE.sql, arguments)).fetchone()
    return _replay(request)


pg_app = Starlette(
    routes=[
        Route("/api/users/balance", pg_balance),
        Route("/api/certificates/{certificate_id}", pg_certificate),
    ],
    lifespan=_pool,
)
