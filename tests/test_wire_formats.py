"""Timestamps and cursors as answered: the fast formatters give the text the documented
formula gives, for every kind of value a row can hold."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta, timezone

from akowe.pagination import decode_cursor, encode_cursor
from akowe.schemas import format_timestamp


def _values(count: int) -> list[datetime]:
    rng = random.Random(2611)
    edges = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 11, 26, 0, 0, 0, 999, tzinfo=UTC),  # under a millisecond: ".000"
        datetime(2026, 11, 26, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-3))),
    ]
    values = []
    for n in range(count):
        zone = (UTC, None, timezone(timedelta(minutes=rng.randint(-14 * 60, 14 * 60))))[n % 3]
        value = datetime(
            rng.randint(2, 9998),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            0 if n % 7 == 0 else rng.randint(0, 999_999),
            tzinfo=zone,
        )
        values.append(value)
    return edges + values


def test_timestamps_read_as_iso_8601_utc_with_milliseconds_and_z() -> None:
    assert format_timestamp(datetime(2025, 9, 24, 18, 23, 43, 621_987, tzinfo=UTC)) == (
        "2025-09-24T18:23:43.621Z"
    )
    for value in _values(20_000):
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        expected = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
        # strftime pads years below 1000 on glibc only with %4Y; the contract wants 4 digits.
        expected = f"{utc.year:04d}" + expected[expected.index("-") :]
        assert format_timestamp(value) == expected, value


def test_cursors_keep_their_text_and_come_back_to_their_position() -> None:
    for value in _values(2_000):
        if value.tzinfo is None:
            continue  # rows hold aware values only
        utc = value.astimezone(UTC)
        cursor = encode_cursor(value, "0b7d5e0c-1f1e-4a57-9d2c-2c1f2e3d4c5b")
        # The text clients may hold from before: JSON [isoformat, id], base64url, no padding.
        raw = json.dumps(
            [utc.isoformat(), "0b7d5e0c-1f1e-4a57-9d2c-2c1f2e3d4c5b"], separators=(",", ":")
        )
        assert cursor == base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        position = decode_cursor(cursor)
        assert position.created_at == value and position.id.startswith("0b7d5e0c")
