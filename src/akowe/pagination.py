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

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from akowe.errors import ValidationFailed

DEFAULT_LIMIT = 100
MAX_LIMIT = 100
NEXT_CURSOR_HEADER = "X-Next-Cursor"

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


def encode_cursor(created_at: datetime, id_: str) -> str:
    """Opaque cursor for the row `(created_at, id)`."""
    raw = json.dumps([created_at.astimezone(UTC).isoformat(), id_], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(value: str) -> Cursor:
    """Parse a cursor made by `encode_cursor`, or fail with a field error on `cursor`."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        created, id_ = json.loads(raw)
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None or not isinstance(id_, str):
            raise ValueError("bad cursor")
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValidationFailed.field("cursor", "is not a valid cursor") from exc
    return Cursor(created_at=created_at.astimezone(UTC), id=id_)


def check_limit(limit: int) -> int:
    """`limit` must be 1..MAX_LIMIT."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed.field("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit


def paginate(
    session: Session,
    statement: Select[T],
    *,
    created_at: InstrumentedAttribute[datetime],
    id_column: InstrumentedAttribute[str],
    limit: int,
    cursor: str | None,
) -> Page[T]:
    """Run `statement` newest first from `cursor`, returning at most `limit` rows."""
    check_limit(limit)
    if cursor:
        position = decode_cursor(cursor)
        statement = statement.where(
            or_(
                created_at < position.created_at,
                and_(created_at == position.created_at, id_column < position.id),
            )
        )
    rows: list[Any] = list(
        session.scalars(statement.order_by(created_at.desc(), id_column.desc()).limit(limit + 1))
    )
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    items = rows[:limit]
    last = items[-1]
    return Page(
        items=items,
        next_cursor=encode_cursor(getattr(last, created_at.key), getattr(last, id_column.key)),
    )
