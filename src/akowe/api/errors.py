"""The one place HTTP errors are shaped: every failure answers with the error envelope."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pydantic
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from pydantic import BaseModel

from akowe.errors import ServiceError

log = logging.getLogger("akowe.errors")

_STATUS_CODES = {
    400: ("bad_request", "The request is invalid."),
    401: ("invalid_api_key", "Invalid or missing API key"),
    403: ("forbidden", "You are not allowed to perform this action."),
    404: ("not_found", "The requested resource could not be found"),
    405: ("method_not_allowed", "This method is not allowed on this resource."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "The request body must be JSON."),
    429: ("rate_limited", "Too many requests. Please slow down."),
}
GENERIC_MESSAGE = "An unexpected error occurred. Please try again later."


def error_body(
    message: str, code: str, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """`{"success": false, "message", "code"[, "errors"]}`."""
    body: dict[str, Any] = {"success": False, "message": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


def _response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(content=body, status_code=status, headers=headers)


def service_error_handler(request: Request[Any, Any, Any], exc: ServiceError) -> Response[Any]:
    """Domain errors carry their own status, code and message."""
    if exc.status_code == 503:
        # Saturated or unreachable: a clean answer with a hint, not an incident.
        log.warning(
            "service unavailable",
            extra={"code": exc.code, "request_id": _request_id(request), "path": request.url.path},
        )
        retry_after = str(getattr(exc, "retry_after", 1))
        return _response(
            503,
            error_body(exc.message, exc.code),
            {**(exc.headers or {}), "Retry-After": retry_after},
        )
    if exc.status_code >= 500:
        return internal_error_handler(request, exc)
    errors = getattr(exc, "errors", None)
    body = error_body(
        exc.message,
        exc.code,
        [{"field": e.field, "message": e.message} for e in errors] if errors else None,
    )
    return _response(exc.status_code, body, exc.headers)


def _request_id(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def _field_errors(extra: Any) -> list[dict[str, str]]:
    items = extra if isinstance(extra, list) else []
    out = []
    for item in items:
        if isinstance(item, dict):
            field = str(item.get("key") or item.get("source") or "body")
            out.append({"field": field, "message": str(item.get("message", "is invalid"))})
    return out


def validation_error_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[Any]:
    """Invalid bodies, queries and headers: 400 with one entry per field."""
    if _body_is_not_an_object(exc.extra):
        return _body_missing(request)
    errors = _field_errors(exc.extra)
    first = f"{errors[0]['field']}: {errors[0]['message']}" if errors else exc.detail
    return _response(400, error_body(f"Validation failed: {first}", "validation_error", errors))


BODY = "data"  # the name Litestar reports when the body as a whole is missing


def _body_is_not_an_object(extra: Any) -> bool:
    """Litestar's errors for a missing body (key `data`) or one that is not an object (no
    key: nothing inside it could be named), as opposed to errors about fields inside it."""
    items = extra if isinstance(extra, list) else []
    return any(
        isinstance(item, dict)
        and (
            item.get("key") == BODY
            or (not item.get("key") and item.get("source", "body") == "body")
        )
        for item in items
    )


def _body_missing(request: Request[Any, Any, Any]) -> Response[Any]:
    """No body, or not a JSON object, where one is required: name what it must contain."""
    required = _required_body_fields(request)
    wanted = ", ".join(f"`{name}`" for name in required)
    message = "The request body must be a JSON object" + (f" with {wanted}." if required else ".")
    errors = [{"field": name, "message": "is required"} for name in required]
    return _response(400, error_body(message, "validation_error", errors or None))


def _required_body_fields(request: Request[Any, Any, Any]) -> list[str]:
    """The wire names of the required fields of the route's body model (none if unknown)."""
    try:
        data = request.route_handler.parsed_fn_signature.parameters.get(BODY)
    except Exception:  # an error raised before routing: no handler to ask
        return []
    model = getattr(data, "annotation", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [
        field.alias or name for name, field in model.model_fields.items() if field.is_required()
    ]


def pydantic_error_handler(
    request: Request[Any, Any, Any], exc: pydantic.ValidationError
) -> Response[Any]:
    """A model validated by hand in a handler (query filters, ...): 400 with one entry per
    field, named by its wire path. The input value is never echoed (it may be personal)."""
    errors = [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "body",
            "message": error["msg"],
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]
    first = f"{errors[0]['field']}: {errors[0]['message']}" if errors else "invalid input"
    return _response(400, error_body(f"Validation failed: {first}", "validation_error", errors))


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Framework errors (404 route, 405, 413, malformed JSON...) in our envelope."""
    status = exc.status_code
    if status >= 500:
        return internal_error_handler(request, exc)
    headers = {
        k: v
        for k, v in (exc.headers or {}).items()
        if k.lower() in {"allow", "retry-after", "connection"}
    }
    if status == 405 and not _names_a_resource(request):
        status, headers = 404, {}
    code, message = _STATUS_CODES.get(status, ("bad_request", "The request is invalid."))
    if status == 400 and isinstance(exc.__cause__, SerializationException):
        code, message = "malformed_json", "The request body is not valid JSON."
    return _response(status, error_body(message, code), headers)


def _names_a_resource(request: Request[Any, Any, Any]) -> bool:
    """Whether some route's path matches the request's with every id parameter (`{...Id}`)
    holding a well-formed id. `POST /api/certificates/bulk` reaches the router's
    `/api/certificates/{certificateId}` node, which has no POST: but "bulk" cannot be a
    certificate id, so that path names nothing and the answer is 404, not 405 (which would
    say the resource exists and only the method is wrong)."""
    parts = [p for p in request.url.path.split("/") if p]
    for route in request.app.routes:
        template = [p for p in route.path.split("/") if p]
        if len(template) == len(parts) and all(
            _segment_matches(t, p) for t, p in zip(template, parts, strict=True)
        ):
            return True
    return False


def _segment_matches(template: str, value: str) -> bool:
    if not template.startswith("{"):
        return template == value
    name = template[1:-1].split(":", 1)[0]
    if not name.endswith("Id"):
        return True
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Anything unexpected: logged with the request id, answered with the generic message."""
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"request_id": _request_id(request), "path": request.url.path},
    )
    return _response(HTTP_500_INTERNAL_SERVER_ERROR, error_body(GENERIC_MESSAGE, "internal_error"))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ServiceError: service_error_handler,
    ValidationException: validation_error_handler,
    pydantic.ValidationError: pydantic_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
