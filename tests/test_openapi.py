"""OpenAPI at /openapi.json and docs at /docs describe the real envelopes, headers and errors;
/healthz checks the database."""

from __future__ import annotations

import httpx

AKOWE_ENDPOINTS = {
    ("/api/users/balance", "get"),
    ("/api/profile/organization", "post"),
    ("/api/profile/organization", "get"),
    ("/api/profile/organization/{organizationId}", "get"),
    ("/api/profile/organization/{organizationId}", "delete"),
    ("/api/templates", "get"),
    ("/api/templates", "post"),
    ("/api/templates/{templateId}", "delete"),
    ("/api/certificates/issue", "post"),
}


def test_openapi_documents_every_akowe_endpoint_with_its_errors(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in AKOWE_ENDPOINTS:
        operation = paths[path][method]
        assert operation["security"] == [{"apiKey": []}], (path, method)
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                error = response["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/ErrorEnvelope"}, (path, status)
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "x-subaccount-email" in headers, (path, method)
    scheme = spec["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "x-api-key")
    envelope = spec["components"]["schemas"]["ErrorEnvelope"]["properties"]
    assert {"success", "message", "code", "errors"} <= set(envelope)
    issue = paths["/api/certificates/issue"]["post"]
    assert {"400", "402", "404", "409", "422"} <= set(issue["responses"])
    assert "Idempotency-Key" in {p["name"] for p in issue["parameters"]}
    balance = paths["/api/users/balance"]["get"]["responses"]["200"]["content"]
    schema_ref = balance["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(spec["components"]["schemas"][schema_ref]["properties"]) == {"success", "data"}


def test_interactive_docs_are_served(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    # Swagger UI is served from this service (works offline), with the spec inlined.
    assert "/docs/assets/swagger-ui-bundle.js" in response.text
    assert "cdn." not in response.text
    assert '"openapi":"3.1.0"' in response.text
    asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]


def test_healthz_checks_the_database(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "ok"


def test_every_response_carries_a_request_id(client: httpx.Client) -> None:
    ids = {client.get("/api/nothing").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
