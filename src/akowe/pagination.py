"""Keyset paging for list endpoints: `limit` + opaque `cursor`, newest first.

Akowe's lists are plain `data: [...]` arrays, so the next page's cursor travels in the
`X-Next-Cursor` response header (absent on the last page). A cursor is base64url of the
last row's `(createdAt, id)`: stable under inserts, no OFFSET scans.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import BindParameter, ColumnElement, Select, and_, bindparam, or_

from akowe.db.database import Database
from akowe.db.statements import QueryFamily
from akowe.errors import ValidationFailed

DEFAULT_LIMIT = 100
MAX_LIMIT = 100
NEXT_CURSOR_HEADER = "X-Next-Cursor"
# What a cursor looks like (base64url, no padding); empty means the first page.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{0,200}$"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position after which the next page starts."""

    created_at: datetime
    id: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of rows and the cursor of the next page (None on the last one)."""

    items: Sequence[T]
    next_cursor: str | None


# json.dumps with any option builds a new encoder per call; a list page makes a cursor each time.
_CURSOR_JSON = json.JSONEncoder(separators=(",", ":"))


def encode_cursor(created_at: datetime, id_: str) -> str:
    """Opaque cursor for the row `(created_at, id)`."""
    if created_at.tzinfo is not UTC:
        created_at = created_at.astimezone(UTC)
    raw = _CURSOR_JSON.encode([created_at.isoformat(), id_])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(value: str) -> Cursor:
    """Parse a cursor made by `encode_cursor`, or fail with a field error on `cursor`."""
    try:
        if len(value) > 200:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        decoded = json.loads(raw)
        if not isinstance(decoded, list) or len(decoded) != 2:
            raise ValueError("bad cursor")
        created, id_ = decoded
        if not isinstance(created, str) or not isinstance(id_, str) or "\x00" in id_:
            raise ValueError("bad cursor")
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None:
            raise ValueError("bad cursor")
        created_at = created_at.astimezone(UTC)
    except (binascii.Error, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ValidationFailed.field("cursor", "is not a valid cursor") from exc
    return Cursor(created_at=created_at, id=id_)


def check_limit(limit: int) -> int:
    """`limit` must be 1..MAX_LIMIT."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed.field("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit


def keyset(
    statement: Select[Any],
    *,
    created_at: ColumnElement[datetime],
    id_column: ColumnElement[str],
    with_cursor: bool,
) -> Select[Any]:
    """Newest first, from an optional cursor, at most `limit` rows: parameters `cursor_at`,
    `cursor_id` and `limit` (filled in by `fetch_page`)."""
    if with_cursor:
        after: BindParameter[datetime] = bindparam("cursor_at")
        statement = statement.where(
            or_(created_at < after, and_(created_at == after, id_column < bindparam("cursor_id")))
        )
    return statement.order_by(created_at.desc(), id_column.desc()).limit(bindparam("limit"))


async def fetch_page(
    db: Database,
    family: QueryFamily[T],
    *key: Any,
    limit: int,
    cursor: str | None,
    tenant: str | None,
    created_key: str = "created_at",
    **params: Any,
) -> Page[T]:
    """One page of `family(*key, with_cursor)` (built with `keyset`)."""
    check_limit(limit)
    if cursor:
        position = decode_cursor(cursor)
        params["cursor_at"], params["cursor_id"] = position.created_at, position.id
    # An empty cursor is no cursor (the first page), for the query as for its parameters.
    rows: list[Any] = await db.all(
        family(*key, bool(cursor)), tenant=tenant, limit=limit + 1, **params
    )
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    items = rows[:limit]
    last = items[-1]
    return Page(items=items, next_cursor=encode_cursor(getattr(last, created_key), last.id))
