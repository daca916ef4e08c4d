"""Bitstring Status List v1.0."""

from __future__ import annotations

import base64
import gzip

import pytest

from akowe.signing import (
    MIN_LIST_LENGTH,
    StatusBitstring,
    allocate_index,
    offline_did_resolver,
    verify_credential,
)
from akowe.signing.exceptions import InvalidStatusList
from tests.signing.conftest import NOW, Issuer


def test_a_new_list_has_131072_clear_bits_and_encodes_as_u_base64url_gzip() -> None:
    bits = StatusBitstring()
    encoded = bits.encode()

    assert bits.length == MIN_LIST_LENGTH == 131_072
    assert encoded.startswith("u")
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert raw == bytes(16384)


def test_index_zero_is_the_left_most_bit() -> None:
    bits = StatusBitstring()
    bits.set(0)
    bits.set(9)
    assert bits.to_bytes()[:2] == b"\x80\x40"


def test_bits_survive_encoding_and_can_be_cleared() -> None:
    bits = StatusBitstring()
    for index in (0, 7, 94567, 131_071):
        bits.set(index)
    decoded = StatusBitstring.decode(bits.encode())
    assert [decoded.get(i) for i in (0, 1, 7, 94567, 131_071)] == [True, False, True, True, True]
    decoded.set(7, False)
    assert not decoded.get(7)


def test_out_of_range_indexes_and_short_lists_are_refused() -> None:
    with pytest.raises(InvalidStatusList):
        StatusBitstring().get(131_072)
    with pytest.raises(InvalidStatusList):
        StatusBitstring(length=1024)


def test_a_gzip_bomb_encoded_list_is_refused() -> None:
    bomb = gzip.compress(bytes(64 * 1024 * 1024), mtime=0)
    encoded = "u" + base64.urlsafe_b64encode(bomb).rstrip(b"=").decode()
    with pytest.raises(InvalidStatusList, match="too large"):
        StatusBitstring.decode(encoded)


def test_allocated_indexes_are_random_and_never_reused() -> None:
    used: set[int] = set()
    for _ in range(200):
        index = allocate_index(used)
        assert index not in used
        used.add(index)
    assert max(used) > 100_000 and min(used) < 30_000


def test_allocation_finds_the_last_free_index_and_refuses_when_full() -> None:
    used = set(range(MIN_LIST_LENGTH)) - {4242}
    assert allocate_index(used) == 4242
    with pytest.raises(InvalidStatusList, match="full"):
        allocate_index(set(range(MIN_LIST_LENGTH)))


def test_status_list_credential_is_signed_and_verifies_with_its_ttl(issuer: Issuer) -> None:
    credential = issuer.status_list_credential()

    assert credential["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert credential["credentialSubject"]["ttl"] == 300_000
    assert credential["credentialSubject"]["statusPurpose"] == "revocation"
    result = verify_credential(
        credential, resolve_did=offline_did_resolver({issuer.did: issuer.did_document()}), now=NOW
    )
    assert result.valid, result.checks
