"""Files in an S3-compatible object store (AWS S3, MinIO, Cloudflare R2, ...), so that every
API process and worker on every host reads the same files with nothing local.

Objects are named `<prefix><key>` with the same content-addressed keys as the local store,
and are still served at `/files/<key>` by any API process (or, with
`AKOWE_S3_PRESIGN_SECONDS`, redirected to a presigned URL). A key's bytes never change, so
each process keeps recently read files in a bounded in-memory cache that can never be stale.

Errors: a missing object is `None`; anything else the store fails at (down, unreachable,
refusing the credentials) is StoreUnavailable, a 503 that clients retry.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cachetools import LRUCache

from akowe.config import Settings
from akowe.storage.exceptions import StoreUnavailable
from akowe.storage.store import (
    FILES_PATH,
    StoredFile,
    content_type_of,
    files_url,
    is_valid_key,
    make_key,
)

# boto3 builds its clients at run time and ships no type information.
S3Client = Any

# Raster images may be handed to the object store's URL; SVG can carry scripts and is
# served only by the service, under its sandboxing Content-Security-Policy.
REDIRECTABLE = frozenset({"image/png", "image/jpeg", "image/webp"})
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def parse_storage_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> (`bucket`, `some/prefix/`); the prefix may be empty."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"AKOWE_STORAGE_URL must look like s3://bucket/prefix, not {url!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


class S3FileStore:
    """The FileStore on an S3 bucket; see the module docstring."""

    def __init__(
        self,
        *,
        client: S3Client,
        bucket: str,
        prefix: str,
        base_url: str,
        presign_seconds: int = 0,
        cache_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.base_url = base_url.rstrip("/")
        self.presign_seconds = presign_seconds
        self._cache: LRUCache[str, StoredFile] = LRUCache(
            maxsize=cache_bytes, getsizeof=lambda stored: len(stored.data) or 1
        )
        self._cache_limit = cache_bytes
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3FileStore:
        """The store `AKOWE_STORAGE_URL` and the `AKOWE_S3_*` settings describe."""
        bucket, prefix = parse_storage_url(settings.storage_url or "")
        credentials: dict[str, str] = {}
        if settings.s3_access_key_id and settings.s3_secret_access_key:
            credentials = {
                "aws_access_key_id": settings.s3_access_key_id.get_secret_value(),
                "aws_secret_access_key": settings.s3_secret_access_key.get_secret_value(),
            }
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            config=Config(
                # Short timeouts and few retries: a request waiting on a dead store answers
                # 503 in seconds instead of holding its connection.
                connect_timeout=3,
                read_timeout=20,
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": settings.s3_addressing_style},
                max_pool_connections=32,
            ),
            **credentials,
        )
        return cls(
            client=client,
            bucket=bucket,
            prefix=prefix,
            base_url=settings.public_base_url,
            presign_seconds=settings.s3_presign_seconds,
            cache_bytes=settings.storage_cache_bytes,
        )

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def put(self, data: bytes, content_type: str) -> str:
        """Upload the bytes under their content address (uploading them again is harmless)."""
        key = make_key(data, content_type)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._name(key),
                Body=data,
                ContentType=content_type,
                CacheControl="public, max-age=31536000, immutable",
            )
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable() from exc
        self._remember(key, StoredFile(data=data, content_type=content_type))
        return key

    def get(self, key: str) -> StoredFile | None:
        """The file, or None for an unknown or malformed key."""
        if not is_valid_key(key):
            return None
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
            data = answer["Body"].read()
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise StoreUnavailable() from exc
        except BotoCoreError as exc:
            raise StoreUnavailable() from exc
        stored = StoredFile(data=data, content_type=content_type_of(key))
        self._remember(key, stored)
        return stored

    def _remember(self, key: str, stored: StoredFile) -> None:
        if len(stored.data) <= self._cache_limit // 4:
            with self._lock:
                self._cache[key] = stored

    def _exists(self, key: str) -> bool:
        with self._lock:
            if key in self._cache:
                return True
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise StoreUnavailable() from exc
        except BotoCoreError as exc:
            raise StoreUnavailable() from exc
        return True

    def url(self, key: str) -> str:
        """`<public base URL>/files/<key>`: any API process serves it."""
        return files_url(self.base_url, key)

    def key_from_url(self, url: str) -> str | None:
        """The key if `url` is one of ours and the object exists."""
        prefix = f"{self.base_url}{FILES_PATH}/"
        if not url.startswith(prefix):
            return None
        key = url[len(prefix) :]
        return key if is_valid_key(key) and self._exists(key) else None

    def redirect_url(self, key: str) -> str | None:
        """A presigned GET URL for a raster image when `AKOWE_S3_PRESIGN_SECONDS` is set."""
        if not self.presign_seconds or not is_valid_key(key):
            return None
        if content_type_of(key) not in REDIRECTABLE or not self._exists(key):
            return None
        try:
            url: str = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._name(key)},
                ExpiresIn=self.presign_seconds,
            )
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable() from exc
        return url

    def ping(self) -> None:
        """The bucket answers with our credentials."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable(
                f"The object store bucket {self.bucket!r} is unreachable."
            ) from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
