"""Dependencies every router uses: database sessions and the calling principal."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import anyio.to_thread
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.orm import Session, sessionmaker

from akowe.accounts import service as accounts_service
from akowe.accounts.service import Principal
from akowe.config import Settings
from akowe.db.base import utcnow
from akowe.db.quick import QuickReader
from akowe.storage.store import FileStore
from akowe.templates.fetch import ImageFetcher


def provide_settings(state: State) -> Settings:
    """The app's settings."""
    settings: Settings = state.settings
    return settings


def provide_file_store(state: State) -> FileStore:
    """The app's file store."""
    store: FileStore = state.file_store
    return store


def provide_image_fetcher(state: State) -> ImageFetcher:
    """The app's URL fetcher for images (SSRF-guarded unless settings relax it)."""
    fetcher: ImageFetcher = state.image_fetcher
    return fetcher


def provide_quick_reader(state: State) -> QuickReader:
    """Raw-driver primary-key reads for hot paths (see akowe.db.quick)."""
    reader: QuickReader = state.quick_reader
    return reader


def provide_session(state: State) -> Generator[Session, None, None]:
    """A read session: SQLite reads under WAL never wait for writers."""
    factory: sessionmaker[Session] = state.sessionmaker
    session = factory()
    try:
        yield session
    finally:
        session.close()


def provide_write_session(state: State) -> Generator[Session, None, None]:
    """A write session (takes SQLite's write lock up front); use it from threaded handlers."""
    factory: sessionmaker[Session] = state.write_sessionmaker
    session = factory()
    try:
        yield session
    finally:
        session.close()


async def authenticate_request(request: Request[Any, Any, Any]) -> Principal:
    """Authenticate `x-api-key` and resolve `x-subaccount-email` (401 / 403)."""
    state = request.app.state
    settings: Settings = state.settings
    principal, touch = await accounts_service.authenticate(
        state.quick_reader,
        raw_key=request.headers.get("x-api-key"),
        subaccount_email=request.headers.get("x-subaccount-email"),
        now=utcnow(),
        touch_after=timedelta(seconds=settings.key_last_used_resolution_seconds),
    )
    request.scope["state"]["key_id"] = principal.key_id
    if touch:
        await anyio.to_thread.run_sync(_touch, state.write_sessionmaker, principal.key_id)
    return principal


def _touch(factory: sessionmaker[Session], key_id: str) -> None:
    with factory.begin() as session:
        accounts_service.touch_key(session, key_id=key_id, now=utcnow())


# Handler parameter types: the parameter's name picks the dependency.
SessionDep = NamedDependency[Session]
PrincipalDep = NamedDependency[Principal]
SettingsDep = NamedDependency[Settings]
QuickReaderDep = NamedDependency[QuickReader]
WriteSessionDep = NamedDependency[Session]
FileStoreDep = NamedDependency[FileStore]
ImageFetcherDep = NamedDependency[ImageFetcher]

DEPENDENCIES = {
    "settings": Provide(provide_settings, sync_to_thread=False),
    "session": Provide(provide_session),
    "write_session": Provide(provide_write_session),
    "principal": Provide(authenticate_request),
    "quick_reader": Provide(provide_quick_reader, sync_to_thread=False),
    "file_store": Provide(provide_file_store, sync_to_thread=False),
    "image_fetcher": Provide(provide_image_fetcher, sync_to_thread=False),
}
