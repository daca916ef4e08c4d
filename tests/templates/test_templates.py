"""/api/templates: shapes, validation, versions, tenancy, modes, sub-accounts, paging."""

from __future__ import annotations

import copy
import re
import uuid

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from akowe.accounts import service as accounts_service
from akowe.accounts.service import Principal
from akowe.config import Settings
from akowe.db.database import Database
from akowe.modes import Mode
from akowe.storage.store import make_store
from akowe.templates import service as templates_service
from akowe.templates.exceptions import TemplateNotFound
from akowe.templates.models import Template
from akowe.templates.service import TemplateDesign
from tests.storage.factories import (
    b64,
    data_uri,
    image_bytes,
    jpeg_4mb,
    png_1600x1131,
    png_header_only,
)

URL = "/api/templates"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NOT_FOUND = {
    "success": False,
    "message": "The requested template could not be found",
    "code": "template_not_found",
}
FIELD_KEYS = {
    "id", "type", "text", "fontSize", "fontFamily", "color", "isBold", "isItalic",
    "alignment", "x", "y", "width", "maxLines", "minFontSize", "verticalAlignment", "language",
}  # fmt: skip
BOX_DEFAULTS = {
    "width": None, "maxLines": 1, "minFontSize": None, "verticalAlignment": "middle",
    "language": None,
}  # fmt: skip
NAME_FIELD = {
    "type": "name", "text": "", "fontSize": 48, "fontFamily": "Noto Serif", "color": "#112233",
    "isBold": True, "isItalic": False, "alignment": "center", "x": 50, "y": 40,
}  # fmt: skip


def body(image: bytes | None = None, **overrides: object) -> dict:
    base = {
        "name": "Course completion",
        "imageUrl": data_uri(image if image is not None else image_bytes(40, 20)),
        "dimensions": {"width": 40, "height": 20},
        "fields": [
            dict(NAME_FIELD),
            {"type": "text", "text": "Course Name", "x": 50, "y": 60},
            {"type": "qr", "x": 90, "y": 85, "fontSize": 120},
        ],
    }
    base.update(overrides)
    return base


def create(client: httpx.Client, headers: dict, payload: dict | None = None) -> dict:
    response = client.post(URL, json=payload or body(), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def errors_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["success"] is False
    assert payload["code"] == "validation_error"
    assert payload["message"]
    return [e["field"] for e in payload["errors"]]


def test_create_answers_the_documented_shape(client: httpx.Client, account, server: str) -> None:
    image = image_bytes(40, 20)
    response = client.post(URL, json=body(image), headers=account.headers())
    assert response.status_code == 201
    payload = response.json()
    assert set(payload) == {"success", "message", "data"}
    assert payload["success"] is True
    assert payload["message"] == "Template has been created successfully"
    data = payload["data"]
    assert set(data) == {
        "id", "name", "imageUrl", "fields", "dimensions", "subAccountEmail", "createdAt",
        "updatedAt", "version", "pageSize", "locale", "language", "warnings",
    }  # fmt: skip
    assert uuid.UUID(data["id"]).version == 4
    assert data["name"] == "Course completion"
    assert data["imageUrl"].startswith(f"{server}/files/")
    assert data["dimensions"] == {"width": 40, "height": 20}
    assert data["subAccountEmail"] is None
    assert TIMESTAMP.match(data["createdAt"])
    assert data["updatedAt"] == data["createdAt"]
    assert data["version"] == 1
    # Extensions: the automatic page for a 2:1 design, English dates, no warnings.
    assert (data["pageSize"], data["locale"], data["language"]) == ("A4-landscape", "en", None)
    assert data["warnings"] == []
    name, text, qr = data["fields"]
    for field in data["fields"]:
        assert set(field) == FIELD_KEYS
        assert uuid.UUID(field["id"]).version == 4
    assert {k: v for k, v in name.items() if k != "id"} == {**NAME_FIELD, **BOX_DEFAULTS}
    assert text == {
        "id": text["id"], "type": "text", "text": "Course Name", "fontSize": 24,
        "fontFamily": "Noto Sans", "color": "#000000", "isBold": False, "isItalic": False,
        "alignment": "center", "x": 50, "y": 60, **BOX_DEFAULTS,
    }  # fmt: skip
    assert qr["type"] == "qr"
    assert qr["fontSize"] == 120
    served = client.get(data["imageUrl"])
    assert served.status_code == 200
    assert served.content == image
    assert served.headers["content-type"] == "image/png"


def test_bare_base64_and_webp_are_accepted(client: httpx.Client, account) -> None:
    image = image_bytes(40, 20, "WEBP")
    data = create(client, account.headers(), body(imageUrl=b64(image)))
    served = client.get(data["imageUrl"])
    assert served.content == image
    assert served.headers["content-type"] == "image/webp"


def test_a_1600x1131_png_round_trips(client: httpx.Client, account) -> None:
    image = png_1600x1131()
    payload = body(image, dimensions={"width": 1600, "height": 1131})
    created = create(client, account.headers(), payload)
    listed = client.get(URL, headers=account.headers()).json()["data"]
    assert created in listed
    assert client.get(created["imageUrl"]).content == image


def test_a_4mb_jpeg_round_trips_under_the_default_body_limit(
    open_client: httpx.Client, account
) -> None:
    image = jpeg_4mb()
    payload = body(image, dimensions={"width": 2260, "height": 1598})
    payload["imageUrl"] = data_uri(image, "image/jpeg")
    assert len(payload["imageUrl"]) > 5_000_000
    created = create(open_client, account.headers(), payload)
    listed = open_client.get(URL, headers=account.headers()).json()["data"]
    assert created in listed
    fetched = open_client.get(created["imageUrl"])
    assert fetched.headers["content-type"] == "image/jpeg"
    assert fetched.content == image


def test_dimensions_may_scale_the_image_but_not_change_its_shape(
    client: httpx.Client, account
) -> None:
    image = png_1600x1131()
    scaled = body(image, dimensions={"width": 800, "height": 566})
    assert create(client, account.headers(), scaled)["dimensions"] == {"width": 800, "height": 566}
    squashed = client.post(
        URL, json=body(image, dimensions={"width": 1600, "height": 900}), headers=account.headers()
    )
    assert errors_of(squashed) == ["dimensions"]
    assert "1600x1131" in squashed.json()["errors"][0]["message"]


def _without(key: str) -> dict:
    payload = body()
    del payload[key]
    return payload


def _without_field_key(key: str) -> dict:
    payload = body()
    del payload["fields"][0][key]
    return payload


def _field(**changes: object) -> dict:
    payload = body()
    payload["fields"][0].update(changes)
    return payload


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_without("name"), "name"),
        (_without("imageUrl"), "imageUrl"),
        (_without("dimensions"), "dimensions"),
        (_without("fields"), "fields"),
        (body(name=""), "name"),
        (body(dimensions={"width": 0, "height": 20}), "dimensions.width"),
        (body(dimensions={"width": 40}), "dimensions.height"),
        (body(fields="nope"), "fields"),
        (_field(color="red"), "fields.0.color"),
        (_field(color="#12345"), "fields.0.color"),
        (_field(x=101), "fields.0.x"),
        (_field(y=-1), "fields.0.y"),
        (_field(fontSize=0), "fields.0.fontSize"),
        (_field(type="signature"), "fields.0.type"),
        (_field(alignment="justify"), "fields.0.alignment"),
        (_field(isBold="yes"), "fields.0.isBold"),
        (_field(isItalic=1), "fields.0.isItalic"),
        (_field(fontFamily=""), "fields.0.fontFamily"),
        (_field(type="text", text=""), "fields.0.text"),
        (_field(id="not-a-uuid"), "fields.0.id"),
        (_without_field_key("x"), "fields.0.x"),
        (_without_field_key("type"), "fields.0.type"),
    ],
)
def test_invalid_fields_are_named_in_errors(
    client: httpx.Client, account, payload: dict, field: str
) -> None:
    assert errors_of(client.post(URL, json=payload, headers=account.headers())) == [field]


def test_duplicate_field_ids_are_refused(client: httpx.Client, account) -> None:
    same = str(uuid.uuid4())
    payload = body()
    payload["fields"][0]["id"] = same
    payload["fields"][2]["id"] = same
    assert errors_of(client.post(URL, json=payload, headers=account.headers())) == ["fields.2.id"]


@pytest.mark.parametrize(
    "image_url",
    [
        "not base64 at all!",
        "ftp://example.com/a.png",
        data_uri(b"hello", "text/plain"),
        data_uri(b"not really a png"),
        b64(b"hello world"),
        data_uri(image_bytes(40, 20, "GIF"), "image/gif"),
        data_uri(png_header_only(30_000, 30_000)),  # decompression bomb
        data_uri(png_header_only(10_000, 6_000)),  # over our own pixel cap
        data_uri(image_bytes(40, 20)[:-20]),  # truncated
    ],
)
def test_bad_images_are_refused(client: httpx.Client, account, image_url: str) -> None:
    response = client.post(URL, json=body(imageUrl=image_url), headers=account.headers())
    assert errors_of(response) == ["imageUrl"]


def test_get_list_and_unknown(client: httpx.Client, make_account) -> None:
    account = make_account()
    first = create(client, account.headers())
    second = create(client, account.headers(), body(name="Second"))
    listed = client.get(URL, headers=account.headers())
    assert listed.status_code == 200
    assert listed.json() == {"success": True, "message": "", "data": [second, first]}
    one = client.get(f"{URL}/{first['id']}", headers=account.headers())
    assert one.json() == {"success": True, "message": "", "data": first}
    for unknown in (str(uuid.uuid4()), "nope"):
        for method in ("GET", "PATCH", "DELETE"):
            response = client.request(
                method,
                f"{URL}/{unknown}",
                headers=account.headers(),
                json={"name": "x"} if method == "PATCH" else None,
            )
            assert response.status_code == 404
            assert response.json() == NOT_FOUND


def test_patch_versions_design_changes_and_keeps_field_ids(
    client: httpx.Client, account, call, settings: Settings
) -> None:
    image = image_bytes(40, 20)
    created = create(client, account.headers(), body(image))
    item = f"{URL}/{created['id']}"

    renamed = client.patch(item, json={"name": "Renamed"}, headers=account.headers())
    assert renamed.status_code == 200
    assert renamed.json()["message"] == "Template has been updated successfully"
    assert renamed.json()["data"]["name"] == "Renamed"
    assert renamed.json()["data"]["version"] == 1

    # A whole GET body sent back unchanged (imageUrl is our own URL) changes nothing.
    same = client.patch(item, json=renamed.json()["data"], headers=account.headers())
    assert same.json()["data"]["version"] == 1
    assert same.json()["data"]["imageUrl"] == created["imageUrl"]

    fields = copy.deepcopy(created["fields"])
    fields[0]["color"] = "#ABCDEF"
    del fields[1]
    fields.append({"type": "date", "x": 10, "y": 90})
    changed = client.patch(item, json={"fields": fields}, headers=account.headers())
    data = changed.json()["data"]
    assert data["version"] == 2
    assert data["fields"][0]["id"] == created["fields"][0]["id"]
    assert data["fields"][0]["color"] == "#abcdef"
    assert data["fields"][1]["id"] == created["fields"][2]["id"]
    assert data["fields"][2]["id"] not in {f["id"] for f in created["fields"]}
    assert data["createdAt"] == created["createdAt"]
    assert data["updatedAt"] >= created["updatedAt"]

    new_image = image_bytes(80, 40, "JPEG")
    swapped = client.patch(
        item,
        json={
            "imageUrl": data_uri(new_image, "image/jpeg"),
            "dimensions": {"width": 80, "height": 40},
        },
        headers=account.headers(),
    )
    assert swapped.json()["data"]["version"] == 3
    assert client.get(swapped.json()["data"]["imageUrl"]).content == new_image

    # Older versions stay renderable, also after the template is deleted.
    assert client.delete(item, headers=account.headers()).status_code == 200
    store = make_store(settings)

    async def version(database: Database, *, number: int) -> TemplateDesign | None:
        row = await database.one(
            templates_service.TEMPLATE_VERSION, template_id=created["id"], version=number
        )
        return None if row is None else templates_service.design(row, store=store)

    v1, v3 = call(version, number=1), call(version, number=3)
    assert call(version, number=4) is None
    assert v1 is not None and v3 is not None
    assert v1.image == image
    assert (v1.width, v1.height) == (40, 20)
    assert [f.id for f in v1.fields] == [f["id"] for f in created["fields"]]
    assert v1.fields[0].font_family == "Noto Serif"
    assert v1.fields[0].is_bold is True
    assert v1.fields[1].text == "Course Name"
    assert v3.image == new_image
    assert v3.content_type == "image/jpeg"
    assert (v3.width, v3.height) == (80, 40)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": None}, "name"),
        ({"fields": None}, "fields"),
        ({"dimensions": {"width": 40, "height": 40}}, "dimensions"),
        ({"imageUrl": data_uri(image_bytes(20, 20))}, "dimensions"),
        ({"imageUrl": "garbage!"}, "imageUrl"),
        ({"fields": [{"type": "name", "x": 5, "y": 5, "color": "blue"}]}, "fields.0.color"),
    ],
)
def test_invalid_patch_is_refused_and_changes_nothing(
    client: httpx.Client, account, payload: dict, field: str
) -> None:
    created = create(client, account.headers())
    response = client.patch(f"{URL}/{created['id']}", json=payload, headers=account.headers())
    assert errors_of(response) == [field]
    after = client.get(f"{URL}/{created['id']}", headers=account.headers()).json()["data"]
    assert after == created


def test_delete_is_soft(client: httpx.Client, account, db: sessionmaker[Session]) -> None:
    created = create(client, account.headers())
    response = client.delete(f"{URL}/{created['id']}", headers=account.headers())
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Template has been deleted successfully",
        "data": created,
    }
    assert client.get(f"{URL}/{created['id']}", headers=account.headers()).status_code == 404
    assert client.delete(f"{URL}/{created['id']}", headers=account.headers()).status_code == 404
    listed = client.get(URL, headers=account.headers()).json()["data"]
    assert created["id"] not in [t["id"] for t in listed]
    with db() as session:
        row = session.get(Template, created["id"])
        assert row is not None and row.deleted_at is not None


def test_another_accounts_template_is_404(client: httpx.Client, make_account) -> None:
    owner, other = make_account(), make_account()
    created = create(client, owner.headers())
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
    assert client.get(f"{URL}/{created['id']}", headers=owner.headers()).json()["data"] == created


def test_live_and_test_modes_do_not_see_each_other(client: httpx.Client, make_account) -> None:
    account = make_account()
    live = create(client, account.headers())
    sandbox = create(client, account.headers(test=True))
    assert [t["id"] for t in client.get(URL, headers=account.headers()).json()["data"]] == [
        live["id"]
    ]
    assert [
        t["id"] for t in client.get(URL, headers=account.headers(test=True)).json()["data"]
    ] == [sandbox["id"]]
    assert client.get(f"{URL}/{live['id']}", headers=account.headers(test=True)).status_code == 404
    assert client.get(f"{URL}/{sandbox['id']}", headers=account.headers()).status_code == 404


def test_sub_account_scoping(client: httpx.Client, make_account, db: sessionmaker[Session]) -> None:
    account = make_account()
    with db.begin() as session:
        for email in ("a@sub.example", "b@sub.example"):
            accounts_service.add_subaccount(session, account_id=account.account_id, email=email)
    sub_a = account.headers(**{"x-subaccount-email": "a@sub.example"})
    sub_b = account.headers(**{"x-subaccount-email": "B@Sub.example"})
    own = create(client, account.headers())
    mine = create(client, sub_a)
    theirs = create(client, sub_b)
    assert mine["subAccountEmail"] == "a@sub.example"
    assert theirs["subAccountEmail"] == "b@sub.example"
    assert [t["id"] for t in client.get(URL, headers=sub_a).json()["data"]] == [mine["id"]]
    whole = [t["id"] for t in client.get(URL, headers=account.headers()).json()["data"]]
    assert whole == [theirs["id"], mine["id"], own["id"]]
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(
            method,
            f"{URL}/{theirs['id']}",
            headers=sub_a,
            json={"name": "x"} if method == "PATCH" else None,
        )
        assert response.status_code == 404
    assert client.get(f"{URL}/{mine['id']}", headers=sub_a).status_code == 200
    assert client.get(f"{URL}/{mine['id']}", headers=account.headers()).status_code == 200
    unknown = account.headers(**{"x-subaccount-email": "z@sub.example"})
    assert client.get(URL, headers=unknown).status_code == 403


def test_paging_with_limit_and_cursor(client: httpx.Client, make_account) -> None:
    account = make_account()
    ids = [create(client, account.headers(), body(name=f"T{i}"))["id"] for i in range(5)]
    first = client.get(URL, params={"limit": 3}, headers=account.headers())
    assert [t["id"] for t in first.json()["data"]] == ids[:1:-1]
    cursor = first.headers["x-next-cursor"]
    second = client.get(URL, params={"limit": 3, "cursor": cursor}, headers=account.headers())
    assert [t["id"] for t in second.json()["data"]] == ids[1::-1]
    assert "x-next-cursor" not in second.headers
    exact = client.get(URL, params={"limit": 5}, headers=account.headers())
    assert len(exact.json()["data"]) == 5
    assert "x-next-cursor" not in exact.headers
    for params, field in (({"limit": 0}, "limit"), ({"cursor": "@@"}, "cursor")):
        assert errors_of(client.get(URL, params=params, headers=account.headers())) == [field]


def test_service_get_and_require_respect_scope(client: httpx.Client, make_account, call) -> None:
    owner, other = make_account(), make_account()
    created = create(client, owner.headers())
    mine = Principal(key_id="k", account_id=owner.account_id, mode=Mode.LIVE)
    found = call(templates_service.require, principal=mine, template_id=created["id"])
    assert found.version == 1
    for principal in (
        Principal(key_id="k", account_id=other.account_id, mode=Mode.LIVE),
        Principal(key_id="k", account_id=owner.account_id, mode=Mode.TEST),
    ):
        assert call(templates_service.get, principal=principal, template_id=found.id) is None
        with pytest.raises(TemplateNotFound):
            call(templates_service.require, principal=principal, template_id=found.id)


def test_openapi_documents_the_endpoints(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/templates"])
    assert {"get", "patch", "delete"} <= set(paths["/api/templates/{templateId}"])
    assert {"get", "post"} <= set(paths["/api/profile/organization"])
    assert {"get", "patch", "delete"} <= set(paths["/api/profile/organization/{organizationId}"])
    assert "/files/{key}" in paths
