"""OpenAPI helpers: document the real error envelopes and auth headers on every route."""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme

from akowe.schemas import ErrorEnvelope

_DESCRIPTIONS = {
    400: "Invalid input: `errors` lists each field by its camelCase path.",
    401: "`Invalid or missing API key` (missing, malformed, unknown, revoked or expired).",
    402: "Not enough credits; nothing was recorded.",
    403: "Not allowed, e.g. `x-subaccount-email` is not a sub-account of this account.",
    404: "Not found (another account's resources are not found either).",
    409: "A request with the same Idempotency-Key is still running.",
    413: "The request body is larger than the configured limit.",
    422: "The Idempotency-Key was used with a different request body.",
    500: "Unexpected error (`An unexpected error occurred. Please try again later.`).",
}


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """Response specs for the given error status codes (auth errors always included)."""
    wanted = sorted({401, 403, 500, *codes})
    return {
        code: ResponseSpec(data_container=ErrorEnvelope, description=_DESCRIPTIONS[code])
        for code in wanted
    }


SECURITY_COMPONENTS = Components(
    security_schemes={
        "apiKey": SecurityScheme(
            type="apiKey",
            name="x-api-key",
            security_scheme_in="header",
            description="`live-<keyId>-0-<secret>` (or `test-...` for the sandbox).",
        )
    }
)
SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}]
