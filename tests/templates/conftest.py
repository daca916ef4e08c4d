"""Fixtures for template tests: a loopback HTTP server that serves images (and redirects),
and a second instance of the service with the private-address guard relaxed and the
default body limit."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from akowe.config import Settings
from akowe.main import create_app
from tests.conftest import serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class ImageServer:
    """Serves `routes` on 127.0.0.1 and records every request it receives."""

    base: str
    routes: dict[str, Route]
    hits: list[tuple[str, str]]  # (path, Host header)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture(scope="session")
def image_server() -> Iterator[ImageServer]:
    routes: dict[str, Route] = {}
    hits: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append((self.path, self.headers.get("Host", "")))
            route = routes.get(self.path, Route(status=404, body=b"not found"))
            if route.delay:
                time.sleep(route.delay)
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(route.body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield ImageServer(f"http://127.0.0.1:{httpd.server_address[1]}", routes, hits)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def open_server(settings: Settings) -> Iterator[str]:
    """The service again on the same database and files, with AKOWE_ALLOW_PRIVATE_URLS=1
    and the default body limit (the main test server uses a small one)."""
    port = _free_port()
    open_settings = Settings(
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        port=port,
        base_url=f"http://127.0.0.1:{port}",
        allow_private_urls=True,
        log_level="WARNING",
        secret_key=settings.secret_key,
        # Like the main test server: no worker (it would sign other tests' credentials with
        # this server's base URL, which the main server does not answer for).
        worker_enabled=False,
    )
    assert open_settings.max_body_bytes == 25 * 1024 * 1024
    with serve(create_app(open_settings), port) as url:
        yield url


@pytest.fixture
def open_client(open_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=open_server, timeout=60) as c:
        yield c
