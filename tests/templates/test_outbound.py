"""Fetching template images from URLs: the SSRF guard, redirects, limits, and the API path."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from akowe.outbound import FetchRefused, HttpImageFetcher, is_public
from tests.storage.factories import image_bytes
from tests.templates.conftest import ImageServer, Route
from tests.templates.test_templates import URL, body, errors_of

LOOPBACK_ONLY = [ipaddress.ip_network("127.0.0.1/32")]


def loopback_fetcher(**kwargs: object) -> HttpImageFetcher:
    """A fetcher that trusts 127.0.0.1 (our test server) and nothing else non-public."""
    return HttpImageFetcher(allowed_networks=LOOPBACK_ONLY, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def png(image_server: ImageServer) -> bytes:
    data = image_bytes(40, 20)
    image_server.routes["/bg.png"] = Route(body=data, headers={"Content-Type": "image/png"})
    return data


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.8.8", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
        "0.0.0.0", "100.64.0.1", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1",
        "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1",
        "2002:7f00:1::", "ff02::1",
    ],
)  # fmt: skip
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.png",
        "http://10.0.0.1/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/a.png",
        "http://[::1]/a.png",
        "http://[::ffff:7f00:1]/a.png",
        "http://localhost/a.png",
        "file:///etc/passwd",
        "gopher://example.com/",
    ],
)
def test_the_guard_refuses_before_connecting(url: str) -> None:
    # A transport that fails the test if anything is ever sent.
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"connected to {request.url}")

    fetcher = HttpImageFetcher(transport=httpx.MockTransport(handler))
    with pytest.raises(FetchRefused):
        fetcher.fetch(url)


def test_names_are_checked_after_dns_resolution() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("connected")

    for answer in (["127.0.0.1"], ["93.184.215.14", "10.0.0.1"], ["169.254.169.254"]):
        fetcher = HttpImageFetcher(
            resolver=lambda host, port, a=answer: a, transport=httpx.MockTransport(handler)
        )
        with pytest.raises(FetchRefused, match="private or reserved"):
            fetcher.fetch("http://images.example.com/bg.png")


def test_the_connection_goes_to_the_vetted_address(image_server: ImageServer, png: bytes) -> None:
    # "images.test" cannot be resolved by the system: the fetch only works because the
    # request goes to the address our resolver vetted, with the name in the Host header.
    port = int(image_server.base.rsplit(":", 1)[1])
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    fetched = loopback_fetcher(resolver=resolver).fetch(f"http://images.test:{port}/bg.png")
    assert fetched.data == png
    assert fetched.content_type == "image/png"
    assert calls == ["images.test"]
    assert image_server.hits[-1] == ("/bg.png", f"images.test:{port}")


def test_the_guard_refuses_the_loopback_server_by_default(
    image_server: ImageServer, png: bytes
) -> None:
    before = len(image_server.hits)
    with pytest.raises(FetchRefused):
        HttpImageFetcher().fetch(image_server.url("/bg.png"))
    assert len(image_server.hits) == before


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://10.0.0.1/bg.png",
        "http://127.0.0.2/bg.png",
        "http://[::1]/bg.png",
        "http://0.0.0.0/bg.png",
    ],
)
def test_a_redirect_to_a_private_address_is_refused(image_server: ImageServer, target: str) -> None:
    image_server.routes["/redirect"] = Route(status=302, headers={"Location": target})
    hits_before = len(image_server.hits)
    with pytest.raises(FetchRefused, match="private or reserved"):
        loopback_fetcher().fetch(image_server.url("/redirect"))
    assert image_server.hits[hits_before:] == [("/redirect", image_server.base[7:])]


def test_redirects_are_followed_and_rechecked(image_server: ImageServer, png: bytes) -> None:
    image_server.routes["/hop"] = Route(status=301, headers={"Location": "/bg.png"})
    assert loopback_fetcher().fetch(image_server.url("/hop")).data == png
    image_server.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchRefused, match="too many"):
        loopback_fetcher().fetch(image_server.url("/loop"))


def test_limits_on_size_type_status_and_time(image_server: ImageServer) -> None:
    image_server.routes["/big.png"] = Route(
        body=b"\0" * 2048, headers={"Content-Type": "image/png"}
    )
    image_server.routes["/page.html"] = Route(body=b"<html>", headers={"Content-Type": "text/html"})
    image_server.routes["/slow.png"] = Route(
        body=b"x", headers={"Content-Type": "image/png"}, delay=1.5
    )
    with pytest.raises(FetchRefused, match="larger than"):
        loopback_fetcher(max_bytes=1024).fetch(image_server.url("/big.png"))
    with pytest.raises(FetchRefused, match="not an image"):
        loopback_fetcher().fetch(image_server.url("/page.html"))
    with pytest.raises(FetchRefused, match="status 404"):
        loopback_fetcher().fetch(image_server.url("/missing.png"))
    with pytest.raises(FetchRefused, match="longer than"):
        loopback_fetcher(timeout=0.5).fetch(image_server.url("/slow.png"))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/bg.png",
        "http://10.0.0.1/bg.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/bg.png",
    ],
)
def test_the_api_refuses_private_urls_by_default(client: httpx.Client, account, url: str) -> None:
    response = client.post(URL, json=body(imageUrl=url), headers=account.headers())
    assert errors_of(response) == ["imageUrl"]
    assert "could not be fetched" in response.json()["errors"][0]["message"]


def test_the_api_refuses_the_loopback_image_server_by_default(
    client: httpx.Client, account, image_server: ImageServer, png: bytes
) -> None:
    before = len(image_server.hits)
    response = client.post(
        URL, json=body(imageUrl=image_server.url("/bg.png")), headers=account.headers()
    )
    assert errors_of(response) == ["imageUrl"]
    assert len(image_server.hits) == before


def test_the_api_fetches_a_url_when_private_urls_are_allowed(
    open_client: httpx.Client, account, image_server: ImageServer, png: bytes
) -> None:
    response = open_client.post(
        URL, json=body(imageUrl=image_server.url("/bg.png")), headers=account.headers()
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["imageUrl"].startswith(f"{str(open_client.base_url).rstrip('/')}/files/")
    assert open_client.get(data["imageUrl"]).content == png
    # Fetched once: the stored copy is served, the origin is not asked again.
    hits = len(image_server.hits)
    open_client.get(data["imageUrl"])
    assert len(image_server.hits) == hits


def test_a_fetched_file_that_is_not_a_real_image_is_refused(
    open_client: httpx.Client, account, image_server: ImageServer
) -> None:
    image_server.routes["/fake.png"] = Route(
        body=b"GIF89a...", headers={"Content-Type": "image/png"}
    )
    response = open_client.post(
        URL, json=body(imageUrl=image_server.url("/fake.png")), headers=account.headers()
    )
    assert errors_of(response) == ["imageUrl"]
