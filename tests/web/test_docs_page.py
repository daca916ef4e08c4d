"""The interactive API docs render in a real headless browser, with no internet access:
Swagger UI is served by this service, not a CDN."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        reason = f"page tests need Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def test_docs_render_the_api_offline(browser, server: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    outside: list[str] = []

    def route(request_route) -> None:  # type: ignore[no-untyped-def]
        url = request_route.request.url
        if url.startswith(server):
            request_route.continue_()
        else:  # anything outside this service would fail on an offline machine
            outside.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.goto(f"{server}/docs")
    page.wait_for_selector("text=Akowe Issuance API", timeout=20_000)
    page.locator(".opblock-summary-path", has_text="/api/certificates/issue").first.wait_for(
        timeout=20_000
    )
    operation = page.locator(".opblock-summary-path", has_text="/api/users/balance").first
    assert operation.is_visible()
    page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)
    assert outside == []
    page.close()
