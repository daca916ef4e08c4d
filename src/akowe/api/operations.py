"""Operations endpoints besides liveness (`/healthz`, akowe.main): readiness and metrics.

- `GET /readyz`: 200 when this process can serve: the database answers and its schema is
  one this code can use (akowe.db.migrate.schema_state), and the file store can be read and
  written. 503 (in the error envelope, `code: "not_ready"`) otherwise, saying which. Load
  balancers route on readiness; restart on liveness.
- `GET /metrics`: Prometheus text format (akowe.metrics); not part of the JSON API, so not
  in the OpenAPI document. Keep it off the public proxy (deploy/nginx.conf does).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import anyio.to_thread
from litestar import Response, get
from pydantic import BaseModel
from sqlalchemy.orm import Session

from akowe import __version__, metrics
from akowe.api.deps import ServicesDep
from akowe.api.openapi import answers
from akowe.db import migrate
from akowe.db.base import utcnow
from akowe.delivery import service as delivery_service
from akowe.errors import NotFound, ServiceError
from akowe.jobs import service as jobs_service
from akowe.schemas import Envelope


class NotReady(ServiceError):
    """This process cannot serve yet (database, schema or file store)."""

    code = "not_ready"
    status_code = 503
    default_message = "The service is not ready."
    retry_after = 5


class Readiness(BaseModel):
    """`{"status": "ready", "version", "revision", "database": "ok", "store": "ok"}`."""

    status: Literal["ready"]
    version: str
    revision: str | None
    database: Literal["ok"]
    store: Literal["ok"]


def _schema(session: Session) -> migrate.SchemaState:
    return migrate.schema_state(session.connection())


_ready_schema: migrate.SchemaState | None = None


@get("/readyz", tags=["Operations"], responses=answers(Envelope[Readiness], 503))
async def readyz(services: ServicesDep) -> dict[str, Any]:
    """Readiness: the database answers at a schema this release serves, and the file store
    answers (503 with the reason otherwise)."""
    global _ready_schema
    try:
        await services.db.ping()
    except ServiceError as exc:
        raise NotReady(f"The database is unreachable: {exc.message}") from exc
    schema = _ready_schema
    if schema is None:
        schema = await services.db.readonly(_schema)
        if not schema.ready:
            raise NotReady(f"The database schema is {schema.reason}.")
        # A schema this release serves stays so: migrations only move forward.
        _ready_schema = schema
    try:
        await anyio.to_thread.run_sync(services.store.ping)
    except ServiceError as exc:
        raise NotReady(exc.message) from exc
    data = {
        "status": "ready",
        "version": __version__,
        "revision": schema.revision,
        "database": "ok",
        "store": "ok",
    }
    return {"success": True, "message": "", "data": data}


def _stats(session: Session) -> tuple[list[metrics.OutboxStats], dict[str, int]]:
    return delivery_service.outbox_stats(session, now=utcnow()), jobs_service.row_stats(session)


@get("/metrics", include_in_schema=False)
async def metrics_endpoint(services: ServicesDep) -> Response[bytes]:
    """Prometheus metrics (text format 0.0.4)."""
    if not services.settings.metrics_enabled:
        raise NotFound()
    stats, bulk_rows = await services.db.readonly(_stats)
    body, content_type = await anyio.to_thread.run_sync(
        partial(metrics.exposition, services.settings.metrics_dir, stats, bulk_rows)
    )
    return Response(body, media_type=content_type)
