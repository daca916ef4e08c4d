"""/api/profile/organization: shapes, validation, tenancy, modes, soft delete, paging."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from akowe.accounts import service as accounts_service
from akowe.accounts.service import Principal
from akowe.modes import Mode
from akowe.organizations import service as organizations_service
from akowe.organizations.exceptions import OrganizationNotFound
from akowe.organizations.models import Organization
from tests.storage.factories import SVG_LOGO, data_uri, image_bytes, noise_image

URL = "/api/profile/organization"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NOT_FOUND = {
    "success": False,
    "message": "The requested organization could not be found",
    "code": "organization_not_found",
}


def create(client: httpx.Client, account, body: dict | None = None, **headers: str) -> dict:
    response = client.post(
        URL, json=body or {"name": "Acme Academy"}, headers={**account.headers(), **headers}
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]


def errors_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "validation_error"
    return [e["field"] for e in body["errors"]]


def test_create_answers_the_documented_shape(client: httpx.Client, account, server: str) -> None:
    logo = image_bytes(64, 64, "PNG")
    body = {
        "name": "Acme Academy",
        "website": "https://acme.example",
        "email": "registrar@acme.example",
        "phone": "+1 (555) 010-2000",
        "logo": data_uri(logo),
    }
    response = client.post(URL, json=body, headers=account.headers())
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert set(payload) == {"success", "message", "data"}
    assert payload["success"] is True
    assert payload["message"] == "Organization has been created successfully"
    data = payload["data"]
    assert set(data) == {"id", "name", "website", "email", "phone", "logo", "createdAt"}
    assert uuid.UUID(data["id"]).version == 4
    assert data["name"] == "Acme Academy"
    assert data["website"] == "https://acme.example"
    assert data["email"] == "registrar@acme.example"
    assert data["phone"] == "+1 (555) 010-2000"
    assert TIMESTAMP.match(data["createdAt"])
    assert data["logo"].startswith(f"{server}/files/")
    served = client.get(data["logo"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.content == logo


def test_create_with_only_a_name_leaves_the_rest_null(client: httpx.Client, account) -> None:
    data = create(client, account, {"name": "  Solo  ", "website": "", "email": ""})
    assert data["name"] == "Solo"
    assert data["website"] is None
    assert data["email"] is None
    assert data["phone"] is None
    assert data["logo"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 5}, "name"),
        ({"name": "A", "email": "not-an-email"}, "email"),
        ({"name": "A", "website": "not a website"}, "website"),
        ({"name": "A", "website": "ftp://files.example"}, "website"),
        ({"name": "A", "phone": "call me"}, "phone"),
        ({"name": "A", "logo": "https://example.com/logo.png"}, "logo"),
        ({"name": "A", "logo": "data:image/png;base64,%%%"}, "logo"),
        ({"name": "A", "logo": "data:image/png;base64,aGVsbG8="}, "logo"),
        ({"name": "A", "logo": data_uri(b"hello", "text/plain")}, "logo"),
        ({"name": "A", "logo": data_uri(image_bytes(8, 8, "GIF"), "image/gif")}, "logo"),
        ({"name": "A", "logo": data_uri(b"<svg><!ENTITY x 'y'></svg>", "image/svg+xml")}, "logo"),
    ],
)
def test_invalid_fields_are_named_in_errors(
    client: httpx.Client, account, body: dict, field: str
) -> None:
    response = client.post(URL, json=body, headers=account.headers())
    assert errors_of(response) == [field]
    assert response.json()["message"]


def test_logo_over_one_mebibyte_is_refused(client: httpx.Client, account) -> None:
    big = noise_image(700, 600, "PNG")
    assert len(big) > 1024 * 1024
    response = client.post(
        URL, json={"name": "A", "logo": data_uri(big)}, headers=account.headers()
    )
    assert errors_of(response) == ["logo"]
    assert "1 MiB" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(("fmt", "media"), [("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_jpeg_and_webp_logos_are_accepted(
    client: httpx.Client, account, fmt: str, media: str
) -> None:
    logo = image_bytes(30, 30, fmt)
    data = create(client, account, {"name": "A", "logo": data_uri(logo, media)})
    served = client.get(data["logo"])
    assert served.headers["content-type"] == media
    assert served.content == logo


def test_svg_logo_is_served_with_a_restrictive_csp(client: httpx.Client, account) -> None:
    data = create(client, account, {"name": "A", "logo": data_uri(SVG_LOGO, "image/svg+xml")})
    served = client.get(data["logo"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/svg+xml"
    assert served.content == SVG_LOGO
    csp = served.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "sandbox" in csp
    assert served.headers["x-content-type-options"] == "nosniff"


def test_list_and_get(client: httpx.Client, make_account) -> None:
    account = make_account()
    first = create(client, account, {"name": "First"})
    second = create(client, account, {"name": "Second"})
    response = client.get(URL, headers=account.headers())
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "", "data": [second, first]}
    assert "x-next-cursor" not in response.headers
    one = client.get(f"{URL}/{first['id']}", headers=account.headers())
    assert one.status_code == 200
    assert one.json() == {"success": True, "message": "", "data": first}


@pytest.mark.parametrize("organization_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_unknown_organization_is_404(client: httpx.Client, account, organization_id) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(
            method,
            f"{URL}/{organization_id}",
            headers=account.headers(),
            json={"name": "x"} if method == "PATCH" else None,
        )
        assert response.status_code == 404
        assert response.json() == NOT_FOUND


def test_update_changes_only_what_is_sent(client: httpx.Client, account) -> None:
    created = create(
        client,
        account,
        {"name": "Old", "website": "old.example", "email": "a@old.example", "phone": "123456"},
    )
    logo = image_bytes(20, 20, "PNG", "#ff0000")
    response = client.patch(
        f"{URL}/{created['id']}",
        json={"name": "New", "website": None, "logo": data_uri(logo)},
        headers=account.headers(),
    )
    assert response.status_code == 200
    payload = response.json()
    assert payload["message"] == "Organization has been updated successfully"
    data = payload["data"]
    assert data["id"] == created["id"]
    assert data["createdAt"] == created["createdAt"]
    assert data["name"] == "New"
    assert data["website"] is None
    assert data["email"] == "a@old.example"
    assert data["phone"] == "123456"
    assert client.get(data["logo"]).content == logo
    # Sending the logo URL back unchanged keeps the logo.
    again = client.patch(
        f"{URL}/{created['id']}", json={"logo": data["logo"]}, headers=account.headers()
    )
    assert again.json()["data"]["logo"] == data["logo"]
    assert (
        client.get(f"{URL}/{created['id']}", headers=account.headers()).json()["data"]
        == (again.json()["data"])
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": None}, "name"), ({"name": ""}, "name"), ({"email": "nope"}, "email")],
)
def test_invalid_update_is_refused(client: httpx.Client, account, body, field) -> None:
    created = create(client, account)
    response = client.patch(f"{URL}/{created['id']}", json=body, headers=account.headers())
    assert errors_of(response) == [field]


def test_delete_is_soft(client: httpx.Client, account, db: sessionmaker[Session], call) -> None:
    created = create(client, account)
    response = client.delete(f"{URL}/{created['id']}", headers=account.headers())
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Organization has been deleted successfully",
        "data": created,
    }
    for method in ("GET", "PATCH", "DELETE"):
        gone = client.request(
            method,
            f"{URL}/{created['id']}",
            headers=account.headers(),
            json={"name": "x"} if method == "PATCH" else None,
        )
        assert gone.status_code == 404
    listed = client.get(URL, headers=account.headers()).json()["data"]
    assert created["id"] not in [o["id"] for o in listed]
    # The row is kept, so certificates issued under it keep resolving.
    principal = Principal(key_id="k", account_id=account.account_id, mode=Mode.LIVE)
    with db() as session:
        row = session.get(Organization, created["id"])
        assert row is not None
        assert row.deleted_at is not None
        assert row.name == "Acme Academy"
    assert call(organizations_service.get, principal=principal, organization_id=row.id) is None


def test_another_accounts_organization_is_404(client: httpx.Client, make_account) -> None:
    owner, other = make_account(), make_account()
    created = create(client, owner)
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(
            method,
            f"{URL}/{created['id']}",
            headers=other.headers(),
            json={"name": "stolen"} if method == "PATCH" else None,
        )
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
    assert client.get(URL, headers=other.headers()).json()["data"] == []
    still = client.get(f"{URL}/{created['id']}", headers=owner.headers()).json()["data"]
    assert still == created


def test_live_and_test_modes_do_not_see_each_other(client: httpx.Client, make_account) -> None:
    account = make_account()
    live = create(client, account, {"name": "Live"})
    sandbox = client.post(URL, json={"name": "Sandbox"}, headers=account.headers(test=True))
    assert sandbox.status_code == 201
    sandbox_id = sandbox.json()["data"]["id"]
    live_list = client.get(URL, headers=account.headers()).json()["data"]
    test_list = client.get(URL, headers=account.headers(test=True)).json()["data"]
    assert [o["id"] for o in live_list] == [live["id"]]
    assert [o["id"] for o in test_list] == [sandbox_id]
    assert client.get(f"{URL}/{live['id']}", headers=account.headers(test=True)).status_code == 404
    assert client.delete(f"{URL}/{sandbox_id}", headers=account.headers()).status_code == 404


def test_sub_accounts_see_the_accounts_organizations(
    client: httpx.Client, make_account, db: sessionmaker[Session]
) -> None:
    account = make_account()
    with db.begin() as session:
        accounts_service.add_subaccount(
            session, account_id=account.account_id, email="a@sub.example"
        )
    created = create(client, account)
    sub = account.headers(**{"x-subaccount-email": "a@sub.example"})
    assert [o["id"] for o in client.get(URL, headers=sub).json()["data"]] == [created["id"]]
    assert client.get(f"{URL}/{created['id']}", headers=sub).status_code == 200
    by_sub = client.post(URL, json={"name": "By sub"}, headers=sub)
    assert by_sub.status_code == 201
    listed = client.get(URL, headers=account.headers()).json()["data"]
    assert by_sub.json()["data"]["id"] in [o["id"] for o in listed]
    unknown = client.get(URL, headers=account.headers(**{"x-subaccount-email": "x@no.example"}))
    assert unknown.status_code == 403


def test_paging_with_limit_and_cursor(client: httpx.Client, make_account) -> None:
    account = make_account()
    ids = [create(client, account, {"name": f"Org {i}"})["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = client.get(URL, params=params, headers=account.headers())
        assert response.status_code == 200
        page = response.json()["data"]
        assert isinstance(page, list)
        assert len(page) <= 2
        seen += [o["id"] for o in page]
        pages += 1
        cursor = response.headers.get("x-next-cursor")
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "!!not-a-cursor"}, "cursor"),
    ],
)
def test_bad_paging_parameters_are_400(client: httpx.Client, account, params, field) -> None:
    response = client.get(URL, params=params, headers=account.headers())
    assert errors_of(response) == [field]


def test_require_raises_the_domain_404(call, make_account, client) -> None:
    owner, other = make_account(), make_account()
    created = create(client, owner)
    mine = Principal(key_id="k", account_id=owner.account_id, mode=Mode.LIVE)
    theirs = Principal(key_id="k", account_id=other.account_id, mode=Mode.LIVE)
    sandbox = Principal(key_id="k", account_id=owner.account_id, mode=Mode.TEST)
    org = call(organizations_service.require, principal=mine, organization_id=created["id"])
    assert org.name == "Acme Academy"
    for principal in (theirs, sandbox):
        with pytest.raises(OrganizationNotFound):
            call(organizations_service.require, principal=principal, organization_id=created["id"])
