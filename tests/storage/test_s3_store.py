"""The S3 file store against a real S3-compatible server on loopback (tests/s3server.py):
the same content addresses as the local store, files shared between processes, a store that
goes away answers 503 and recovers when it returns, presigned downloads."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from akowe.config import Settings
from akowe.main import create_app
from akowe.storage.exceptions import StoreUnavailable
from akowe.storage.s3 import S3FileStore, parse_storage_url
from akowe.storage.store import make_store
from tests.conftest import SMALL_POOL, _free_port, serve
from tests.s3server import S3Server
from tests.storage.factories import SVG_LOGO, image_bytes


def s3_settings(settings: Settings, s3: S3Server, bucket: str, **extra: object) -> Settings:
    # Built anew rather than model_copy'd: the copy would keep the cached public URL.
    return Settings(**{**settings.model_dump(), **s3.settings(bucket), **extra})


def store_for(settings: Settings, s3: S3Server, bucket: str, **extra: object) -> S3FileStore:
    store = make_store(s3_settings(settings, s3, bucket, **extra))
    assert isinstance(store, S3FileStore)
    return store


def test_storage_urls_name_a_bucket_and_a_prefix() -> None:
    assert parse_storage_url("s3://certs") == ("certs", "")
    assert parse_storage_url("s3://certs/") == ("certs", "")
    assert parse_storage_url("s3://certs/akowe/files/") == ("certs", "akowe/files/")
    for wrong in ("certs", "https://certs/x", "s3:///x"):
        with pytest.raises(ValueError, match="s3://bucket/prefix"):
            parse_storage_url(wrong)


def test_put_and_get_use_content_addresses_under_the_prefix(
    settings: Settings, s3: S3Server
) -> None:
    bucket = s3.new_bucket()
    store = store_for(settings, s3, bucket)
    data = image_bytes(10, 10, "JPEG")
    key = store.put(data, "image/jpeg")
    assert key == f"{hashlib.sha256(data).hexdigest()}.jpg"
    assert store.put(data, "image/jpeg") == key
    listed = s3.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [f"files/{key}"]
    # Another process: its own client and an empty memory cache reads the object back.
    other = store_for(settings, s3, bucket)
    stored = other.get(key)
    assert stored is not None
    assert stored.data == data
    assert stored.content_type == "image/jpeg"
    assert other.url(key) == f"{settings.public_base_url}/files/{key}"
    assert other.key_from_url(other.url(key)) == key
    assert other.redirect_url(key) is None  # presigning is off by default


@pytest.mark.parametrize("key", ["", "../../etc/passwd", "0" * 64 + ".png", "abc.png", "0" * 64])
def test_unknown_or_malformed_keys_are_none(settings: Settings, s3: S3Server, key: str) -> None:
    store = store_for(settings, s3, s3.new_bucket())
    assert store.get(key) is None
    assert store.key_from_url(f"{settings.public_base_url}/files/{key}") is None


def test_a_store_that_goes_away_is_unavailable_then_recovers(
    settings: Settings, tmp_path: Path
) -> None:
    from tests.s3server import s3_server

    with s3_server(tmp_path / "moto.log") as server:
        bucket = server.new_bucket()
        store = store_for(settings, server, bucket, storage_cache_bytes=0)
        data = image_bytes(8, 8, "PNG")
        key = store.put(data, "image/png")
        store.ping()
        server.stop()
        for attempt in (lambda: store.get(key), lambda: store.put(data, "image/png"), store.ping):
            with pytest.raises(StoreUnavailable):
                attempt()
        server.start()
        # moto keeps buckets in memory, so the restarted server is empty: the same bucket is
        # made again, and the same store object (no restart of ours) works at once.
        server.client().create_bucket(Bucket=bucket)
        store.ping()
        assert store.get(key) is None
        assert store.put(data, "image/png") == key
        stored = store.get(key)
        assert stored is not None and stored.data == data


@pytest.fixture
def s3_app(settings: Settings, s3: S3Server) -> Iterator[tuple[str, S3Server, str, Path]]:
    """The service on a fresh bucket with presigned downloads on."""
    bucket = s3.new_bucket()
    port = _free_port()
    config = s3_settings(
        settings,
        s3,
        bucket,
        port=port,
        base_url=f"http://127.0.0.1:{port}",
        data_dir=settings.data_dir / f"s3-{bucket}",
        s3_presign_seconds=300,
        **SMALL_POOL,
    )
    with serve(create_app(config), port) as url:
        yield url, s3, bucket, config.data_dir


def test_uploaded_files_live_in_the_bucket_and_downloads_are_presigned(
    s3_app: tuple[str, S3Server, str, Path], make_account
) -> None:  # type: ignore[no-untyped-def]
    url, s3, bucket, data_dir = s3_app
    account = make_account()
    png = image_bytes(30, 20, "PNG")
    with httpx.Client(base_url=url, timeout=30) as client:
        created = client.post(
            "/api/profile/organization",
            headers=account.headers(),
            json={"name": "Bucket School", "logo": "data:image/png;base64," + _b64(png)},
        )
        assert created.status_code == 201, created.text
        logo_url = created.json()["data"]["logo"]
        key = logo_url.rsplit("/", 1)[1]
        assert logo_url == f"{url}/files/{key}"
        names = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
        assert f"files/{key}" in names
        answer = client.get(logo_url)
        assert answer.status_code == 307
        location = answer.headers["location"]
        assert location.startswith(s3.endpoint) and "Signature" in location
        assert httpx.get(location).content == png
        # SVG is never handed to the object store's origin: the service serves it sandboxed.
        svg = client.post(
            "/api/profile/organization",
            headers=account.headers(),
            json={"name": "Vector School", "logo": "data:image/svg+xml;base64," + _b64(SVG_LOGO)},
        )
        assert svg.status_code == 201, svg.text
        served = client.get(svg.json()["data"]["logo"])
        assert served.status_code == 200
        assert served.content == SVG_LOGO
        assert "sandbox" in served.headers["content-security-policy"]
    assert not (data_dir / "files").exists()


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
