"""W3C VC-API in test mode, so public conformance suites for `eddsa-rdfc-2022` can be pointed
at a running server: `POST /vc-api/credentials/issue` and `POST /vc-api/credentials/verify`.

Both need a test key (`x-api-key: test-...`); a live key gets 403. Issuing signs the given
credential with the key of the caller's test-mode organization named as its `issuer` (its
DID, `did:web:<host>:test:orgs:<id>`); the W3C examples context is allowed here, and every
other context must be one of the pinned ones. Answers use VC-API shapes, not the envelope
(errors still do).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio.to_thread
from litestar import Response, Router, post
from litestar.params import JSONBody

from akowe.api.deps import PrincipalDep, ServicesDep
from akowe.api.openapi import SECURITY, error_responses
from akowe.db.database import session_reader
from akowe.modes import Mode
from akowe.signing import service as signing_service
from akowe.verification import service as verification_service
from akowe.verification.exceptions import TestModeOnly
from akowe.verification.schemas import VcIssued, VcIssueRequest, VcVerified, VcVerifyRequest

VC_API_LIMITER = anyio.CapacityLimiter(2)


@post("/credentials/issue", status_code=201, responses=error_responses(400, 413))
async def issue_credential(
    data: JSONBody[VcIssueRequest], principal: PrincipalDep, services: ServicesDep
) -> VcIssued:
    """Sign `credential` with your test-mode organization's key (VC-API; test keys only)."""
    if principal.mode != Mode.TEST:
        raise TestModeOnly()
    signed = await services.db.call(
        partial(
            signing_service.sign_for_vc_api,
            services.db,
            signer=services.signer,
            account_id=principal.account_id,
            credential=data.credential,
        ),
        tenant=principal.account_id,
    )
    return VcIssued(verifiable_credential=signed)


@post("/credentials/verify", status_code=200, responses=error_responses(400, 413))
async def verify_credential(
    data: JSONBody[VcVerifyRequest], principal: PrincipalDep, services: ServicesDep
) -> Response[VcVerified]:
    """Verify `verifiableCredential` (VC-API; test keys only): 200 when verified, else 400."""
    if principal.mode != Mode.TEST:
        raise TestModeOnly()
    credential = data.verifiable_credential
    db, signer = services.db, services.signer

    def run() -> verification_service.Verdict:
        def read(fn: Any) -> Any:
            with db.session() as session:
                return fn(session_reader(session))

        resolvers = verification_service.Resolvers(signer=signer, read=read, remote=services.remote)
        return verification_service.verify_document(
            credential, resolvers, loader=signer.loader(examples=True)
        )

    verdict = await anyio.to_thread.run_sync(run, limiter=VC_API_LIMITER)
    checks = verdict.checks
    body = VcVerified(
        verified=verdict.result.valid,
        checks=[check.name for check in checks if check.passed and check.checked],
        warnings=[check.message for check in checks if check.passed and not check.checked],
        errors=[f"{check.name}: {check.message}" for check in checks if not check.passed],
    )
    return Response(body, status_code=200 if verdict.result.valid else 400)


router = Router(
    path="/vc-api",
    route_handlers=[issue_credential, verify_credential],
    tags=["VC-API (test mode)"],
    security=SECURITY,
)
