"""create_app(settings): the Litestar app with routers, error handlers and middleware."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
from litestar import Litestar, Request, get
from litestar.datastructures import CacheControlHeader, State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.pydantic import PydanticPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, ControllerRouterHandler
from pydantic import BaseModel

from akowe import __version__, metrics
from akowe.api.balance_fastpath import balance_fast_path
from akowe.api.base_path import v1_base_path
from akowe.api.deps import DEPENDENCIES, Services, ServicesDep
from akowe.api.edge import edge_guard, edge_middleware
from akowe.api.errors import EXCEPTION_HANDLERS
from akowe.api.examples import EXAMPLES, NAMED_EXAMPLES
from akowe.api.logging import configure_logging, request_log_middleware
from akowe.api.memory import return_freed_memory, share_the_gil
from akowe.api.openapi import (
    SECURITY_COMPONENTS,
    answers,
    document_edge,
    document_examples,
    document_rules,
    document_subaccount_header,
)
from akowe.api.operations import metrics_endpoint, readyz
from akowe.audit.router import router as audit_router
from akowe.certificates.renders import RenderCache, RenderGate
from akowe.certificates.router import WITH_KEY as CERTIFICATE_WITH_KEY
from akowe.certificates.router import router as certificates_router
from akowe.certificates.schemas import CORRECTION_REQUEST_RULES, ISSUE_REQUEST_RULES
from akowe.certificates.service import Links
from akowe.config import Settings
from akowe.credits.router import router as credits_router
from akowe.db.database import Database
from akowe.delivery.router import WEBHOOKS_DESCRIPTION
from akowe.delivery.router import router as webhooks_router
from akowe.delivery.worker import DeliveryWorker
from akowe.fonts.router import router as fonts_router
from akowe.jobs.router import bulk_router, document_bulk
from akowe.jobs.router import router as jobs_router
from akowe.jobs.worker import JobWorker
from akowe.organizations.router import router as organizations_router
from akowe.outbound import GuardedClient, make_fetcher
from akowe.ratelimit.limiter import make_limiter
from akowe.schemas import Envelope
from akowe.signing import router as signing_router
from akowe.signing import service as signing_service
from akowe.storage.router import get_file
from akowe.storage.store import make_store
from akowe.templates.preview import router as preview_router
from akowe.templates.router import router as templates_router
from akowe.verification.router import router as verification_router
from akowe.verification.service import ReportCache, guarded_fetcher
from akowe.verification.vc_api import router as vc_api_router
from akowe.web.router import router as web_router

DOCS_ASSETS = "/docs/assets"
# Swagger UI 5 (the first to read OpenAPI 3.1) as shipped by the swagger-ui-py package; only
# its static files are used, so it is located rather than imported.
SWAGGER_UI_FILES = Path(find_spec("swagger_ui").submodule_search_locations[0]) / "static"  # type: ignore[union-attr,index]


class Health(BaseModel):
    """`{"status": "ok", "version": "0.1.0"}`."""

    status: Literal["ok"]
    version: str


@get("/healthz", include_in_schema=True, tags=["Operations"], responses=answers(Envelope[Health]))
async def healthz(services: ServicesDep) -> dict[str, Any]:
    """Liveness: the process answers and reaches its database (readiness: `/readyz`)."""
    await services.db.ping()
    return {"success": True, "message": "", "data": {"status": "ok", "version": __version__}}


@get("/openapi.json", sync_to_thread=False, include_in_schema=False)
def openapi_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The OpenAPI document (also at /docs/openapi.json)."""
    return request.app.openapi_schema.to_schema()


def create_app(
    settings: Settings | None = None, *, extra_handlers: Sequence[ControllerRouterHandler] = ()
) -> ASGIApp:
    """Build the application for these settings (read from the environment when omitted)."""
    settings = settings or Settings()
    app = build_litestar(settings, extra_handlers=extra_handlers)
    # Outermost: every request is logged (and counted), unknown routes included; then the
    # edge (NUL bytes, security headers) for every answer, the balance fast path's too.
    # `/v1/api/...` is rewritten to `/api/...` before anything routes (Akowe documents both
    # base URLs).
    observe = metrics.observe_request if settings.metrics_enabled else None
    return request_log_middleware(v1_base_path(edge_middleware(balance_fast_path(app))), observe)


def build_litestar(
    settings: Settings, *, extra_handlers: Sequence[ControllerRouterHandler] = ()
) -> Litestar:
    """The Litestar application alone (create_app adds the edge middleware and fast path)."""
    configure_logging(settings.log_level)
    return_freed_memory()
    share_the_gil()
    # Refuses to build without a secret key: nothing could be signed.
    signer = signing_service.Signer.from_settings(settings)
    db = Database(settings)
    # DID documents and status lists of other issuers, for uploaded credentials.
    remote_client = GuardedClient(
        allow_private=settings.allow_private_urls, user_agent="akowe-verifier"
    )
    services = Services(
        settings=settings,
        db=db,
        store=make_store(settings),
        fetcher=make_fetcher(settings),
        links=Links(settings.public_base_url),
        render_cache=RenderCache(
            settings.data_dir / "renders", max_bytes=settings.render_cache_bytes
        ),
        render_gate=RenderGate(
            slots=settings.render_threads,
            per_account=settings.render_per_account,
            queue=settings.render_queue,
        ),
        limiter=make_limiter(settings, db),
        signer=signer,
        reports=ReportCache(),
        remote=guarded_fetcher(remote_client),
        with_key=CERTIFICATE_WITH_KEY,
    )
    # The delivery worker runs in its own thread with its own small engine (SMTP and
    # rendering block), so it never competes with requests for a connection.
    worker = (
        DeliveryWorker(settings, store=services.store, signer=signer)
        if settings.worker_enabled
        else None
    )
    if worker is not None:
        signer.wake = worker.wake
    # Bulk jobs run in their own thread too; each chunk wakes the delivery worker, which
    # signs and sends what the chunk recorded. Its worker processes check big files' rows.
    job_worker = (
        JobWorker(
            settings,
            store=services.store,
            on_chunk=lambda: signer.wake(),
            processes=worker.worker_processes if worker is not None else None,
        )
        if settings.worker_enabled
        else None
    )
    if job_worker is not None:
        services = replace(services, wake_jobs=job_worker.wake)

    async def start() -> None:
        await db.start()
        # A wrong AKOWE_SECRET_KEY is found now, not at the first signature.
        await db.call(partial(signing_service.check_secret, db, signer=signer))
        if worker is not None:
            worker.start()
        if job_worker is not None:
            job_worker.start()
        # Everything created so far (modules, the app, its routes and schemas: over 100,000
        # objects) lives as long as the process; kept out of the collector's generations, a
        # full collection no longer walks them every so often between requests.
        gc.freeze()

    async def stop() -> None:
        if job_worker is not None:
            await anyio.to_thread.run_sync(job_worker.stop)
        if worker is not None:
            await anyio.to_thread.run_sync(worker.stop)
        await services.limiter.close()
        await anyio.to_thread.run_sync(services.render_gate.close)
        await db.close()
        remote_client.close()

    app = Litestar(
        route_handlers=[
            healthz,
            readyz,
            metrics_endpoint,
            openapi_json,
            credits_router,
            organizations_router,
            templates_router,
            preview_router,
            fonts_router,
            bulk_router,
            certificates_router,
            jobs_router,
            audit_router,
            webhooks_router,
            verification_router,
            *signing_router.route_handlers,
            web_router,
            vc_api_router,
            get_file,
            create_static_files_router(
                path=DOCS_ASSETS,
                directories=[SWAGGER_UI_FILES],
                cache_control=CacheControlHeader(max_age=86400, public=True),
            ),
            *extra_handlers,
        ],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        plugins=[PydanticPlugin(prefer_alias=True)],
        state=State({"services": services}),
        # The edge (akowe.api.edge) caps each route's body; this is the framework's backstop.
        request_max_body_size=max(
            settings.max_body_bytes, settings.max_image_body_bytes, settings.max_json_body_bytes
        ),
        middleware=[edge_guard],
        # Logging is configured once, by configure_logging (JSON lines); Litestar's default
        # would put a plain-text handler on the root logger in its place.
        logging_config=None,
        on_startup=[start],
        on_shutdown=[stop],
        openapi_config=OpenAPIConfig(
            title="Akowe Issuance API",
            version=__version__,
            description=(
                "Self-hostable implementation of the Akowe Issuance API. Every response uses "
                '`{"success", "message", "data"}`; errors use `{"success": false, "message", '
                '"code"}` with `errors` on validation failures.\n\n'
                "## Webhooks (extension)\n\n" + WEBHOOKS_DESCRIPTION
            ),
            path="/docs",
            use_handler_docstrings=True,
            components=SECURITY_COMPONENTS,
            # Swagger UI's files ship in a package and are served from here, so the docs
            # work on machines without internet access.
            render_plugins=[
                SwaggerRenderPlugin(
                    path="/",
                    js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                    css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                    standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
                    favicon=f"<link rel='icon' href='{DOCS_ASSETS}/favicon-32x32.png'>",
                )
            ],
        ),
        debug=False,
    )
    document_subaccount_header(app.openapi_schema)
    document_edge(app)
    document_rules(
        app.openapi_schema,
        {"IssueRequest": ISSUE_REQUEST_RULES, "CorrectionRequest": CORRECTION_REQUEST_RULES},
    )
    document_bulk(app.openapi_schema)
    document_examples(app.openapi_schema, EXAMPLES, NAMED_EXAMPLES)
    return app
