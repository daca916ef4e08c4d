"""Content-addressed file storage behind a small Protocol: a local directory (the default) or
an S3-compatible object store (akowe.storage.s3, `AKOWE_STORAGE_URL=s3://bucket/prefix`).

A key is `<sha256 of the bytes>.<extension>`: the same bytes are stored once, a key never
changes meaning, so served files can be cached forever.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from akowe.config import Settings
from akowe.storage.exceptions import StoreUnavailable

CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "svg": "image/svg+xml",
    # Uploaded fonts: stored like every file, but never served (see akowe.storage.router).
    "ttf": "font/ttf",
    "otf": "font/otf",
}
EXTENSIONS = {content_type: ext for ext, content_type in CONTENT_TYPES.items()}
KEY_RE = re.compile(r"^[0-9a-f]{64}\.(png|jpg|webp|svg|ttf|otf)$")
FILES_PATH = "/files"


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file's bytes and media type."""

    data: bytes
    content_type: str


@runtime_checkable
class FileStore(Protocol):
    """Where uploaded files live; callers only ever see keys and URLs."""

    def put(self, data: bytes, content_type: str) -> str:
        """Store the bytes (idempotent) and return their key."""
        ...

    def get(self, key: str) -> StoredFile | None:
        """The file with this key, or None."""
        ...

    def url(self, key: str) -> str:
        """The absolute URL users fetch the file from."""
        ...

    def key_from_url(self, url: str) -> str | None:
        """The key of a file this store serves at `url`, or None (so our own URLs round-trip)."""
        ...

    def redirect_url(self, key: str) -> str | None:
        """A short-lived URL to send downloads to instead of serving the bytes, or None."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store can be read and written (readiness)."""
        ...


def make_key(data: bytes, content_type: str) -> str:
    """The content address of these bytes: `<sha256>.<ext>`."""
    ext = EXTENSIONS.get(content_type)
    if ext is None:
        raise ValueError(f"unsupported content type {content_type!r}")
    return f"{hashlib.sha256(data).hexdigest()}.{ext}"


def is_valid_key(key: str) -> bool:
    """Whether `key` has the shape of a key this store makes (guards against path tricks)."""
    return KEY_RE.match(key) is not None


def content_type_of(key: str) -> str:
    """The media type a key's extension stands for."""
    return CONTENT_TYPES[key.rsplit(".", 1)[1]]


class LocalFileStore:
    """Files in a local directory, sharded by the first two hex digits, served by this service."""

    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def put(self, data: bytes, content_type: str) -> str:
        """Write the bytes once, atomically (a reader never sees a partial file)."""
        key = make_key(data, content_type)
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> StoredFile | None:
        """The file, or None for an unknown or malformed key."""
        if not is_valid_key(key):
            return None
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        return StoredFile(data=data, content_type=content_type_of(key))

    def url(self, key: str) -> str:
        """`<public base URL>/files/<key>`."""
        return f"{self.base_url}{FILES_PATH}/{key}"

    def key_from_url(self, url: str) -> str | None:
        """The key if `url` is one of ours and the file exists."""
        prefix = f"{self.base_url}{FILES_PATH}/"
        if not url.startswith(prefix):
            return None
        key = url[len(prefix) :]
        return key if is_valid_key(key) and self._path(key).exists() else None

    def redirect_url(self, key: str) -> str | None:
        """Never: the service serves local files itself."""
        return None

    def ping(self) -> None:
        """The directory exists (or can be made) and takes a file."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".tmp-ping-"):
                pass
        except OSError as exc:
            raise StoreUnavailable(f"The file directory is not writable: {exc.strerror}") from exc


def files_url(base_url: str, key: str) -> str:
    """`<public base URL>/files/<key>`: where this service serves a stored file."""
    return f"{base_url.rstrip('/')}{FILES_PATH}/{key}"


def make_store(settings: Settings) -> FileStore:
    """The store the settings choose: `AKOWE_STORAGE_URL=s3://...` or the data directory."""
    if settings.storage_url:
        # Imported here: boto3 costs a process tens of megabytes and a second to import,
        # which a service on the local directory never pays.
        from akowe.storage.s3 import S3FileStore

        return S3FileStore.from_settings(settings)
    return LocalFileStore(settings.data_dir / "files", settings.public_base_url)
