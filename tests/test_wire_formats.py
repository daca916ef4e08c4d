"""Timestamps and cursors as answered, and email addresses as checked: the fast paths give
what the documented formula or the library alone gives, for every kind of value."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime, timedelta, timezone

import email_validator
import pytest
from pydantic import ValidationError

from akowe.certificates.schemas import RecipientData
from akowe.pagination import decode_cursor, encode_cursor
from akowe.schemas import format_timestamp
from tests.datetimes import random_datetimes


def _values(count: int) -> list[datetime]:
    edges = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 11, 26, 0, 0, 0, 999, tzinfo=UTC),  # under a millisecond: ".000"
        datetime(2026, 11, 26, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-3))),
    ]
    values = random_datetimes(2611, count)
    # Every fourth naive (taken as UTC), as a value built in code rather than read can be.
    return edges + [v.replace(tzinfo=None) if n % 4 == 0 else v for n, v in enumerate(values)]


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


ADDRESSES = [
    "ada@example.com",
    "Ada.Lovelace@Example.COM",
    "grace@bücher.example",
    "kwame@xn--bcher-kva.example",
    "ngozi@sub.domain.example.org",
    "x@localhost",  # special-use: refused
    "x@example.test",  # special-use: refused
    "x@-bad-.example.com",
    "x@exa_mple.com",
    "x@" + "a" * 64 + ".com",  # a label over 63 characters
    "x@example..com",
    "x@com",
    "no-at-sign.example.com",
]


def _outcome(address: str) -> tuple[str, str]:
    try:
        info = email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        return ("refused", str(exc))
    return (info.normalized, info.ascii_email or "")


def test_remembered_email_domains_give_the_librarys_verdicts() -> None:
    module = sys.modules["email_validator.validate_email"]
    remembered = module.validate_email_domain_name
    assert hasattr(remembered, "cache_info"), "akowe.schemas remembers domain verdicts"
    try:
        module.validate_email_domain_name = remembered.__wrapped__
        expected = [_outcome(address) for address in ADDRESSES]
    finally:
        module.validate_email_domain_name = remembered
    before = remembered.cache_info().hits
    for _ in range(3):  # the second and third rounds come from the memory (or raise again)
        assert [_outcome(address) for address in ADDRESSES] == expected
    assert remembered.cache_info().hits > before
    assert sum(outcome[0] == "refused" for outcome in expected) == 8
    # What a request sees: pydantic's EmailStr goes through the same function.
    with pytest.raises(ValidationError, match="special-use or reserved name"):
        RecipientData.model_validate({"name": "Ada", "email": "x@example.test"})
    ok = RecipientData.model_validate({"name": "Ada", "email": "grace@bücher.example"})
    assert ok.email == "grace@bücher.example"
