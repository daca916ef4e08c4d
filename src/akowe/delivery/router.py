"""`/api/webhooks` (extension): register, list and remove signed event endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Router, delete, get, post
from litestar.params import JSONBody, PathParameter

from akowe.api.deps import PrincipalDep, SessionDep, SettingsDep, WriteSessionDep
from akowe.api.openapi import SECURITY, SUBACCOUNT_HEADER, error_responses
from akowe.delivery import service as delivery_service
from akowe.delivery.models import WebhookEndpoint
from akowe.delivery.schemas import WEBHOOK_EVENTS, WebhookCreate, WebhookCreated, WebhookRead
from akowe.delivery.webhooks import VERIFY_SNIPPET
from akowe.modes import Mode
from akowe.schemas import Envelope

CREATED = "Webhook has been created successfully"
DELETED = "Webhook has been deleted successfully"

WEBHOOKS_DESCRIPTION = f"""Events ({", ".join(f"`{e}`" for e in WEBHOOK_EVENTS)}) are POSTed
as JSON `{{"id", "type", "createdAt", "mode", "data"}}` to each endpoint of the account (in
the key's mode: test keys get test events) that subscribed to them. Each request carries
`Akowe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
`Akowe-Event` and `Akowe-Event-Id` (the event's id, the same on every retry: use it to drop
duplicates). Non-2xx answers and timeouts are retried with exponential backoff, at least
once delivery. URLs must resolve to public addresses. Verify a request like this:

{VERIFY_SNIPPET}
"""


def _read(endpoint: WebhookEndpoint) -> WebhookRead:
    return WebhookRead(
        id=endpoint.id,
        url=endpoint.url,
        events=endpoint.events,
        description=endpoint.description,
        test=endpoint.mode == Mode.TEST,
        created_at=endpoint.created_at,
    )


@post(
    "",
    status_code=201,
    sync_to_thread=True,
    responses=error_responses(400),
    description=WEBHOOKS_DESCRIPTION + "\nThe `secret` is in this response only.",
)
def create_webhook(
    data: JSONBody[WebhookCreate],
    principal: PrincipalDep,
    write_session: WriteSessionDep,
    settings: SettingsDep,
) -> Envelope[WebhookCreated]:
    """Register a webhook endpoint (extension); its signing secret is shown once."""
    endpoint = delivery_service.create_webhook(
        write_session,
        account_id=principal.account_id,
        mode=principal.mode,
        data=data,
        allow_private=settings.allow_private_urls,
    )
    write_session.commit()
    created = WebhookCreated(**_read(endpoint).model_dump(), secret=endpoint.secret)
    return Envelope(message=CREATED, data=created)


@get("", sync_to_thread=True, responses=error_responses(), description=WEBHOOKS_DESCRIPTION)
def list_webhooks(principal: PrincipalDep, session: SessionDep) -> Envelope[list[WebhookRead]]:
    """List the account's webhook endpoints in this mode (extension), without secrets."""
    endpoints = delivery_service.list_webhooks(
        session, account_id=principal.account_id, mode=principal.mode
    )
    return Envelope(data=[_read(e) for e in endpoints])


@delete("/{webhookId:str}", status_code=200, sync_to_thread=True, responses=error_responses(404))
def delete_webhook(
    webhook_id: Annotated[str, PathParameter(name="webhookId")],
    principal: PrincipalDep,
    write_session: WriteSessionDep,
) -> dict[str, Any]:
    """Remove a webhook endpoint (extension); its pending deliveries are dropped."""
    delivery_service.delete_webhook(
        write_session, account_id=principal.account_id, mode=principal.mode, webhook_id=webhook_id
    )
    write_session.commit()
    return {"success": True, "message": DELETED, "data": None}


router = Router(
    path="/api/webhooks",
    route_handlers=[create_webhook, list_webhooks, delete_webhook],
    tags=["Webhooks"],
    security=SECURITY,
    parameters=SUBACCOUNT_HEADER,
)
