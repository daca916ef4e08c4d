"""Ed25519 keys: Multikey encodings and encryption at rest."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from akowe.signing import keys
from akowe.signing.exceptions import InvalidKey, KeyDecryptionFailed

SECRET = "a-long-enough-test-secret-0123456789"


def test_public_key_multibase_is_z6mk_with_the_ed25519_multicodec() -> None:
    key = keys.generate_private_key()
    encoded = keys.public_key_multibase(key)
    assert encoded.startswith("z6Mk")
    assert keys.multibase_decode(encoded)[:2] == b"\xed\x01"
    assert keys.public_key_bytes(keys.public_key_from_multibase(encoded)) == (
        keys.public_key_bytes(key)
    )


def test_secret_key_multibase_round_trips_with_the_0x8026_multicodec() -> None:
    key = keys.generate_private_key()
    encoded = keys.secret_key_multibase(key)
    assert encoded.startswith("z3u2")
    assert keys.private_key_bytes(keys.private_key_from_multibase(encoded)) == (
        keys.private_key_bytes(key)
    )


def test_a_public_key_is_not_accepted_as_a_secret_key() -> None:
    public = keys.public_key_multibase(keys.generate_private_key())
    with pytest.raises(InvalidKey):
        keys.private_key_from_multibase(public)
    with pytest.raises(InvalidKey):
        keys.public_key_from_multibase("not-multibase")


def test_encrypted_key_decrypts_with_the_same_secret_to_the_same_key() -> None:
    key = keys.generate_private_key()
    token = keys.encrypt_private_key(key, SECRET, associated_data="did:web:x#z6Mk")

    assert token.startswith("akowe-sk.v1.")
    assert keys.secret_key_multibase(key)[1:] not in token
    restored = keys.decrypt_private_key(token, SECRET, associated_data="did:web:x#z6Mk")
    assert keys.private_key_bytes(restored) == keys.private_key_bytes(key)


def test_two_encryptions_of_one_key_differ() -> None:
    key = keys.generate_private_key()
    assert keys.encrypt_private_key(key, SECRET) != keys.encrypt_private_key(key, SECRET)


def test_decrypting_with_a_wrong_secret_is_a_clear_error() -> None:
    token = keys.encrypt_private_key(keys.generate_private_key(), SECRET)
    with pytest.raises(KeyDecryptionFailed, match="AKOWE_SECRET_KEY"):
        keys.decrypt_private_key(token, SECRET + "x")


def test_a_ciphertext_moved_to_another_key_id_does_not_decrypt() -> None:
    token = keys.encrypt_private_key(keys.generate_private_key(), SECRET, associated_data="a")
    with pytest.raises(KeyDecryptionFailed):
        keys.decrypt_private_key(token, SECRET, associated_data="b")


def test_damaged_or_unknown_ciphertexts_are_refused() -> None:
    token = keys.encrypt_private_key(keys.generate_private_key(), SECRET)
    head, version, salt, nonce, body = token.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(KeyDecryptionFailed):
        keys.decrypt_private_key(".".join((head, version, salt, nonce, flipped)), SECRET)
    with pytest.raises(KeyDecryptionFailed, match="version"):
        keys.decrypt_private_key(".".join((head, "v9", salt, nonce, body)), SECRET)
    with pytest.raises(KeyDecryptionFailed, match="format"):
        keys.decrypt_private_key("garbage", SECRET)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(KeyDecryptionFailed, match="at least"):
        keys.encrypt_private_key(keys.generate_private_key(), "short")


def test_generated_secrets_are_random_and_long() -> None:
    first, second = keys.generate_secret(), keys.generate_secret()
    assert first != second
    assert len(first) >= 43


def test_secret_file_is_created_private_once_then_read_back(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret_key"
    created = keys.read_or_create_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.read_or_create_secret(path) == created
