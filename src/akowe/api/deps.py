"""Dependencies every router uses: the database, the calling principal, shared services.

All of them are cheap and none blocks the event loop: authentication is an async read
(inline on SQLite, async pool on PostgreSQL) and a due last-used time is written in the
background instead of making the request wait.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from typing import Annotated, Any, TypeAlias, TypeVar

from litestar import Request
from litestar.datastructures import State
from litestar.di import Dependency, Provide
from litestar.params import SkipValidationMarker

from akowe.accounts import service as accounts_service
from akowe.accounts.service import Authentication, Principal, WithKey
from akowe.certificates.renders import RenderCache, RenderGate
from akowe.certificates.service import Links
from akowe.config import Settings
from akowe.db.base import utcnow
from akowe.db.database import Database
from akowe.outbound import ImageFetcher
from akowe.ratelimit.limiter import Limiter
from akowe.signing.service import Signer
from akowe.storage.store import FileStore
from akowe.verification.service import RemoteFetch, ReportCache


@dataclass(frozen=True, slots=True)
class Services:
    """What the app shares with every request: one object, so a route resolves one cheap
    dependency for all of it (each extra dependency in Litestar's first batch would make it
    start a task group per request)."""

    settings: Settings
    db: Database
    store: FileStore
    fetcher: ImageFetcher
    links: Links
    render_cache: RenderCache
    render_gate: RenderGate
    limiter: Limiter
    signer: Signer
    reports: ReportCache
    remote: RemoteFetch
    # Tell this process's job worker a job was submitted (a no-op without one).
    wake_jobs: Callable[[], None] = lambda: None
    # Resources read in the key's own statement, by the path parameter naming them
    # (akowe.accounts.service.WithKey; akowe.api.edge reads them on PostgreSQL).
    with_key: Mapping[str, WithKey] = field(default_factory=dict)


T = TypeVar("T")
# Handler parameter types: the parameter's name picks the dependency. Values are produced by
# our own code, so the signature model does not validate them again (rows read by
# akowe.db.statements are records, not ORM instances; and validation costs per request).
Injected: TypeAlias = Annotated[T, SkipValidationMarker(), Dependency(kind="named")]
PrincipalDep = Injected[Principal]
ServicesDep = Injected[Services]


def provide_services(state: State) -> Services:
    """The app's services."""
    services: Services = state.services
    return services


async def authenticate_request(request: Request[Any, Any, Any], services: ServicesDep) -> Principal:
    """The principal the edge authenticated (akowe.api.edge: before the body is read), or
    authenticate `x-api-key` and resolve `x-subaccount-email` here (401 / 403)."""
    principal: Principal | None = request.scope["state"].get("principal")
    address = request.client.host if request.client else None
    if principal is not None:
        return replace(principal, address=address)
    auth = await accounts_service.authenticate(
        services.db,
        raw_key=request.headers.get("x-api-key"),
        subaccount_email=request.headers.get("x-subaccount-email"),
        now=utcnow(),
        touch_after=timedelta(seconds=services.settings.key_last_used_resolution_seconds),
    )
    note_authenticated(request.scope, services.db, auth)
    return replace(auth.principal, address=address)


def note_authenticated(scope: Any, db: Database, auth: Authentication) -> None:
    """Record the key id for the request log; write a due last-used time in the background
    (losing one to a crash costs nothing, so no request waits for it)."""
    scope.setdefault("state", {})["key_id"] = auth.principal.key_id
    if auth.touch:
        db.spawn(partial(accounts_service.touch_key, key_id=auth.principal.key_id, now=utcnow()))


DEPENDENCIES = {
    "services": Provide(provide_services, sync_to_thread=False),
    "principal": Provide(authenticate_request),
}
