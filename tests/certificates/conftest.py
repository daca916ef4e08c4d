"""Fixtures for issuance: an organization and a template made through the real API."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from PIL import Image

FIELDS = [
    {
        "type": "name",
        "text": "",
        "fontSize": 64,
        "fontFamily": "Noto Sans",
        "color": "#112233",
        "isBold": True,
        "isItalic": False,
        "alignment": "center",
        "x": 50,
        "y": 40,
    },
    {
        "type": "text",
        "text": "Course Name",
        "fontSize": 32,
        "fontFamily": "Noto Sans",
        "color": "#333333",
        "isBold": False,
        "isItalic": True,
        "alignment": "center",
        "x": 50,
        "y": 55,
    },
    {
        "type": "text",
        "text": "Grade",
        "fontSize": 28,
        "fontFamily": "Noto Sans",
        "color": "#333333",
        "isBold": False,
        "isItalic": False,
        "alignment": "center",
        "x": 50,
        "y": 65,
    },
    {
        "type": "date",
        "text": "",
        "fontSize": 24,
        "fontFamily": "Noto Sans",
        "color": "#333333",
        "isBold": False,
        "isItalic": False,
        "alignment": "left",
        "x": 10,
        "y": 85,
    },
    {
        "type": "qr",
        "text": "",
        "fontSize": 120,
        "fontFamily": "Noto Sans",
        "color": "#000000",
        "isBold": False,
        "isItalic": False,
        "alignment": "center",
        "x": 88,
        "y": 80,
    },
]


# What the template's text fields print: every issue must send them (checks.py).
ATTRIBUTES = {"Course Name": "Machine Learning", "Grade": "Excellent"}


def png_data_uri(width: int = 800, height: int = 566) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (245, 240, 228)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@dataclass
class Issuer:
    """An account ready to issue: its headers, one organization and one template."""

    account: Any
    organization_id: str
    template_id: str
    headers: dict[str, str]

    def body(self, **overrides: Any) -> dict[str, Any]:
        """The reference example body of API.md, pointed at this issuer's resources."""
        body: dict[str, Any] = {
            "recipientData": {
                "name": "John Doe",
                "email": "john@example.com",
                "attributes": dict(ATTRIBUTES),  # a copy: tests change theirs
            },
            "organizationId": self.organization_id,
            "mailData": {
                "templateId": self.template_id,
                "subject": "Hello",
                "body": "This is a demo credential, congratulations",
            },
        }
        body.update(overrides)
        return body


def make_template(client: httpx.Client, headers: dict[str, str], name: str = "Diploma") -> str:
    response = client.post(
        "/api/templates",
        headers=headers,
        json={
            "name": name,
            "imageUrl": png_data_uri(),
            "dimensions": {"width": 800, "height": 566},
            "fields": FIELDS,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def make_issuer(client: httpx.Client, account: Any, *, test: bool = False) -> Issuer:
    headers = account.headers(test=test)
    org = client.post(
        "/api/profile/organization",
        headers=headers,
        json={
            "name": "Lagos Academy",
            "email": "registrar@lagos.example",
            "website": "https://lagos.example",
        },
    )
    assert org.status_code == 201, org.text
    return Issuer(account, org.json()["data"]["id"], make_template(client, headers), headers)


@pytest.fixture
def issuer(client: httpx.Client, make_account) -> Issuer:  # type: ignore[no-untyped-def]
    return make_issuer(client, make_account(credits=10, test_credits=5))
