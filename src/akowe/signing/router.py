"""Public, no key: organizations' DID documents (did:web) and revocation status lists."""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Response, get
from litestar.params import PathParameter

from akowe.api.deps import Services, ServicesDep
from akowe.api.examples import DID_DOCUMENT, STATUS_LIST
from akowe.modes import Mode
from akowe.signing import service as signing_service
from akowe.signing.did import did_document
from akowe.signing.exceptions import DidNotFound, StatusListNotFound
from akowe.verification.router import public_document

DID_MEDIA_TYPE: Final = "application/did+json"
CREDENTIAL_MEDIA_TYPE: Final = "application/ld+json"
OrganizationId = Annotated[str, PathParameter(name="organizationId")]


async def _did_document(services: Services, organization_id: str, mode: Mode) -> Response[Any]:
    db = services.db
    organization = await db.one(signing_service.ORGANIZATION_MODE, organization_id=organization_id)
    keys = await db.all(signing_service.ORGANIZATION_KEYS, organization_id=organization_id)
    if organization is None or organization.mode != mode or not keys:
        raise DidNotFound()
    document = did_document(
        services.signer.did(organization_id, mode), [key.public_key for key in keys]
    )
    return Response(
        document,
        media_type=DID_MEDIA_TYPE,
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )


@get(
    "/orgs/{organizationId:str}/did.json",
    responses=public_document(DID_MEDIA_TYPE, "The DID document (did:web).", DID_DOCUMENT),
    tags=["Verification"],
)
async def live_did_document(
    organization_id: OrganizationId, services: ServicesDep
) -> Response[Any]:
    """A live organization's DID document: every key it ever signed with (Multikey)."""
    return await _did_document(services, organization_id, Mode.LIVE)


@get(
    "/test/orgs/{organizationId:str}/did.json",
    responses=public_document(DID_MEDIA_TYPE, "The DID document (did:web).", DID_DOCUMENT),
    tags=["Verification"],
)
async def test_did_document(
    organization_id: OrganizationId, services: ServicesDep
) -> Response[Any]:
    """A test-mode organization's DID document (test credentials name this DID as issuer)."""
    return await _did_document(services, organization_id, Mode.TEST)


@get(
    signing_service.STATUS_LISTS_PATH + "/{listId:str}",
    responses=public_document(
        CREDENTIAL_MEDIA_TYPE, "The signed BitstringStatusListCredential.", STATUS_LIST
    ),
    tags=["Verification"],
)
async def status_list(
    list_id: Annotated[str, PathParameter(name="listId")], services: ServicesDep
) -> Response[bytes]:
    """A signed BitstringStatusListCredential; cache it no longer than its `ttl`."""
    row = await services.db.one(signing_service.STATUS_LIST_DOCUMENT, list_id=list_id)
    if row is None:
        raise StatusListNotFound()
    ttl = services.signer.status_list_ttl_seconds
    return Response(
        row.credential.encode(),
        media_type=CREDENTIAL_MEDIA_TYPE,
        headers={
            "Cache-Control": f"public, max-age={ttl}",
            "ETag": f'"{row.id}-{row.version}"',
            "Access-Control-Allow-Origin": "*",
        },
    )


route_handlers = [live_did_document, test_did_document, status_list]
