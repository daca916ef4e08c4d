"""Random datetimes for tests that hold a fast formatter to the plain, obvious one."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone


def random_datetimes(seed: int, count: int) -> Iterator[datetime]:
    """Aware datetimes in years 2-9998: a third in UTC, the others at offsets up to 14 hours
    either way; every fifth on a whole second (a formatter must keep its zero fraction)."""
    rng = random.Random(seed)
    for n in range(count):
        offset = timedelta(minutes=rng.randint(-14 * 60, 14 * 60))
        zone = UTC if n % 3 == 0 else timezone(offset)
        yield datetime(
            rng.randint(2, 9998),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            0 if n % 5 == 0 else rng.randint(0, 999_999),
            tzinfo=zone,
        )
