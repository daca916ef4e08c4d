"""`/files/{key}`: stored files, immutable and cacheable forever (keys are content hashes)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from akowe.api.deps import ServicesDep
from akowe.api.openapi import error_responses
from akowe.storage.exceptions import FileNotFound

# SVG can carry scripts: never let a served file run code or load anything.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
CACHE_CONTROL = "public, max-age=31536000, immutable"


@get(
    "/files/{key:str}",
    sync_to_thread=True,
    tags=["Files"],
    responses={
        200: ResponseSpec(
            data_container=bytes,
            description="The file's bytes (PNG, JPEG, WebP or SVG).",
            media_type="application/octet-stream",
        ),
        307: ResponseSpec(
            data_container=None,
            description="With `AKOWE_S3_PRESIGN_SECONDS` set: a raster image is fetched from "
            "the object store's presigned URL in `Location` instead.",
            generate_examples=False,
        ),
        304: ResponseSpec(
            data_container=None,
            description="Not modified: `If-None-Match` named the file's `ETag`.",
            generate_examples=False,
        ),
        # Public: no key, so no 401/403; a 400 is ours too, not the framework's default.
        **{k: v for k, v in error_responses(404).items() if k in {400, 404, 500}},
    },
)
def get_file(
    key: FromPath[str],
    request: Request[Any, Any, Any],
    services: ServicesDep,
) -> Response[bytes]:
    """A stored file (organization logo, template background)."""
    etag = f'"{key.split(".", 1)[0]}"'
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    }
    redirect = services.store.redirect_url(key)
    if redirect is not None:
        # The presigned URL expires: clients may cache the redirect only briefly.
        return Response(
            content=b"",
            status_code=307,
            headers={"Location": redirect, "Cache-Control": "private, max-age=60"},
        )
    stored = services.store.get(key)
    # Uploaded fonts are licensed to the account for embedding, not for redistribution:
    # the store keeps them for rendering and never hands them out.
    if stored is None or not stored.content_type.startswith("image/"):
        raise FileNotFound()
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(content=b"", status_code=304, headers=headers)
    return Response(content=stored.data, media_type=stored.content_type, headers=headers)
