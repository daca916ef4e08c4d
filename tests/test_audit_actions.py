"""The audit trail beyond certificates: key creation and revocation and credit changes made
with the `akowe` command (actor `cli:<user>`), webhook changes made with a key (actor
`key:<id>`); each readable at GET /api/audit, the account's own events only."""

from __future__ import annotations

import json
from typing import Any

import httpx

from akowe.config import Settings
from tests.test_cli import akowe


def _events(client: httpx.Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get("/api/audit", headers=headers, params={"limit": 100})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_keys_credits_and_webhooks_are_audited(
    client: httpx.Client, settings: Settings, make_account
) -> None:
    account = make_account(credits=5)
    neighbour = make_account(credits=5)
    created = akowe(settings, "keys", "create", "--account", account.account_id, "--json")
    assert created.returncode == 0, created.stderr
    key_id = json.loads(created.stdout)["keyId"]
    revoked = akowe(settings, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    added = akowe(
        settings, "credits", "add", "--account", account.account_id, "--amount", "7",
        "--reason", "invoice 7",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    taken = akowe(settings, "credits", "add", "--account", account.account_id, "--amount", "-2")
    assert taken.returncode == 0, taken.stderr

    headers = account.headers()
    hook = client.post(
        "/api/webhooks",
        headers=headers,
        json={"url": "https://93.184.215.14/akowe-hook", "events": ["certificate.issued"]},
    )
    assert hook.status_code == 201, hook.text
    hook_id = hook.json()["data"]["id"]
    assert client.delete(f"/api/webhooks/{hook_id}", headers=headers).status_code == 200

    events = _events(client, headers)
    by_action = {event["action"]: event for event in events}
    assert [e["action"] for e in events] == [
        "webhook.deleted",
        "webhook.created",
        "credits.withdrawn",
        "credits.added",
        "key.revoked",
        "key.created",
    ]
    for action in ("key.created", "key.revoked", "credits.added", "credits.withdrawn"):
        assert by_action[action]["actor"].startswith("cli:"), by_action[action]
    assert by_action["key.created"]["details"]["keyId"] == key_id
    assert by_action["credits.added"]["details"]["amount"] == 7
    assert by_action["credits.withdrawn"]["details"]["amount"] == -2
    for action in ("webhook.created", "webhook.deleted"):
        assert by_action[action]["actor"] == f"key:{account.live_key_id}"
        assert by_action[action]["details"]["webhookId"] == hook_id
    assert "apiKey" not in json.dumps(events)  # the secret is never in the trail
    assert _events(client, neighbour.headers()) == []
