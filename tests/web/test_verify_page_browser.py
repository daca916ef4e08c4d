"""The verification page in headless Chromium (Debian's, driven by Playwright): verdict and
name visible for a valid and a revoked certificate, with JavaScript off, on a desktop and a
phone screen, no request leaving the service, and zero axe-core accessibility violations.

Screenshots are kept as test artefacts in a directory under pytest's temporary path (printed,
and listed in the test's output). axe-core comes from the npm registry: `npm ci` in
tests/web (`.ci/run` does it); without it this test is skipped locally and fails in CI.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.certificates.conftest import ATTRIBUTES, Issuer, make_template, png_data_uri
from tests.verification.conftest import issue

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2, "is_mobile": True}


def _need(condition: bool, reason: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Any:
    _need(Path(CHROMIUM).exists(), f"page tests need Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify-page-screenshots")
    print(f"\nverification page screenshots: {path}")
    return path


@pytest.fixture
def issuer(client: httpx.Client, make_account) -> Issuer:  # type: ignore[no-untyped-def]
    """An issuer whose organization has a logo (the page shows it, with its alt text)."""
    account = make_account(credits=5)
    headers = account.headers()
    organization = client.post(
        "/api/profile/organization",
        headers=headers,
        json={
            "name": "Lagos Academy",
            "website": "https://lagos.example",
            "logo": png_data_uri(120, 60),
        },
    )
    assert organization.status_code == 201, organization.text
    return Issuer(
        account, organization.json()["data"]["id"], make_template(client, headers), headers
    )


def _offline_only(page: Page, server: str, outside: list[str]) -> None:
    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(server):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    page.route("**/*", route)


def _open(browser: Browser, server: str, url: str, **options: Any) -> tuple[Page, list[str]]:
    page = browser.new_context(**options).new_page()
    outside: list[str] = []
    _offline_only(page, server, outside)
    response = page.goto(url)
    assert response is not None and response.status == 200
    return page, outside


def _axe(browser: Browser, server: str, url: str) -> list[dict[str, Any]]:
    # The page's CSP forbids every script (it has none): only the test injects axe.
    page, _ = _open(browser, server, url, bypass_csp=True)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    page.context.close()
    return [{"id": v["id"], "help": v["help"], "nodes": len(v["nodes"])} for v in result]


def test_valid_and_revoked_pages_show_verdict_and_name_and_pass_axe(
    browser: Browser,
    server: str,
    client: httpx.Client,
    issuer: Issuer,
    artefacts: Path,
) -> None:
    _need(AXE.exists(), f"axe-core missing: run `npm ci` in {AXE.parents[2]}")
    valid = issue(client, issuer, expiresAt="2099-06-30T12:00:00Z")
    revoked = issue(
        client, issuer, recipientData={"name": "Chinonso Okafor", "attributes": dict(ATTRIBUTES)}
    )
    response = client.post(
        f"/api/certificates/{revoked['certificateId']}/revoke",
        headers=issuer.headers,
        json={"reason": "Issued in error"},
    )
    assert response.status_code == 200

    for label, data, name, verdict in (
        ("valid", valid, "John Doe", "VALID"),
        ("revoked", revoked, "Chinonso Okafor", "REVOKED"),
    ):
        url = data["verificationUrl"]
        for screen, options in (
            ("desktop", {"viewport": {"width": 1280, "height": 900}}),
            ("phone", PHONE),
        ):
            page, outside = _open(browser, server, url, java_script_enabled=False, **options)
            heading = page.get_by_role("heading", level=1)
            assert heading.is_visible() and verdict in heading.inner_text()
            assert page.get_by_text(name, exact=True).first.is_visible()
            assert page.get_by_role("img", name="Lagos Academy logo").is_visible()
            assert page.get_by_role("row", name="Signature").is_visible()
            image = page.locator("img.certificate-image")
            image.scroll_into_view_if_needed()
            page.wait_for_function(
                "() => document.querySelector('img.certificate-image').complete", timeout=20_000
            )
            assert image.evaluate("img => img.naturalWidth") > 0
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= page.viewport_size["width"], (label, screen, wide)  # type: ignore[index]
            shot = artefacts / f"{label}-{screen}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            assert outside == []
            page.context.close()
        if label == "revoked":
            page, _ = _open(browser, server, url, java_script_enabled=False)
            assert page.get_by_text("Reason: Issued in error").is_visible()
            page.context.close()
        violations = _axe(browser, server, url)
        assert violations == [], (label, violations)
    print(f"screenshots: {sorted(p.name for p in artefacts.iterdir())}")


def test_a_script_in_a_name_is_text_in_the_browser(
    browser: Browser, server: str, client: httpx.Client, issuer: Issuer, artefacts: Path
) -> None:
    name = "<script>alert(1)</script>"
    data = issue(client, issuer, recipientData={"name": name, "attributes": dict(ATTRIBUTES)})
    page = browser.new_context().new_page()  # JavaScript on: nothing may run anyway
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(data["verificationUrl"])
    assert page.get_by_text(name, exact=True).first.is_visible()
    assert page.evaluate("document.scripts.length") == 0
    page.screenshot(path=str(artefacts / "script-name.png"))
    page.context.close()
    assert dialogs == []


def test_the_not_found_page_is_friendly_and_accessible(
    browser: Browser, server: str, artefacts: Path
) -> None:
    _need(AXE.exists(), f"axe-core missing: run `npm ci` in {AXE.parents[2]}")
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    response = page.goto(f"{server}/verify/not-a-real-id")
    assert response is not None and response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Certificate not found"
    page.screenshot(path=str(artefacts / "not-found.png"))
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    context.close()
    assert violations == []
