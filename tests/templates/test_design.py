"""Field boxes, logo fields, page sizes, locales and languages on /api/templates; checks at save;
designs saved before font families were checked; previews with sample values."""

from __future__ import annotations

import copy
import io
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from akowe.templates.models import Template, TemplateVersion
from tests.storage.factories import data_uri, image_bytes

URL = "/api/templates"
NAME = {"type": "name", "fontSize": 40, "x": 50, "y": 40}


def body(*fields: dict[str, Any], **template: Any) -> dict[str, Any]:
    """An 800x400 design with these fields (default: one name field)."""
    return {
        "name": "Boxes",
        "imageUrl": data_uri(image_bytes(80, 40)),
        "dimensions": {"width": 800, "height": 400},
        "fields": list(fields) or [dict(NAME)],
        **template,
    }


def created(client: httpx.Client, headers: dict[str, str], payload: dict[str, Any]) -> dict:
    response = client.post(URL, json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def errors_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["code"] == "validation_error"
    assert payload["message"]
    return {e["field"]: e["message"] for e in payload["errors"]}


def test_boxes_page_size_locale_and_language_are_stored_and_shown(
    client: httpx.Client, account, db: sessionmaker[Session]
) -> None:
    box = {
        **NAME,
        "width": 60,
        "maxLines": 2,
        "minFontSize": 18,
        "verticalAlignment": "top",
        "language": "zh-Hant",
    }
    logo = {"type": "logo", "fontSize": 80, "width": 15, "x": 10, "y": 15, "alignment": "left"}
    data = created(
        client,
        account.headers(),
        body(box, logo, pageSize="a4-LANDSCAPE", locale="pt-BR", language="ja"),
    )
    name, mark = data["fields"]
    assert {k: name[k] for k in box} == box
    assert (mark["type"], mark["width"], mark["fontSize"]) == ("logo", 15, 80)
    assert (data["pageSize"], data["locale"], data["language"]) == ("A4-landscape", "pt-BR", "ja")
    assert data["warnings"] == []
    custom = created(client, account.headers(), body(pageSize={"widthMm": 280, "heightMm": 140}))
    assert custom["pageSize"] == {"widthMm": 280, "heightMm": 140}
    automatic = created(client, account.headers(), body())
    assert automatic["pageSize"] == "A4-landscape"
    with db() as session:
        version = session.get(TemplateVersion, (automatic["id"], 1))
        row = session.get(Template, automatic["id"])
        assert version is not None and row is not None
        # The template remembers "automatic"; its version pins the page it resolved to.
        assert (row.page_size, version.page_size) == (None, "A4-landscape")
        assert (version.locale, version.font_keys) == ("en", [])


@pytest.mark.parametrize(
    ("payload", "field", "wanted"),
    [
        (body(pageSize="B7"), "pageSize", "A4"),
        (body(pageSize="A4-sideways"), "pageSize", "landscape"),
        (body(pageSize={"widthMm": 0, "heightMm": 100}), "pageSize", "millimetres"),
        (body(pageSize={"widthMm": 9000, "heightMm": 100}), "pageSize", "millimetres"),
        (body(pageSize={"width": 100, "height": 100}), "pageSize", "widthMm"),
        (body(locale="xx-NOPE"), "locale", "locale"),
        (body(locale="english"), "locale", "locale"),
        (body(language="not a tag"), "language", "language tag"),
        (body({**NAME, "fontFamily": "Great Vibes"}), "fields.0.fontFamily", "Great Vibes"),
        (body({**NAME, "width": 60, "x": 80}), "fields.0.width", "50% to 110%"),
        (body({**NAME, "width": 30, "x": 10, "alignment": "right"}), "fields.0.width", "-20%"),
        (body({**NAME, "width": 101}), "fields.0.width", "100"),
        (body({**NAME, "width": 0}), "fields.0.width", "0"),
        (body({**NAME, "maxLines": 0}), "fields.0.maxLines", "1"),
        (body({**NAME, "maxLines": 11}), "fields.0.maxLines", "10"),
        (body({**NAME, "minFontSize": 60}), "fields.0.minFontSize", "fontSize"),
        (body({**NAME, "verticalAlignment": "baseline"}), "fields.0.verticalAlignment", "top"),
        (body({**NAME, "language": "??"}), "fields.0.language", "language tag"),
        (body({"type": "logo", "fontSize": 300, "x": 50, "y": 80}), "fields.0.fontSize", "height"),
    ],
)
def test_bad_designs_are_refused_naming_the_field(
    client: httpx.Client, account, payload: dict[str, Any], field: str, wanted: str
) -> None:
    errors = errors_of(client.post(URL, json=payload, headers=account.headers()))
    assert list(errors) == [field]
    assert wanted in errors[field]


def test_a_box_may_span_the_whole_page(client: httpx.Client, account) -> None:
    for field in (
        {**NAME, "width": 100, "x": 50},
        {**NAME, "width": 100, "x": 0, "alignment": "left"},
        {**NAME, "width": 40, "x": 100, "alignment": "right"},
    ):
        created(client, account.headers(), body(field))


def test_patch_changes_page_size_locale_and_boxes_in_new_versions(
    client: httpx.Client, account
) -> None:
    data = created(client, account.headers(), body())
    item = f"{URL}/{data['id']}"
    same_page = client.patch(item, json={"pageSize": "A4-landscape"}, headers=account.headers())
    assert same_page.json()["data"]["version"] == 1  # the page it already printed on
    letter = client.patch(item, json={"pageSize": "Letter"}, headers=account.headers()).json()
    assert (letter["data"]["pageSize"], letter["data"]["version"]) == ("Letter", 2)
    french = client.patch(item, json={"locale": "fr"}, headers=account.headers()).json()["data"]
    assert (french["locale"], french["version"]) == ("fr", 3)
    back = client.patch(item, json={"pageSize": None}, headers=account.headers()).json()["data"]
    assert (back["pageSize"], back["version"]) == ("A4-landscape", 4)
    fields = copy.deepcopy(back["fields"])
    fields[0]["width"] = 80
    boxed = client.patch(item, json={"fields": fields}, headers=account.headers()).json()["data"]
    assert (boxed["fields"][0]["width"], boxed["version"]) == (80, 5)
    # A whole read sent back changes nothing.
    again = client.patch(item, json=boxed, headers=account.headers()).json()["data"]
    assert again["version"] == 5
    for payload, field in (
        ({"locale": "zz-ZZ"}, "locale"),
        ({"locale": None}, "locale"),
        ({"pageSize": "Tabloid"}, "pageSize"),
        ({"fields": [{**NAME, "fontFamily": "Comic Sans MS"}]}, "fields.0.fontFamily"),
    ):
        assert list(errors_of(client.patch(item, json=payload, headers=account.headers()))) == [
            field
        ]
    assert client.get(item, headers=account.headers()).json()["data"] == again


def _make_legacy(db: sessionmaker[Session], template_id: str, families: list[str]) -> None:
    """Turn a template into one saved before 0006: fields naming any family, no pinned fonts,
    no page size, and stored fields without the box attributes."""
    old_keys = ("id", "type", "text", "font_size", "font_family", "color", "is_bold")
    old_keys += ("is_italic", "alignment", "x", "y")
    with db.begin() as session:
        template = session.get(Template, template_id)
        version = session.get(TemplateVersion, (template_id, 1))
        assert template is not None and version is not None
        fields = [
            {**{k: v for k, v in f.items() if k in old_keys}, "font_family": family}
            for f, family in zip(template.fields, families, strict=True)
        ]
        for row in (template, version):
            row.fields = fields
            row.font_keys = None
            row.page_size = None


def test_designs_saved_before_families_were_checked_keep_drawing_and_are_flagged(
    client: httpx.Client, account, db: sessionmaker[Session]
) -> None:
    fields = [dict(NAME), {**NAME, "y": 60}, {**NAME, "y": 80}]
    data = created(client, account.headers(), body(*fields))
    _make_legacy(db, data["id"], ["Times New Roman", "Great Vibes", "Noto Serif"])
    item = f"{URL}/{data['id']}"
    read = client.get(item, headers=account.headers()).json()["data"]
    assert [f["fontFamily"] for f in read["fields"]] == [
        "Times New Roman",
        "Great Vibes",
        "Noto Serif",
    ]
    assert [w["field"] for w in read["warnings"]] == ["fields.0.fontFamily", "fields.1.fontFamily"]
    assert "drawn with Noto Serif" in read["warnings"][0]["message"]
    assert "drawn with Noto Sans" in read["warnings"][1]["message"]
    assert read["fields"][0]["maxLines"] == 1  # attributes older fields lack, at their defaults
    preview = client.get(f"{item}/preview", headers=account.headers())
    assert preview.status_code == 200, preview.text

    # Sent back whole, or renamed, or moved to another page: still the same families.
    assert client.patch(item, json=read, headers=account.headers()).status_code == 200
    renamed = client.patch(item, json={"name": "Old"}, headers=account.headers())
    assert renamed.json()["data"]["version"] == 1
    paged = client.patch(item, json={"pageSize": "A5"}, headers=account.headers()).json()["data"]
    assert (paged["version"], len(paged["warnings"])) == (2, 2)

    # A change of the fields must name available families.
    moved = copy.deepcopy(read["fields"])
    moved[2]["x"] = 40
    refused = errors_of(client.patch(item, json={"fields": moved}, headers=account.headers()))
    assert list(refused) == ["fields.0.fontFamily", "fields.1.fontFamily"]
    moved[0]["fontFamily"], moved[1]["fontFamily"] = "Noto Serif", "Noto Sans"
    fixed = client.patch(item, json={"fields": moved}, headers=account.headers()).json()["data"]
    assert (fixed["version"], fixed["warnings"]) == (3, [])


def test_preview_draws_sample_values_and_refuses_what_cannot_be_drawn(
    client: httpx.Client, account
) -> None:
    fields = [
        {**NAME, "width": 50},
        {"type": "text", "text": "Course Name", "fontSize": 24, "x": 50, "y": 70, "width": 90},
    ]
    data = created(client, account.headers(), body(*fields))
    item = f"{URL}/{data['id']}/preview"
    plain = client.get(item, headers=account.headers())
    tried = client.get(
        item,
        params={"name": "Ngozi Okonjo-Iweala", "Course Name": "Public Finance", "width": 400},
        headers=account.headers(),
    )
    assert tried.status_code == 200, tried.text
    assert tried.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(tried.content)).size == (400, 200)
    assert tried.content != plain.content

    unassigned = client.get(item, params={"name": "Ada \U000e0ff0"}, headers=account.headers())
    assert unassigned.status_code == 422
    payload = unassigned.json()
    assert (payload["success"], payload["code"]) == (False, "unrenderable_text")
    assert payload["errors"][0]["field"] == "name"
    assert "U+E0FF0" in payload["errors"][0]["message"]
    assert "U+E0FF0" in payload["message"]

    too_long = client.get(item, params={"Course Name": "Data " * 60}, headers=account.headers())
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "Course Name"
    assert "does not fit its box" in too_long.json()["errors"][0]["message"]

    for params in ({"name": "x" * 1001}, {"name": " "}, {"width": 5}):
        assert client.get(item, params=params, headers=account.headers()).status_code == 400
