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


def provide_settings(state: State) -> Settings:
    """The app's settings."""
    settings: Settings = state.settings
    return settings


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


async def provide_principal(
    request: Request[Any, Any, Any], session: NamedDependency[Session], state: State
) -> Principal:
    """Authenticate `x-api-key` and resolve `x-subaccount-email` (401 / 403)."""
    settings: Settings = state.settings
    now = utcnow()
    # One primary-key read on the event loop: cheaper than a thread hop (see bench/balance.py).
    check = accounts_service.check_key(
        session,
        raw_key=request.headers.get("x-api-key"),
        now=now,
        touch_after=timedelta(seconds=settings.key_last_used_resolution_seconds),
    )
    request.scope["state"]["key_id"] = check.key_id
    principal = Principal(key_id=check.key_id, account_id=check.account_id, mode=check.mode)
    sub_email = request.headers.get("x-subaccount-email")
    if sub_email is not None and sub_email.strip():
        sub = accounts_service.resolve_subaccount(
            session, account_id=check.account_id, email=sub_email
        )
        principal = Principal(
            key_id=check.key_id,
            account_id=check.account_id,
            mode=check.mode,
            subaccount_id=sub.id,
            subaccount_email=sub.email,
        )
    session.rollback()  # end the read transaction before the handler runs
    if check.touch:
        await anyio.to_thread.run_sync(_touch, state.write_sessionmaker, check.key_id)
    return principal


def _touch(factory: sessionmaker[Session], key_id: str) -> None:
    with factory.begin() as session:
        accounts_service.touch_key(session, key_id=key_id, now=utcnow())


# Handler parameter types: the parameter's name picks the dependency.
SessionDep = NamedDependency[Session]
PrincipalDep = NamedDependency[Principal]
SettingsDep = NamedDependency[Settings]

DEPENDENCIES = {
    "settings": Provide(provide_settings, sync_to_thread=False),
    "session": Provide(provide_session),
    "write_session": Provide(provide_write_session),
    "principal": Provide(provide_principal),
}
