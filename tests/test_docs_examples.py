"""/docs shows real-looking examples everywhere: every documented body has an example that
the service itself accepts (requests) or could answer (responses), Swagger UI renders no
`additionalProp1` or `"string"` placeholder, and the field geometry is explained."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from akowe.api.examples import EXAMPLES, NAMED_EXAMPLES
from tests.web.test_docs_page import browser  # noqa: F401  (the Chromium fixture)


def _wire_names(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


@pytest.mark.parametrize("model", list(EXAMPLES), ids=lambda m: m.__name__)
def test_every_example_is_valid_for_its_model(model: type[BaseModel]) -> None:
    example = EXAMPLES[model]
    model.model_validate(example)
    assert set(example) <= _wire_names(model), set(example) - _wire_names(model)


def _walk(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, dict):
        for item in value.values():
            out += _walk(item)
    elif isinstance(value, list):
        for item in value:
            out += _walk(item)
    return out


def test_every_documented_body_has_an_example(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    wrappers = {name for name in schemas if name.startswith("Envelope_")} | {"ErrorEnvelope"}
    missing = [
        name
        for name, schema in schemas.items()
        if name not in wrappers
        and "examples" not in schema
        and not all("examples" in p or "$ref" in p for p in schema.get("properties", {}).values())
    ]
    assert missing == []
    assert set(NAMED_EXAMPLES) <= set(schemas)
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {}).get("application/json")
                if content is None:
                    continue
                schema = content.get("schema", {})
                # A bare `object` (dict[str, Any]) is what Swagger shows as additionalProp1.
                assert "$ref" in schema or schema.get("type") != "object", (method, path, status)


def test_the_issue_response_is_documented_with_its_message(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    created = spec["paths"]["/api/certificates/issue"]["post"]["responses"]["201"]
    content = created["content"]["application/json"]
    assert content["schema"] == {"$ref": "#/components/schemas/Envelope_CertificateRead_"}
    [example] = content["examples"].values()
    assert example["value"]["message"] == "Certificate issued successfully"
    assert example["value"]["data"]["recipientName"] == "John Doe"


def test_field_geometry_is_explained(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    for name in ("FieldIn", "FieldRead"):
        properties = spec["components"]["schemas"][name]["properties"]
        font_size = properties["fontSize"]["description"]
        assert "`qr`" in font_size and "side length" in font_size, name
        y = properties["y"]["description"]
        assert "from the top" in y and "middle of the line" in y and "centred" in y, name
        assert "alignment" in properties["x"]["description"], name


OPENED = "document.querySelectorAll('.opblock-body').length"
SHOWN = (
    "Array.from(document.querySelectorAll('.highlight-code, .example, .microlight'),"
    " element => element.innerText)"
)


def _toggle(first: int, end: int) -> str:
    """A script clicking operations first..end-1 open (or shut), all in one call: Playwright's
    per-click round trips and actionability waits took minutes for some sixty operations."""
    return (
        "Array.from(document.querySelectorAll('.opblock-summary-control'))"
        f".slice({first}, {end}).forEach(s => s.click())"
    )


def _wait_for_open(page: Any, want: int, deadline: float) -> None:
    # Polled from here: wait_for_function compiles its predicate in the page, which the docs
    # page's Content-Security-Policy (no 'unsafe-eval') forbids.
    while page.evaluate(OPENED) != want:
        assert time.monotonic() < deadline, "Swagger UI did not open every operation"
        time.sleep(0.05)


def test_swagger_ui_shows_no_placeholder_values(browser, server: str) -> None:  # noqa: F811
    # Swagger UI takes ~0.7 s of a core to open one operation the first time, and longer
    # each when many are open at once (52 clicked together: 53 s). So two pages (two
    # renderer processes, one per core) each open three operations at a time, read what
    # they show and close them again: ~21 s.
    pages = [browser.new_page(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    for page in pages:
        page.goto(f"{server}/docs")
        page.locator(".opblock-summary").first.wait_for(timeout=30_000)
    count = pages[0].locator(".opblock-summary").count()
    assert count > 40, count  # every operation of the API is listed
    batches = [(first, min(first + 3, count)) for first in range(0, count, 3)]
    texts: list[str] = []
    deadline = time.monotonic() + 120
    while batches:
        busy = [(page, batches.pop(0)) for page in pages[: len(batches)]]
        for page, (first, end) in busy:
            page.evaluate(_toggle(first, end))
        for page, (first, end) in busy:
            _wait_for_open(page, end - first, deadline)
            texts += page.evaluate(SHOWN)
            page.evaluate(_toggle(first, end))
        for page, _ in busy:
            _wait_for_open(page, 0, deadline)
    for page in pages:
        page.close()
    shown = "\n".join(texts)
    assert "John Doe" in shown and "Certificate issued successfully" in shown
    assert "additionalProp" not in shown, shown[max(0, shown.find("additionalProp") - 400) :][:800]
    assert '"string"' not in shown
