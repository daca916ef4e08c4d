"""Search (`q`), unknown query parameters, the CSV export and the `/v1` base path."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from akowe.certificates import service
from akowe.certificates.search import prefix_range, terms, words
from tests.certificates.conftest import ATTRIBUTES, Issuer
from tests.certificates.test_lifecycle import issue


def issue_to(
    client: httpx.Client, issuer: Issuer, name: str, email: str = "x@example.com", **attributes: str
) -> dict:
    return issue(
        client,
        issuer,
        name,
        recipientData={"email": email, "attributes": {**ATTRIBUTES, **attributes}},
    )


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [c["recipientName"] for c in response.json()["data"]]


@pytest.fixture(params=[service.RARE, 2, 0], ids=["driven", "mixed", "scanned"])
def plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each way a search can run (the server runs in this process): starting from the rarest
    word's matches (the words here are all rare), starting from a word with fewer than 2
    matches and probing the others, or walking the newest certificates and probing every
    word. All must find the same certificates."""
    monkeypatch.setattr(service, "RARE", request.param)


def test_words_are_accent_and_case_free() -> None:
    assert words("Adéwálé ÒGÚNLÉ") == ["adewale", "ogunle"]
    assert terms("Zoë Ĳssel", "Zoe.Ijssel@Example.com") == ["zoe", "ijssel", "example", "com"]
    low, high = prefix_range("ade")
    assert low <= "adewale" < high and not low <= "adf" < high


def test_search_finds_by_word_prefix_accent_and_case_insensitively(
    client: httpx.Client, issuer: Issuer, plan: None
) -> None:
    issue_to(client, issuer, "Adéwálé Ògúnlé", "a.ogun@school.example")
    issue(client, issuer, "Bola Adeyemi")
    issue(client, issuer, "Chidi Okafor")
    found = lambda q: names(  # noqa: E731
        client.get("/api/certificates", headers=issuer.headers, params={"q": q})
    )
    assert sorted(found("ade")) == ["Adéwálé Ògúnlé", "Bola Adeyemi"]
    assert found("OGUN") == ["Adéwálé Ògúnlé"]
    assert found("ògúnlé adé") == ["Adéwálé Ògúnlé"]
    assert found("school.example") == ["Adéwálé Ògúnlé"]  # the email's words
    assert found("wale") == []  # a prefix of a word, not any substring
    assert found("okafor zzz") == []


def test_search_combines_with_filters_and_pages(
    client: httpx.Client, issuer: Issuer, make_account, plan: None
) -> None:
    ids = [issue(client, issuer, f"Ada Number {i}")["certificateId"] for i in range(5)]
    issue(client, issuer, "Someone Else")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": "ada", "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/certificates", headers=issuer.headers, params=params)
        assert response.status_code == 200
        seen += [c["certificateId"] for c in response.json()["data"]]
        cursor = response.headers.get("x-next-cursor")
        if not cursor:
            break
    assert seen == list(reversed(ids))
    client.post(f"/api/certificates/{ids[0]}/revoke", headers=issuer.headers, json={"reason": "x"})
    revoked = client.get(
        "/api/certificates", headers=issuer.headers, params={"q": "ada", "status": "revoked"}
    )
    assert [c["certificateId"] for c in revoked.json()["data"]] == [ids[0]]
    # Another account never finds them.
    other = make_account().headers()
    assert names(client.get("/api/certificates", headers=other, params={"q": "ada"})) == []


def test_unknown_query_parameter_is_a_400_naming_it(client: httpx.Client, issuer: Issuer) -> None:
    issue(client, issuer)
    for path in ("/api/certificates", "/api/certificates/export.csv"):
        response = client.get(path, headers=issuer.headers, params={"recipientName": "Ade"})
        assert response.status_code == 400, path
        body = response.json()
        assert body["success"] is False and "recipientName" in body["message"]
        assert body["errors"][0]["field"] == "recipientName"
    blank = client.get("/api/certificates", headers=issuer.headers, params={"q": "  "})
    assert blank.status_code == 400


def test_export_streams_the_filtered_list_as_safe_csv(client: httpx.Client, issuer: Issuer) -> None:
    issue_to(client, issuer, "=HYPERLINK(1)", Grade="-1")
    issue(client, issuer, "Ada Lovelace")
    response = client.get("/api/certificates/export.csv", headers=issuer.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["recipientName"] for r in rows] == ["Ada Lovelace", "'=HYPERLINK(1)"]
    assert rows[1]["status"] == "issued" and rows[1]["revision"] == "1"
    only = client.get(
        "/api/certificates/export.csv", headers=issuer.headers, params={"q": "lovelace"}
    )
    assert [r["recipientName"] for r in csv.DictReader(io.StringIO(only.text))] == ["Ada Lovelace"]


def test_v1_base_path_answers_like_api(client: httpx.Client, issuer: Issuer) -> None:
    issued = issue(client, issuer)
    for path in ("/api/users/balance", f"/api/certificates/{issued['certificateId']}"):
        plain = client.get(path, headers=issuer.headers)
        v1 = client.get("/v1" + path, headers=issuer.headers)
        assert v1.status_code == plain.status_code == 200
        assert v1.json() == plain.json()
    assert client.get("/v1/api/users/balance").status_code == 401
    assert client.get("/v1/api/nope", headers=issuer.headers).status_code == 404
