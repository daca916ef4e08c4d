"""OpenAPI helpers: document the real error envelopes and auth headers on every route."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, get_args, get_origin

from litestar.enums import ParamType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    Example,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Parameter,
    Reference,
    Schema,
    SecurityScheme,
)
from pydantic import BaseModel

from akowe.schemas import ErrorEnvelope

# The edge's opt names (akowe.api.edge imports this module's neighbours, not this one).
BODY_OPT = "akowe_body"
RATE_LIMIT_OPT = "akowe_rate_limit"

_DESCRIPTIONS = {
    400: "Invalid input: `errors` lists each field by its camelCase path.",
    401: "`Invalid or missing API key` (missing, malformed, unknown, revoked or expired).",
    402: "Not enough credits; nothing was recorded.",
    403: "Not allowed, e.g. `x-subaccount-email` is not a sub-account of this account.",
    404: "Not found (another account's resources are not found either).",
    409: "A request with the same Idempotency-Key is still running.",
    408: "The request body did not arrive within the time limit.",
    413: "The request body is larger than this route's limit.",
    422: (
        "The Idempotency-Key was used with a different request body; or "
        "(`unrenderable_text`) a value the design cannot draw as designed: `errors` names "
        "each value with the characters no font has or the box it does not fit."
    ),
    429: (
        "Too many requests: the key's (or, on public routes, the client address's) rate "
        "limit, or a daily or concurrency quota. Retry after `Retry-After` seconds."
    ),
    500: "Unexpected error (`An unexpected error occurred. Please try again later.`).",
    503: "The service is saturated or its database unreachable; retry after `Retry-After`.",
}


_EXAMPLES = {
    400: ("validation_error", "Validation failed: recipientData.email: value is not a valid email"),
    401: ("invalid_api_key", "Invalid or missing API key"),
    402: ("insufficient_credits", "Insufficient credits. Please top up your balance to continue."),
    403: ("unknown_subaccount", "The sub-account is not part of this account"),
    404: ("not_found", "The requested resource could not be found"),
    409: (
        "idempotency_key_in_use",
        "A request with this Idempotency-Key is still being processed.",
    ),
    408: ("request_timeout", "The request body did not arrive in time."),
    413: ("payload_too_large", "The request body is too large (at most 256 KiB here)."),
    429: ("rate_limited", "Too many requests. Please slow down."),
    422: ("idempotency_key_reused", "This Idempotency-Key was already used with a different body."),
    500: ("internal_error", "An unexpected error occurred. Please try again later."),
    503: ("service_busy", "The service is busy. Please retry in a moment."),
}


def _example(code: int) -> Example:
    error_code, message = _EXAMPLES[code]
    value: dict[str, object] = {"success": False, "message": message, "code": error_code}
    if code == 400:
        value["errors"] = [{"field": "recipientData.email", "message": "value is not valid"}]
    return Example(summary=error_code, value=value)


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """Response specs for the given error statuses (400, 401, 403, 500 and 503 always
    included; listing 400 also replaces the framework's own validation-error schema)."""
    wanted = sorted({400, 401, 403, 500, 503, *codes})
    return {
        code: ResponseSpec(
            data_container=ErrorEnvelope,
            description=_DESCRIPTIONS[code],
            generate_examples=False,
            examples=[_example(code)],
        )
        for code in wanted
    }


def answers(
    model: Any, *codes: int, status: int = 200, message: str | None = None
) -> dict[int, ResponseSpec]:
    """The success response documented by `model` (e.g. `Envelope[CertificateRead]`: handlers
    answer plain wire dicts of that shape) and the error responses for `codes`. With the
    answer's `message`, the docs show the whole envelope as an example (else each model's
    own example, from `akowe.api.examples`, with an empty message)."""
    examples = None
    if message is not None:
        value = {"success": True, "message": message, "data": _data_example(model)}
        examples = [Example(summary=message, value=value)]
    success = ResponseSpec(
        data_container=model, description="Success", generate_examples=False, examples=examples
    )
    return {status: success, **error_responses(*codes)}


def _data_example(envelope_model: Any) -> Any:
    """The example of `Envelope[X]`'s data: X's example, a list of it, or None."""
    from akowe.api.examples import EXAMPLES  # the examples import every domain's schemas

    (data_type,) = envelope_model.__pydantic_generic_metadata__["args"]
    if data_type is None or data_type is type(None):
        return None
    if get_origin(data_type) is list:
        (item,) = get_args(data_type)
        return [EXAMPLES[item]]
    return EXAMPLES[data_type]


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

SUBACCOUNT_HEADER = Parameter(
    name="x-subaccount-email",
    param_in=ParamType.HEADER,
    required=False,
    schema=Schema(type=OpenAPIType.STRING, max_length=320),
    description=(
        "A sub-account's email: scope the request to it (created templates and certificates "
        "belong to it and lists show only its own). Blank: no scope. Anything that is not a "
        "sub-account of this account: 403."
    ),
)


def document_subaccount_header(schema: OpenAPI) -> OpenAPI:
    """Add `x-subaccount-email` to every keyed operation of the document.

    The authentication dependency reads the header itself; declaring it as a Litestar
    parameter on each router only for the docs made every request parse its headers into
    parameters again (about 15 us per request), so the docs get it here, once.
    """
    for path_item in (schema.paths or {}).values():
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(path_item, method, None)
            if operation is None or not operation.security:
                continue
            operation.parameters = [*(operation.parameters or []), SUBACCOUNT_HEADER]
    return schema


def document_examples(
    schema: OpenAPI, examples: Mapping[type[BaseModel], Any], named: Mapping[str, Any]
) -> OpenAPI:
    """Give each documented body its realistic example (`akowe.api.examples`), so Swagger
    UI's samples show real-looking values instead of `"string"` and `additionalProp1`."""
    components = schema.components.schemas or {} if schema.components else {}
    by_name = {model.__name__: value for model, value in examples.items()} | dict(named)
    for name, value in by_name.items():
        component = components.get(name)
        if isinstance(component, Schema):
            component.examples = [value]
    for model in examples:
        component = components.get(model.__name__)
        if isinstance(component, Schema):
            _optional_patterns(component, model)
    return schema


def _optional_patterns(component: Schema, model: type[BaseModel]) -> None:
    """Litestar drops a `pattern` of an optional (`X | None`) string field: copy it from the
    model's own JSON schema, so the document admits exactly what the server accepts."""
    properties = model.model_json_schema(by_alias=True).get("properties", {})
    for name, documented in (component.properties or {}).items():
        branches = properties.get(name, {}).get("anyOf", ())
        patterns = [b["pattern"] for b in branches if b.get("type") == "string" and "pattern" in b]
        if not patterns or not isinstance(documented, Schema):
            continue
        for branch in documented.one_of or ():
            if isinstance(branch, Schema) and branch.type == OpenAPIType.STRING:
                branch.pattern = branch.pattern or patterns[0]


def document_edge(app: Any) -> OpenAPI:
    """Add what the edge (akowe.api.edge) answers on its own to every operation it guards:
    429 on rate-limited routes (keyed ones, and public ones that opted in), 408 and 413 on
    routes that take a body, 401 on keyed ones. New routes get them without writing them."""
    schema: OpenAPI = app.openapi_schema
    paths = schema.paths or {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            path_item = paths.get(_openapi_path(route.path))
            if path_item is None or not handler.resolve_include_in_schema():
                continue
            opt = handler.opt or {}
            keyed = bool(handler.resolve_security())
            limited = opt.get(RATE_LIMIT_OPT, "key" if keyed else "none") != "none"
            for method in handler.http_methods:
                operation = getattr(path_item, method.lower(), None)
                if operation is None:
                    continue
                codes = []
                if keyed:
                    codes += [401, 403]
                if limited:
                    codes.append(429)
                if operation.request_body is not None or BODY_OPT in opt:
                    codes += [408, 413]
                responses = operation.responses or {}
                for code, spec in error_responses(*codes).items():
                    if code in codes and str(code) not in responses:
                        responses[str(code)] = _response_object(app, spec)
                operation.responses = responses
    return schema


def _openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)


def _response_object(app: Any, spec: ResponseSpec) -> OpenAPIResponse:
    """An error response as the document shows one (the envelope, its example)."""

    return OpenAPIResponse(
        description=spec.description or "",
        content={
            "application/json": OpenAPIMediaType(
                schema=Reference(ref="#/components/schemas/ErrorEnvelope"),
                examples={e.summary or "example": e for e in (spec.examples or [])},
            )
        },
    )


def document_rules(schema: OpenAPI, rules: dict[str, dict[str, Any]]) -> OpenAPI:
    """Add cross-field rules (JSON Schema keywords) to named component schemas: what a
    model validates beyond its single fields, so the document admits no request the server
    refuses."""
    components = schema.components.schemas if schema.components else None
    for name, extra in rules.items():
        target = (components or {}).get(name)
        if target is None:
            continue
        for keyword, value in extra.items():
            setattr(target, _SCHEMA_ATTRIBUTES.get(keyword, keyword), _as_schema(value))
    return schema


_SCHEMA_ATTRIBUTES: dict[str, str] = {
    "anyOf": "any_of",
    "if": "schema_if",
    "minLength": "min_length",
    "maxLength": "max_length",
}


def _as_schema(value: Any) -> Any:
    """Plain JSON Schema values as the document's Schema objects."""
    if isinstance(value, list):
        return [_as_schema(item) for item in value]
    if not isinstance(value, dict):
        return value
    fields: dict[str, Any] = {}
    for key, item in value.items():
        key = str(key)
        if key == "properties":
            fields["properties"] = {k: _as_schema(v) for k, v in item.items()}
        elif key == "type":
            fields["type"] = OpenAPIType(item)
        else:
            attribute = _SCHEMA_ATTRIBUTES.get(key, key)
            fields[attribute] = _as_schema(item)
    return Schema(**fields)
