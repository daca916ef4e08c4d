"""Ed25519 keys: generation, Multikey encodings, and encryption of private keys at rest.

Multikey (W3C Controlled Identifiers, section Multikey): `publicKeyMultibase` is `z` +
base58btc(0xed 0x01 + 32-byte public key) and `secretKeyMultibase` is `z` + base58btc(0x80 0x26
+ 32-byte seed), the multicodec varints for `ed25519-pub` and `ed25519-priv`.

Encrypted private keys are text, safe for any database column:

    akowe-sk.v1.<salt>.<nonce>.<ciphertext>

each part unpadded base64url. `v1` means: AES-256-GCM whose key is HKDF-SHA256(secret, salt,
info="akowe signing key v1"), over the 32-byte seed, with the header `akowe-sk.v1` and the
caller's `associated_data` (e.g. the verification method id) as additional authenticated data,
so a ciphertext moved to another key's row fails to decrypt. A new format gets a new version.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path
from typing import Final

import base58
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from akowe.signing.exceptions import InvalidKey, KeyDecryptionFailed

ED25519_PUB_PREFIX: Final = b"\xed\x01"
ED25519_PRIV_PREFIX: Final = b"\x80\x26"
_ENCRYPTED_PREFIX: Final = "akowe-sk"
_ENCRYPTED_VERSION: Final = "v1"
_HKDF_INFO: Final = b"akowe signing key v1"
_SALT_BYTES: Final = 16
_NONCE_BYTES: Final = 12
_MIN_SECRET_CHARS: Final = 16


def generate_private_key() -> Ed25519PrivateKey:
    """A new random Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def private_key_bytes(key: Ed25519PrivateKey) -> bytes:
    """The 32-byte seed of an Ed25519 private key."""
    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32-byte Ed25519 public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def multibase_encode(data: bytes) -> str:
    """Multibase base58btc: `z` + base58 (Bitcoin alphabet)."""
    return "z" + base58.b58encode(data).decode("ascii")


def multibase_decode(value: str) -> bytes:
    """Decode a base58btc multibase string (`z...`)."""
    if not isinstance(value, str) or not value.startswith("z") or len(value) < 2:
        raise InvalidKey("Expected a base58btc multibase value starting with 'z'.")
    try:
        return base58.b58decode(value[1:])
    except ValueError as error:
        raise InvalidKey(f"Not valid base58btc: {error}") from error


def public_key_multibase(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The Multikey `publicKeyMultibase` of an Ed25519 key (`z6Mk...`)."""
    return multibase_encode(ED25519_PUB_PREFIX + public_key_bytes(key))


def public_key_from_multibase(value: str) -> Ed25519PublicKey:
    """The Ed25519 public key in a Multikey `publicKeyMultibase`."""
    data = multibase_decode(value)
    if len(data) != 34 or not data.startswith(ED25519_PUB_PREFIX):
        raise InvalidKey("publicKeyMultibase is not an Ed25519 public key (multicodec 0xed01).")
    return Ed25519PublicKey.from_public_bytes(data[2:])


def secret_key_multibase(key: Ed25519PrivateKey) -> str:
    """The Multikey `secretKeyMultibase` of an Ed25519 key (`z3u2...`)."""
    return multibase_encode(ED25519_PRIV_PREFIX + private_key_bytes(key))


def private_key_from_multibase(value: str) -> Ed25519PrivateKey:
    """The Ed25519 private key in a Multikey `secretKeyMultibase`."""
    data = multibase_decode(value)
    if len(data) != 34 or not data.startswith(ED25519_PRIV_PREFIX):
        raise InvalidKey("secretKeyMultibase is not an Ed25519 secret key (multicodec 0x8026).")
    return Ed25519PrivateKey.from_private_bytes(data[2:])


def private_key_from_bytes(seed: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from its 32-byte seed."""
    if len(seed) != 32:
        raise InvalidKey("An Ed25519 private key seed is 32 bytes.")
    return Ed25519PrivateKey.from_private_bytes(seed)


def generate_secret() -> str:
    """A fresh random secret for `AKOWE_SECRET_KEY` (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def read_or_create_secret(path: Path) -> str:
    """The secret stored at `path`, created there (mode 0600) first if missing (`make run`)."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = generate_secret()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret


def encrypt_private_key(key: Ed25519PrivateKey, secret: str, *, associated_data: str = "") -> str:
    """Encrypt a private key for storage (format `akowe-sk.v1...`, see the module docstring)."""
    salt = os.urandom(_SALT_BYTES)
    nonce = os.urandom(_NONCE_BYTES)
    header = f"{_ENCRYPTED_PREFIX}.{_ENCRYPTED_VERSION}"
    ciphertext = AESGCM(_derive(secret, salt)).encrypt(
        nonce, private_key_bytes(key), _aad(header, associated_data)
    )
    return ".".join((header, _b64(salt), _b64(nonce), _b64(ciphertext)))


def decrypt_private_key(token: str, secret: str, *, associated_data: str = "") -> Ed25519PrivateKey:
    """Decrypt a key from `encrypt_private_key`; a wrong secret raises KeyDecryptionFailed."""
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != _ENCRYPTED_PREFIX:
        raise KeyDecryptionFailed("The encrypted private key is not in a known format.")
    if parts[1] != _ENCRYPTED_VERSION:
        raise KeyDecryptionFailed(f"Unsupported encrypted key version {parts[1]!r}.")
    try:
        salt, nonce, ciphertext = (_unb64(part) for part in parts[2:])
    except (binascii.Error, ValueError) as error:
        raise KeyDecryptionFailed("The encrypted private key is damaged.") from error
    header = f"{parts[0]}.{parts[1]}"
    try:
        seed = AESGCM(_derive(secret, salt)).decrypt(
            nonce, ciphertext, _aad(header, associated_data)
        )
    except InvalidTag as error:
        raise KeyDecryptionFailed(
            "The private key could not be decrypted: the secret key (AKOWE_SECRET_KEY) is "
            "not the one it was encrypted with, or the stored key is damaged."
        ) from error
    return private_key_from_bytes(seed)


def _derive(secret: str, salt: bytes) -> bytes:
    if len(secret) < _MIN_SECRET_CHARS:
        raise KeyDecryptionFailed(
            f"The secret key must be at least {_MIN_SECRET_CHARS} characters long."
        )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_HKDF_INFO).derive(
        secret.encode("utf-8")
    )


def _aad(header: str, associated_data: str) -> bytes:
    return f"{header}|{associated_data}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
