"""Webhooks: registered per account and mode, signed, retried, refused for private URLs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from akowe.delivery.webhooks import VERIFY_SNIPPET
from akowe.delivery.worker import DeliveryWorker
from tests.certificates.conftest import ATTRIBUTES, Issuer
from tests.conftest import AccountFixture
from tests.delivery.conftest import Receiver, SmtpServer, issue, unique_email, wait_for

StartWorker = Callable[..., DeliveryWorker]


def documented_verify() -> Callable[[str, bytes, str], bool]:
    """The verification function exactly as the documentation prints it."""
    code = re.search(r"```python\n(.*?)```", VERIFY_SNIPPET, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    return namespace["verify"]  # type: ignore[no-any-return]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def create(client: httpx.Client, headers: dict[str, str], **body: Any) -> httpx.Response:
    return client.post("/api/webhooks", headers=headers, json=body)


def test_private_urls_are_refused_by_default(client: httpx.Client, make_account) -> None:  # type: ignore[no-untyped-def]
    headers = make_account().headers()
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "ftp://example.com/hook",
    ):
        response = create(client, headers, url=url, events=["certificate.issued"])
        assert response.status_code == 400, url
        body = response.json()
        assert body["code"] == "validation_error"
        assert body["errors"][0]["field"] == "url"
    unknown = create(client, headers, url="https://example.com/h", events=["certificate.lost"])
    assert unknown.status_code == 400
    assert client.get("/api/webhooks", headers=headers).json()["data"] == []


def test_signed_events_are_delivered_and_retried_after_a_500(
    dclient: httpx.Client,
    dissuer: Issuer,
    receiver: Receiver,
    smtp: SmtpServer,
    start_worker: StartWorker,
) -> None:
    created = create(
        dclient,
        dissuer.headers,
        url=receiver.url,
        events=["certificate.issued", "certificate.delivered", "certificate.revoked"],
        description="CRM",
    )
    assert created.status_code == 201, created.text
    hook = created.json()["data"]
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    assert hook["events"] == [
        "certificate.issued",
        "certificate.delivered",
        "certificate.revoked",
    ]
    listed = dclient.get("/api/webhooks", headers=dissuer.headers).json()["data"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]

    receiver.statuses = [500]
    issued = issue(
        dclient,
        dissuer,
        recipientData={"name": "Jide", "email": unique_email(), "attributes": ATTRIBUTES},
    )
    cid = issued["certificateId"]
    start_worker(smtp_url=smtp.url)
    wait_for(lambda: len(receiver.events("certificate.issued")) == 2)
    wait_for(lambda: len(receiver.events("certificate.delivered")) == 1)
    revoked = dclient.post(
        f"/api/certificates/{cid}/revoke", headers=dissuer.headers, json={"reason": "typo"}
    )
    assert revoked.status_code == 200
    wait_for(lambda: len(receiver.events("certificate.revoked")) == 1)

    verify = documented_verify()
    (first_headers, first_body), (retry_headers, retry_body) = receiver.events("certificate.issued")
    for headers, body in receiver.requests:
        assert headers["content-type"] == "application/json"
        assert verify(secret, body, headers["akowe-signature"])
        assert not verify("whsec_wrong", body, headers["akowe-signature"])
        assert not verify(secret, body + b" ", headers["akowe-signature"])
        assert json.loads(body)["id"] == headers["akowe-event-id"]
    assert first_headers["akowe-event-id"] == retry_headers["akowe-event-id"]
    assert first_body == retry_body
    event = json.loads(retry_body)
    assert event["type"] == "certificate.issued"
    assert event["mode"] == "live"
    assert event["data"]["certificateId"] == cid
    assert event["data"]["verificationUrl"] == issued["verificationUrl"]
    assert event["createdAt"].endswith("Z")
    [(_, delivered)] = receiver.events("certificate.delivered")
    assert json.loads(delivered)["data"]["emailStatus"] == "sent"
    [(_, revocation)] = receiver.events("certificate.revoked")
    assert json.loads(revocation)["data"]["revocationReason"] == "typo"
    event_ids = {h["akowe-event-id"] for h, _ in receiver.requests}
    assert len(event_ids) == 3


def test_delivery_failure_event_and_endpoint_removal(
    dclient: httpx.Client,
    dissuer: Issuer,
    receiver: Receiver,
    smtp: SmtpServer,
    start_worker: StartWorker,
) -> None:
    hook = create(
        dclient, dissuer.headers, url=receiver.url, events=["certificate.delivery_failed"]
    ).json()["data"]
    smtp.sink.refuse_always = "550 5.1.1 No such user"
    issue(
        dclient,
        dissuer,
        recipientData={"name": "Kemi", "email": unique_email(), "attributes": ATTRIBUTES},
    )
    start_worker(smtp_url=smtp.url)
    [(_, body)] = wait_for(lambda: receiver.events("certificate.delivery_failed"))
    data = json.loads(body)["data"]
    assert data["emailStatus"] == "failed"
    assert "550" in data["lastError"]
    assert receiver.events("certificate.issued") == []  # not subscribed

    deleted = dclient.delete(f"/api/webhooks/{hook['id']}", headers=dissuer.headers)
    assert deleted.status_code == 200
    assert deleted.json()["message"] == "Webhook has been deleted successfully"
    again = dclient.delete(f"/api/webhooks/{hook['id']}", headers=dissuer.headers)
    assert again.status_code == 404
    assert dclient.get("/api/webhooks", headers=dissuer.headers).json()["data"] == []


def test_webhooks_are_scoped_to_account_and_mode(
    dclient: httpx.Client, daccount: AccountFixture, receiver: Receiver
) -> None:
    sandbox = daccount.headers(test=True)
    hook = create(dclient, sandbox, url=receiver.url, events=["certificate.issued"])
    assert hook.status_code == 201
    assert hook.json()["data"]["test"] is True
    assert dclient.get("/api/webhooks", headers=daccount.headers()).json()["data"] == []
    assert len(dclient.get("/api/webhooks", headers=sandbox).json()["data"]) == 1
    foreign = dclient.delete(
        f"/api/webhooks/{hook.json()['data']['id']}", headers=daccount.headers()
    )
    assert foreign.status_code == 404
    assert dclient.get("/api/webhooks").status_code == 401


def test_openapi_documents_webhook_signatures(dclient: httpx.Client) -> None:
    spec = dclient.get("/openapi.json").json()
    assert "Akowe-Signature" in spec["info"]["description"]
    assert "hmac.compare_digest" in spec["info"]["description"]
    assert "/api/webhooks" in spec["paths"]
    assert "/api/certificates/{certificateId}/resend" in spec["paths"]
    assert "/api/certificates/{certificateId}/messages" in spec["paths"]


def test_a_subaccount_sees_and_manages_only_its_own_endpoints(
    dclient: httpx.Client, daccount: AccountFixture, receiver: Receiver, delivery_settings
) -> None:
    from akowe.accounts import service as accounts_service
    from akowe.db.engine import make_engine, make_sessionmaker

    engine = make_engine(delivery_settings)
    with make_sessionmaker(engine, write=True).begin() as session:
        accounts_service.add_subaccount(session, account_id=daccount.account_id, email="team@x.io")
    engine.dispose()
    owner = daccount.headers()
    team = daccount.headers(**{"x-subaccount-email": "team@x.io"})
    wide = create(dclient, owner, url=receiver.url, events=["certificate.issued"]).json()["data"]
    own = create(dclient, team, url=receiver.url, events=["certificate.issued"]).json()["data"]
    listed = {h["id"] for h in dclient.get("/api/webhooks", headers=team).json()["data"]}
    assert listed == {own["id"]}
    listed = {h["id"] for h in dclient.get("/api/webhooks", headers=owner).json()["data"]}
    assert listed == {own["id"], wide["id"]}
    assert dclient.delete(f"/api/webhooks/{wide['id']}", headers=team).status_code == 404
    assert dclient.delete(f"/api/webhooks/{own['id']}", headers=team).status_code == 200
    assert dclient.delete(f"/api/webhooks/{wide['id']}", headers=owner).status_code == 200


def test_events_reach_account_wide_endpoints_and_the_subaccounts_own(db, make_account) -> None:
    from akowe.accounts import service as accounts_service
    from akowe.delivery import service as delivery_service
    from akowe.delivery.schemas import WebhookCreate

    account = make_account()
    with db.begin() as session:
        sub = accounts_service.add_subaccount(
            session, account_id=account.account_id, email="t@x.io"
        )
        other = accounts_service.add_subaccount(
            session, account_id=account.account_id, email="o@x.io"
        )
        ids = {}
        for name, subaccount_id in (("wide", None), ("sub", sub.id), ("other", other.id)):
            endpoint = delivery_service.create_webhook(
                session,
                account_id=account.account_id,
                mode="live",
                data=WebhookCreate(url="http://127.0.0.1:9/x", events=["certificate.issued"]),
                allow_private=True,
                subaccount_id=subaccount_id,
            )
            ids[endpoint.id] = name
    with db.begin() as session:
        for subaccount_id, expected in ((None, {"wide"}), (sub.id, {"wide", "sub"})):
            endpoints = delivery_service.subscribed_endpoints(
                session,
                account_id=account.account_id,
                mode="live",
                event="certificate.issued",
                subaccount_id=subaccount_id,
            )
            assert {ids[e.id] for e in endpoints} == expected
