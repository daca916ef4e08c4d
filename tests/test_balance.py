"""GET /api/users/balance, exactly as Akowe documents it."""

from __future__ import annotations

import subprocess

import httpx


def test_balance_answers_the_documented_shape(client: httpx.Client, account) -> None:
    response = client.get("/api/users/balance", headers=account.headers())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"success": True, "data": {"balance": 10}}


def test_seed_sample_request_works_verbatim_with_curl(server: str, account) -> None:
    # The seed's sample: curl --location URL --header 'x-api-key: ...' --data ''
    # (--data '' makes curl send a POST with an empty form body).
    out = subprocess.run(
        [
            "curl",
            "-s",
            "--location",
            f"{server}/api/users/balance",
            "--header",
            f"x-api-key: {account.api_key}",
            "--data",
            "",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert out.stdout == '{"success":true,"data":{"balance":10}}'


def test_sandbox_key_sees_its_own_balance(client: httpx.Client, account) -> None:
    response = client.get("/api/users/balance", headers=account.headers(test=True))
    assert response.json() == {"success": True, "data": {"balance": 5}}


def test_balance_without_key_is_401(client: httpx.Client) -> None:
    response = client.get("/api/users/balance")
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "message": "Invalid or missing API key",
        "code": "invalid_api_key",
    }
