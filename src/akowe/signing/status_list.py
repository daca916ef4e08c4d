"""Bitstring Status List v1.0: revocation bits, their encoding, and the list credential.

A list is at least 131,072 bits (16 KiB), the spec's minimum for herd privacy. Bit 0 is the
left-most (most significant) bit of the first byte. `encodedList` is the GZIP-compressed
bitstring in multibase base64url without padding (prefix `u`). Indexes are handed out at
random among the unused ones, so an index says nothing about when or to whom it was issued.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import secrets
import zlib
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, Final

from akowe.signing.credentials import format_datetime
from akowe.signing.exceptions import InvalidStatusList
from akowe.signing.loader import VC_V2

MIN_LIST_LENGTH: Final = 131_072
REVOCATION: Final = "revocation"
# A decoded list is refused above this many bytes (16 Mbit), so a tiny gzip bomb cannot blow up.
MAX_DECODED_BYTES: Final = 2 * 1024 * 1024
_RANDOM_TRIES: Final = 64


class StatusBitstring:
    """A mutable bitstring of status bits."""

    def __init__(self, length: int = MIN_LIST_LENGTH, data: bytes | None = None) -> None:
        if length < MIN_LIST_LENGTH or length % 8:
            raise InvalidStatusList(
                f"A status list has at least {MIN_LIST_LENGTH} entries, a multiple of 8."
            )
        if data is not None and len(data) != length // 8:
            raise InvalidStatusList("The data does not match the list length.")
        self.length = length
        self._bits = bytearray(data if data is not None else length // 8)

    def get(self, index: int) -> bool:
        """Whether bit `index` is set."""
        self._check(index)
        return bool(self._bits[index // 8] & (0x80 >> (index % 8)))

    def set(self, index: int, value: bool = True) -> None:
        """Set (or clear) bit `index`."""
        self._check(index)
        if value:
            self._bits[index // 8] |= 0x80 >> (index % 8)
        else:
            self._bits[index // 8] &= ~(0x80 >> (index % 8)) & 0xFF

    def to_bytes(self) -> bytes:
        """The raw bitstring."""
        return bytes(self._bits)

    def encode(self) -> str:
        """The `encodedList` value: `u` + base64url(gzip(bitstring)), no padding."""
        compressed = gzip.compress(bytes(self._bits), mtime=0)
        return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, encoded: str) -> StatusBitstring:
        """Parse an `encodedList` value (bounded: a gzip bomb is refused)."""
        if not isinstance(encoded, str) or not encoded.startswith("u"):
            raise InvalidStatusList("encodedList must be multibase base64url (prefix 'u').")
        try:
            compressed = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
        except (binascii.Error, ValueError) as error:
            raise InvalidStatusList("encodedList is not valid base64url.") from error
        data = _gunzip_bounded(compressed, MAX_DECODED_BYTES)
        return cls(len(data) * 8, data)

    def _check(self, index: int) -> None:
        if not 0 <= index < self.length:
            raise InvalidStatusList(
                f"Status index {index} is outside the list (0..{self.length - 1})."
            )


def allocate_index(used: Collection[int], *, length: int = MIN_LIST_LENGTH) -> int:
    """A uniformly random index in [0, length) that is not in `used`."""
    if len(used) >= length:
        raise InvalidStatusList("The status list is full; start a new one.")
    for _ in range(_RANDOM_TRIES):
        index = secrets.randbelow(length)
        if index not in used:
            return index
    # Nearly full: draw among the free indexes directly.
    free = [index for index in range(length) if index not in used]
    if not free:
        raise InvalidStatusList("The status list is full; start a new one.")
    return free[secrets.randbelow(len(free))]


def build_status_list_credential(
    *,
    list_id: str,
    issuer: str,
    bitstring: StatusBitstring,
    valid_from: datetime,
    ttl_ms: int | None = None,
    purpose: str = REVOCATION,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """An unsigned `BitstringStatusListCredential` (sign it with `proofs.sign`).

    `ttl_ms` is the spec's `ttl`, in milliseconds: how long verifiers may cache the list.
    Serve the list with a matching `Cache-Control: max-age` (ttl_ms / 1000).
    """
    subject: dict[str, Any] = {
        "id": f"{list_id}#list",
        "type": "BitstringStatusList",
        "statusPurpose": purpose,
        "encodedList": bitstring.encode(),
    }
    if ttl_ms is not None:
        if ttl_ms < 0:
            raise InvalidStatusList("ttl cannot be negative.")
        subject["ttl"] = ttl_ms
    credential: dict[str, Any] = {
        "@context": [VC_V2],
        "id": list_id,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": format_datetime(valid_from),
        "credentialSubject": subject,
    }
    if valid_until is not None:
        credential["validUntil"] = format_datetime(valid_until)
    return credential


def read_status(status_list_credential: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
    """Whether the bit a `BitstringStatusListEntry` points at is set in the list credential."""
    subject = status_list_credential.get("credentialSubject")
    if not isinstance(subject, dict) or subject.get("type") != "BitstringStatusList":
        raise InvalidStatusList("Not a BitstringStatusList credential.")
    if subject.get("statusPurpose") != entry.get("statusPurpose"):
        raise InvalidStatusList("The status list's purpose differs from the entry's.")
    raw_index = entry.get("statusListIndex")
    if not isinstance(raw_index, str) or not raw_index.isdigit():
        raise InvalidStatusList("statusListIndex must be a string of digits.")
    bitstring = StatusBitstring.decode(subject.get("encodedList", ""))
    return bitstring.get(int(raw_index))


def _gunzip_bounded(data: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        out = decompressor.decompress(data, limit + 1)
    except zlib.error as error:
        raise InvalidStatusList("encodedList is not valid GZIP data.") from error
    if len(out) > limit:
        raise InvalidStatusList("The decoded status list is too large.")
    if not decompressor.eof:
        raise InvalidStatusList("encodedList is truncated.")
    return out
