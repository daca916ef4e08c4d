"""Outbound HTTP to URLs users give us (template images, webhooks), never an SSRF proxy.

Every hop (the first URL and each redirect) is resolved, every address it resolves to must
be public, and the connection goes to the vetted address (the hostname travels in the Host
header and TLS SNI), so a DNS answer that changes between check and connect changes nothing.
`GuardedClient` is the one way the service sends a request to a user-supplied URL.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urljoin

import httpx

from akowe.config import Settings

MAX_BYTES = 10 * 1024 * 1024
TIMEOUT_SECONDS = 10.0
MAX_REDIRECTS = 5
ACCEPTED_TYPES = ("image/png", "image/jpeg", "image/webp")

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchRefused(Exception):
    """The URL may not be fetched, or the fetch failed; the message is safe to show.

    `transient` failures (timeouts, refused connections) may succeed if tried again; the
    others (a private address, a bad URL) never will.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class FetchTimedOut(FetchRefused):
    """The request did not finish in time."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


@dataclass(frozen=True, slots=True)
class FetchedFile:
    """A downloaded body and its declared media type."""

    data: bytes
    content_type: str


@runtime_checkable
class ImageFetcher(Protocol):
    """Downloads an image from a URL given by a user."""

    def fetch(self, url: str) -> FetchedFile:
        """The body at `url`, or FetchRefused."""
        ...


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused("the host name could not be resolved") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in ipaddress.IPv6Network("64:ff9b::/96") or ip in ipaddress.IPv6Network("::/96"):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Whether an address is publicly routable: not loopback, private, link-local (cloud
    metadata), CGNAT, multicast, reserved or unspecified, in IPv4 or any IPv6 disguise."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and not is_public(embedded):
            return False
        if ip.scope_id:
            return False
    return bool(ip.is_global) and not ip.is_multicast and not ip.is_unspecified


def parse_ip(value: str) -> IPAddress:
    """An address from a resolver answer (IPv6 scope ids kept so they are refused)."""
    return ipaddress.ip_address(value)


def vet(
    url: httpx.URL,
    *,
    allow_private: bool = False,
    allowed_networks: Sequence[IPNetwork] = (),
    resolver: Resolver = resolve,
) -> str:
    """The address to connect to for `url`, or FetchRefused (public addresses only, unless
    `allow_private`; `allowed_networks` are non-public networks trusted all the same)."""
    if url.scheme not in {"http", "https"}:
        raise FetchRefused("only http and https URLs are allowed")
    host = url.host
    if not host:
        raise FetchRefused("the URL has no host")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = [parse_ip(host)]
    except ValueError:
        addresses = [parse_ip(a) for a in resolver(host, port)]
    if not addresses:
        raise FetchRefused("the host name could not be resolved")

    def allowed(ip: IPAddress) -> bool:
        return is_public(ip) or any(ip.version == n.version and ip in n for n in allowed_networks)

    if not allow_private and not all(allowed(a) for a in addresses):
        raise FetchRefused("the URL points to a private or reserved network address")
    return str(addresses[0]).split("%", 1)[0]


def parse_url(url: str) -> httpx.URL:
    """`url` parsed, or FetchRefused."""
    try:
        return httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchRefused("the URL is not valid") from exc


class GuardedClient:
    """An httpx client that vets every hop and connects to the vetted address."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        allowed_networks: Sequence[IPNetwork] = (),
        resolver: Resolver = resolve,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = "akowe",
    ) -> None:
        self.allow_private = allow_private
        self.allowed_networks = tuple(allowed_networks)
        self.resolver = resolver
        self.user_agent = user_agent
        self.client = httpx.Client(
            follow_redirects=False, trust_env=False, transport=transport, verify=True
        )

    def send(
        self,
        method: str,
        url: str,
        *,
        timeout: float,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        max_redirects: int = 0,
    ) -> httpx.Response:
        """Send the request and return the streamed final response (the caller closes it).

        Redirects are followed (GET only) up to `max_redirects`, each hop vetted again;
        httpx errors become FetchRefused with a message safe to show or store.
        """
        deadline = time.monotonic() + timeout
        current = parse_url(url)
        for _ in range(max_redirects + 1):
            address = vet(
                current,
                allow_private=self.allow_private,
                allowed_networks=self.allowed_networks,
                resolver=self.resolver,
            )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchTimedOut(f"timed out after {timeout:g} s")
            request = self.client.build_request(
                method,
                current.copy_with(host=address),
                content=content,
                headers={
                    "Host": current.netloc.decode("ascii").rsplit("@", 1)[-1],
                    "User-Agent": self.user_agent,
                    **(headers or {}),
                },
                extensions={
                    "timeout": httpx.Timeout(remaining).as_dict(),
                    **({"sni_hostname": current.host} if current.scheme == "https" else {}),
                },
            )
            try:
                response = self.client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise FetchTimedOut(f"timed out after {timeout:g} s") from exc
            except httpx.HTTPError as exc:
                message = f"connection failed: {type(exc).__name__}"
                raise FetchRefused(message, transient=True) from exc
            if not (response.is_redirect and max_redirects):
                return response
            location = response.headers.get("location")
            response.close()
            if not location:
                raise FetchRefused("the server sent a redirect without a location")
            try:
                current = httpx.URL(urljoin(str(current), location))
            except httpx.InvalidURL as exc:
                raise FetchRefused("the server redirected to an invalid URL") from exc
        raise FetchRefused("the URL redirected too many times")

    def close(self) -> None:
        """Close pooled connections."""
        self.client.close()


class HttpImageFetcher:
    """The real fetcher: http(s) only, public addresses only (unless allowed), size/time caps."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        allowed_networks: Sequence[IPNetwork] = (),
        max_bytes: int = MAX_BYTES,
        timeout: float = TIMEOUT_SECONDS,
        resolver: Resolver = resolve,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.client = GuardedClient(
            allow_private=allow_private,
            allowed_networks=allowed_networks,
            resolver=resolver,
            transport=transport,
            user_agent="akowe-image-fetcher",
        )

    def fetch(self, url: str) -> FetchedFile:
        """Download `url` following at most 5 redirects, each hop vetted again."""
        deadline = time.monotonic() + self.timeout
        try:
            response = self.client.send(
                "GET",
                url,
                timeout=self.timeout,
                max_redirects=MAX_REDIRECTS,
                headers={
                    "Accept": ", ".join(ACCEPTED_TYPES),
                    # Compressed bodies could expand past the size cap in one chunk.
                    "Accept-Encoding": "identity",
                },
            )
        except FetchTimedOut as exc:
            raise FetchRefused(self._too_slow) from exc
        except FetchRefused as exc:
            if exc.transient:
                raise FetchRefused("the URL could not be downloaded", transient=True) from exc
            raise
        try:
            if response.is_redirect:
                raise FetchRefused("the URL redirected too many times")
            return self._read(response, deadline)
        finally:
            response.close()

    @property
    def _too_slow(self) -> str:
        return f"the download took longer than {self.timeout:g} seconds"

    def _read(self, response: httpx.Response, deadline: float) -> FetchedFile:
        if response.status_code != 200:
            raise FetchRefused(f"the server answered with status {response.status_code}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not content_type.startswith("image/"):
            raise FetchRefused("the URL is not an image (content type must be image/*)")
        limit = f"the image is larger than {self.max_bytes // (1024 * 1024)} MiB"
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchRefused(limit)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchRefused(limit)
                if time.monotonic() > deadline:
                    raise FetchRefused(self._too_slow)
                chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise FetchRefused(self._too_slow) from exc
        except httpx.HTTPError as exc:
            raise FetchRefused("the URL could not be downloaded") from exc
        return FetchedFile(data=b"".join(chunks), content_type=content_type)


def make_fetcher(settings: Settings) -> ImageFetcher:
    """The fetcher for these settings (`AKOWE_ALLOW_PRIVATE_URLS=1` lifts the address guard)."""
    return HttpImageFetcher(allow_private=settings.allow_private_urls)
