"""The `limits` sliding window counter stored in the database, through `Database`.

Each window's count is one `rate_limit_counter` row. A hit runs in one write transaction
(`Database.transaction`, a thread: never on the event loop): read both windows' rows (locked
on PostgreSQL), refuse if the weighted count has no room, else add to the current window with
one upsert. Every processes sharing the database therefore shares the counters. Expired rows
are swept now and then by the same transactions.
"""

from __future__ import annotations

import random
import time
from math import floor
from typing import Any, cast

from limits.aio.storage import SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow
from sqlalchemy import Table, bindparam, case, delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from akowe.db.database import Database, session_reader
from akowe.db.statements import Query
from akowe.ratelimit.models import RateLimitCounter

_COUNTERS = cast(Table, RateLimitCounter.__table__)
_c = _COUNTERS.c

_WINDOWS: Query[RateLimitCounter] = Query(
    select(_c.key, _c.count, _c.expires_at).where(
        or_(_c.key == bindparam("previous_key"), _c.key == bindparam("current_key")),
        _c.expires_at > bindparam("now"),
    ),
    name="rate limit windows",
)
_WINDOWS_FOR_UPDATE: Query[RateLimitCounter] = Query(
    cast(Any, _WINDOWS.statement).with_for_update(), name="rate limit windows for update"
)
_insert = insert(_COUNTERS).values(
    key=bindparam("key"), count=bindparam("amount"), expires_at=bindparam("expires_at")
)
# One statement for both databases: SQLite and PostgreSQL share the ON CONFLICT syntax. An
# expired row starts again from this hit.
_ADD: Query[RateLimitCounter] = Query(
    _insert.on_conflict_do_update(
        index_elements=[_c.key],
        set_={
            "count": case(
                (_c.expires_at <= bindparam("now"), _insert.excluded.count),
                else_=_c.count + _insert.excluded.count,
            ),
            "expires_at": case(
                (_c.expires_at <= bindparam("now"), _insert.excluded.expires_at),
                else_=_c.expires_at,
            ),
        },
    ).returning(_c.count),
    name="rate limit add",
)
_COUNT: Query[RateLimitCounter] = Query(
    select(_c.count, _c.expires_at).where(
        _c.key == bindparam("key"), _c.expires_at > bindparam("now")
    ),
    name="rate limit count",
)
_SWEEP: Query[Any] = Query(
    delete(_COUNTERS).where(_c.expires_at <= bindparam("now")), name="rate limit sweep"
)
_CLEAR: Query[Any] = Query(
    delete(_COUNTERS).where(_c.key == bindparam("key")), name="rate limit clear"
)
_CLEAR_ALL: Query[Any] = Query(delete(_COUNTERS), name="rate limit clear all")
_SWEEP_ODDS = 0.01


class _Refused(Exception):
    """Rolls back a hit that lost a race for the last places."""


class DatabaseStorage(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    """`limits` async storage over `Database` (sliding window counter and fixed window)."""

    STORAGE_SCHEME = ["akowe+database"]

    def __init__(self, db: Database) -> None:
        super().__init__(None)
        self.db = db

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (_Refused,)

    # ---------------------------------------------------------- sliding window counter

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        if amount > limit:
            return False
        now = time.time()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        now_ms = _ms(now)

        def hit(session: Session) -> bool:
            reader = session_reader(session)
            query = _WINDOWS if self.db.is_sqlite else _WINDOWS_FOR_UPDATE
            rows = reader.all(query, previous_key=previous_key, current_key=current_key, now=now_ms)
            counts = {row.key: row.count for row in rows}
            previous = counts.get(previous_key, 0)
            weighted_previous = previous * _previous_ttl(previous, expiry, now) / expiry
            if floor(weighted_previous + counts.get(current_key, 0)) + amount > limit:
                return False
            current = reader.scalar(
                _ADD,
                key=current_key,
                amount=amount,
                expires_at=_ms(now + 2 * expiry),
                now=now_ms,
            )
            if floor(weighted_previous + current) > limit:
                raise _Refused()  # a concurrent first hit of this window won the last places
            if random.random() < _SWEEP_ODDS:
                reader.execute(_SWEEP, now=now_ms)
            return True

        try:
            return await self.db.transaction(hit)
        except _Refused:
            return False

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        now = time.time()
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        rows = await self.db.all(
            _WINDOWS, previous_key=previous_key, current_key=current_key, now=_ms(now)
        )
        counts = {row.key: row.count for row in rows}
        previous, current = counts.get(previous_key, 0), counts.get(current_key, 0)
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous, _previous_ttl(previous, expiry, now), current, current_ttl

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        previous_key, current_key = self.sliding_window_keys(key, expiry, time.time())
        await self.clear(previous_key)
        await self.clear(current_key)

    # ---------------------------------------------------------- the base interface

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        count: int = await self.db.transaction(
            lambda session: session_reader(session).scalar(
                _ADD, key=key, amount=amount, expires_at=_ms(now + expiry), now=_ms(now)
            )
        )
        return count

    async def get(self, key: str) -> int:
        rows = await self.db.all(_COUNT, key=key, now=_ms(time.time()))
        return int(rows[0].count) if rows else 0

    async def get_expiry(self, key: str) -> float:
        rows = await self.db.all(_COUNT, key=key, now=_ms(time.time()))
        return rows[0].expires_at / 1000 if rows else time.time()

    async def check(self) -> bool:
        await self.db.ping()
        return True

    async def reset(self) -> int | None:
        await self.db.transaction(lambda session: session_reader(session).execute(_CLEAR_ALL))
        return None

    async def clear(self, key: str) -> None:
        await self.db.transaction(lambda session: session_reader(session).execute(_CLEAR, key=key))


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _previous_ttl(previous: int, expiry: int, now: float) -> float:
    """How much of the previous window still weighs (as `limits` computes it)."""
    if previous == 0:
        return 0.0
    return (1 - (((now - expiry) / expiry) % 1)) * expiry
