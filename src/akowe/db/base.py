"""Declarative base with a constraint naming convention and portable column types."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            # The same text as process_bind_param then the dialect's DATETIME processor (a
            # %-format of seven fields), in one call and about half the time: a bulk job's
            # row binds some twenty datetimes.
            return _format_sqlite_utc
        return super().bind_processor(dialect)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            # SQLite stores `YYYY-MM-DD HH:MM:SS.ffffff`; the C parser reads it several times
            # faster than the dialect's regular expression (this runs for every row read).
            return _parse_sqlite_utc
        return super().result_processor(dialect, coltype)


@functools.lru_cache(maxsize=1024)
def _format_sqlite_utc(value: datetime | None) -> str | None:
    """`YYYY-MM-DD HH:MM:SS.ffffff` in UTC, as SQLite stores it; naive values are refused.
    Cached: the rows one transaction writes mostly share their times (a bulk chunk's
    certificates, outbox messages, ledger entries and rows were all made at its `now`);
    equal instants in other time zones are the same UTC text."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: use UTC-aware datetimes")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _parse_sqlite_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    # Parsing the offset costs less than datetime.replace(tzinfo=...) afterwards.
    return datetime.fromisoformat(value + "+00:00")


# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Base of every ORM model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime(), str: String()}


def new_id() -> str:
    """A new UUID v4 as a string: the id of every resource.

    The same text as `str(uuid.uuid4())`, with the OS's random bytes read 4 KB at a time: one
    system call per 256 ids instead of one each. Each call releases the GIL, and a thread
    writing a bulk job's chunk (seven ids a row) then waited behind the others to get it
    back: 17% of its time, measured. Each thread has its own bytes; a forked child starts
    afresh, so it never repeats its parent's ids. The version and variant bits are set here
    (RFC 9562, 5.4) rather than by `uuid.UUID`, whose checks took three times as long.
    """
    local = _random
    buffered: bytes | None = getattr(local, "bytes", None)
    offset: int = getattr(local, "offset", 0)
    if buffered is None or offset >= len(buffered):
        buffered, offset = os.urandom(16 * 256), 0
        local.bytes = buffered
    local.offset = offset + 16
    raw = bytearray(buffered[offset : offset + 16])
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # variant RFC 4122
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_random = threading.local()


def _forget_random() -> None:
    global _random
    _random = threading.local()


os.register_at_fork(after_in_child=_forget_random)


def utcnow() -> datetime:
    """The current time in UTC (the one clock every service uses)."""
    return datetime.now(UTC)
