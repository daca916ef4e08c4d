"""`/api/webhooks` (extension): register, list and remove signed event endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Router, delete, get, post
from litestar.params import JSONBody, PathParameter
from sqlalchemy.orm import Session

from akowe.api.deps import PrincipalDep, ServicesDep
from akowe.api.openapi import SECURITY, answers, error_responses
from akowe.audit import service as audit_service
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
once delivery. URLs must resolve to public addresses.

With `x-subaccount-email`, a sub-account creates, lists and deletes only its own endpoints,
which receive only events about its own certificates; without it, the account sees and
manages every endpoint, and account-wide endpoints receive every event. Verify a request
like this:

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
    responses=error_responses(400),
    description=WEBHOOKS_DESCRIPTION + "\nThe `secret` is in this response only.",
)
async def create_webhook(
    data: JSONBody[WebhookCreate], principal: PrincipalDep, services: ServicesDep
) -> Envelope[WebhookCreated]:
    """Register a webhook endpoint (extension); its signing secret is shown once."""

    def create(session: Session) -> WebhookEndpoint:
        endpoint = delivery_service.create_webhook(
            session,
            account_id=principal.account_id,
            mode=principal.mode,
            data=data,
            allow_private=services.settings.allow_private_urls,
            subaccount_id=principal.subaccount_id,
        )
        audit_service.record(
            session,
            principal=principal,
            action="webhook.created",
            details={"webhookId": endpoint.id, "events": list(endpoint.events)},
        )
        return endpoint

    endpoint = await services.db.transaction(create, tenant=principal.account_id)
    created = WebhookCreated(**_read(endpoint).model_dump(), secret=endpoint.secret)
    return Envelope(message=CREATED, data=created)


@get("", responses=error_responses(), description=WEBHOOKS_DESCRIPTION)
async def list_webhooks(
    principal: PrincipalDep, services: ServicesDep
) -> Envelope[list[WebhookRead]]:
    """List the account's webhook endpoints in this mode (extension), without secrets."""
    endpoints = await delivery_service.list_webhooks(
        services.db,
        account_id=principal.account_id,
        mode=principal.mode,
        subaccount_id=principal.subaccount_id,
    )
    return Envelope(data=[_read(e) for e in endpoints])


@delete(
    "/{webhookId:str}",
    status_code=200,
    responses=answers(Envelope[None], 404, message=DELETED),
)
async def delete_webhook(
    webhook_id: Annotated[str, PathParameter(name="webhookId")],
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Remove a webhook endpoint (extension); its pending deliveries are dropped."""

    def remove(session: Session) -> None:
        delivery_service.delete_webhook(
            session,
            account_id=principal.account_id,
            mode=principal.mode,
            webhook_id=webhook_id,
            subaccount_id=principal.subaccount_id,
        )
        audit_service.record(
            session,
            principal=principal,
            action="webhook.deleted",
            details={"webhookId": webhook_id},
        )

    await services.db.transaction(remove, tenant=principal.account_id)
    return {"success": True, "message": DELETED, "data": None}


router = Router(
    path="/api/webhooks",
    route_handlers=[create_webhook, list_webhooks, delete_webhook],
    tags=["Webhooks"],
    security=SECURITY,
)
