"""The file store and `/files/{key}`: content addresses, headers, caching, 404s."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from akowe.config import Settings
from akowe.storage.images import ImageRejected, check_raster, check_svg, parse_data_uri
from akowe.storage.store import LocalFileStore, make_store
from tests.storage.factories import SVG_LOGO, image_bytes, png_header_only


def test_put_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path, "https://certs.example/")
    data = image_bytes(10, 10, "JPEG")
    key = store.put(data, "image/jpeg")
    assert key == f"{hashlib.sha256(data).hexdigest()}.jpg"
    assert store.put(data, "image/jpeg") == key
    stored = store.get(key)
    assert stored is not None
    assert stored.data == data
    assert stored.content_type == "image/jpeg"
    assert store.url(key) == f"https://certs.example/files/{key}"
    assert store.key_from_url(store.url(key)) == key
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [key]


@pytest.mark.parametrize(
    "key",
    ["", "../../etc/passwd", "0" * 64 + ".png", "0" * 64 + ".exe", "abc.png", "0" * 64],
)
def test_unknown_or_malformed_keys_are_none(tmp_path: Path, key: str) -> None:
    store = LocalFileStore(tmp_path, "http://x")
    assert store.get(key) is None
    assert store.key_from_url(f"http://x/files/{key}") is None


def test_foreign_urls_are_not_ours(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path, "http://x")
    key = store.put(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
    assert store.key_from_url(f"http://elsewhere/files/{key}") is None


def test_unsupported_content_types_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        LocalFileStore(tmp_path, "http://x").put(b"x", "text/html")


def test_served_files_carry_type_and_cache_headers(
    client: httpx.Client, settings: Settings
) -> None:
    store = make_store(settings)
    for data, content_type in (
        (image_bytes(12, 12, "PNG"), "image/png"),
        (image_bytes(12, 12, "JPEG"), "image/jpeg"),
        (image_bytes(12, 12, "WEBP"), "image/webp"),
        (SVG_LOGO, "image/svg+xml"),
    ):
        key = store.put(data, content_type)
        response = client.get(f"/files/{key}")
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["content-type"] == content_type
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["etag"] == f'"{key.split(".")[0]}"'
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        again = client.get(f"/files/{key}", headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""


@pytest.mark.parametrize("key", ["0" * 64 + ".png", "nope", "..%2E%2E"])
def test_unknown_files_are_404_in_the_envelope(client: httpx.Client, key: str) -> None:
    response = client.get(f"/files/{key}")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "message": "The requested file could not be found",
        "code": "file_not_found",
    }


def test_data_uris_must_be_base64() -> None:
    assert parse_data_uri("data:image/png;base64,aGk=").data == b"hi"
    for bad in ("data:image/png,hi", "data:;base64,", "nope"):
        with pytest.raises(ImageRejected):
            parse_data_uri(bad)


def test_raster_checks_size_format_and_bombs() -> None:
    info = check_raster(image_bytes(30, 20, "PNG"), max_bytes=1024 * 1024)
    assert (info.width, info.height, info.content_type) == (30, 20, "image/png")
    with pytest.raises(ImageRejected, match="larger than"):
        check_raster(image_bytes(30, 20, "PNG"), max_bytes=10)
    with pytest.raises(ImageRejected, match="too many pixels"):
        check_raster(png_header_only(100_000, 100_000), max_bytes=1024 * 1024)
    with pytest.raises(ImageRejected):
        check_raster(image_bytes(8, 8, "GIF"), max_bytes=1024 * 1024)


def test_svg_without_dtds_is_accepted() -> None:
    assert check_svg(SVG_LOGO, max_bytes=1024).content_type == "image/svg+xml"
    bomb = b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg>&a;</svg>'
    for bad in (bomb, b"<html></html>", b"<svg"):
        with pytest.raises(ImageRejected):
            check_svg(bad, max_bytes=1024)


def test_path_tricks_are_404(client: httpx.Client) -> None:
    response = client.get("/files/..%2F..%2Fetc%2Fpasswd")
    assert response.status_code == 404
    assert response.json()["success"] is False
