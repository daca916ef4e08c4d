"""`POST /api/certificates/bulk` and `/api/jobs` (extensions): bulk issuance as jobs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.exceptions import ClientException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.params import HeaderParameter, PathParameter, QueryParameter
from pydantic import BaseModel

from akowe.accounts.service import Principal
from akowe.api.deps import Injected, PrincipalDep, ServicesDep
from akowe.api.edge import check_json, route_opt
from akowe.api.openapi import SECURITY, answers, error_responses
from akowe.certificates import idempotency
from akowe.certificates.router import REPLAYED_HEADER
from akowe.errors import ValidationFailed
from akowe.jobs import files
from akowe.jobs import service as jobs_service
from akowe.jobs.models import Job
from akowe.jobs.schemas import BulkReport, BulkRequest, JobRead, JobRowRead
from akowe.pagination import CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, NEXT_CURSOR_HEADER
from akowe.schemas import Envelope, envelope

ITEM = "/{jobId:str}"
JobDep = Injected[Job]
MULTIPART_HINT = "send a CSV or XLSX file in a part named `file`"
_FORM_JSON_FIELDS = ("mailData", "options", "mapping")


# ---------------------------------------------------------------- documentation


@dataclass
class BulkOperation(Operation):
    """The bulk body, documented by hand: the handler reads JSON or a multipart form itself,
    after authentication (a keyless request is a 401 whatever its body holds)."""

    def __post_init__(self) -> None:
        text = Schema(type=OpenAPIType.STRING, max_length=20_000)
        self.request_body = RequestBody(
            required=True,
            description=(
                "JSON (`recipients`), or `multipart/form-data` with `file`: a CSV (UTF-8 with or "
                "without BOM, `,`, `;` or tab, quoted fields, Excel's `sep=;` first line) or XLSX "
                "(first sheet) whose first row "
                "names the columns, at most 100,000 rows. Without a `mapping`, columns `name` "
                "and `email` map themselves and every other column is an attribute; `mapping` "
                '(JSON) maps a column to `name`, `email`, `attributes.<key>` or `""` (ignored). '
                "`mailData` and `options` are JSON too. Rows are numbered from 1 (the first "
                "recipient)."
            ),
            content={
                "application/json": OpenAPIMediaType(
                    schema=Reference(ref="#/components/schemas/BulkRequest")
                ),
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        properties={
                            "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
                            "organizationId": Schema(type=OpenAPIType.STRING, max_length=64),
                            "templateId": Schema(type=OpenAPIType.STRING, max_length=64),
                            "expiresAt": Schema(
                                type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME
                            ),
                            "mailData": text,
                            "options": text,
                            "mapping": text,
                        },
                        required=["file", "organizationId"],
                    )
                ),
            },
        )


def _json_schema_to_openapi(value: Any) -> Any:
    if isinstance(value, list):
        return [_json_schema_to_openapi(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "$ref" in value:
        return Reference(ref=value["$ref"])
    fields: dict[str, Any] = {}
    for key, item in value.items():
        if key in ("title", "$defs"):
            continue
        if key == "properties":
            fields["properties"] = {k: _json_schema_to_openapi(v) for k, v in item.items()}
        elif key == "type":
            fields["type"] = OpenAPIType(item)
        elif key == "format":
            fields["format"] = OpenAPIFormat(item)
        elif key == "additionalProperties" and isinstance(item, bool):
            fields["additional_properties"] = item
        else:
            name = re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()
            fields[name] = _json_schema_to_openapi(item)
    return Schema(**fields)


def document_bulk(schema: OpenAPI) -> OpenAPI:
    """Add the JSON bulk body's models to the document's components (the route documents
    its body by hand, so the generator never saw them)."""
    components = schema.components.schemas if schema.components else None
    if components is None:
        return schema
    models: list[type[BaseModel]] = [BulkRequest]
    for model in models:
        generated = model.model_json_schema(
            by_alias=True, ref_template="#/components/schemas/{model}"
        )
        for name, definition in generated.get("$defs", {}).items():
            components.setdefault(name, _json_schema_to_openapi(definition))
        components[model.__name__] = _json_schema_to_openapi(generated)
    return schema


# ---------------------------------------------------------------- parsing


async def _form(request: Request[Any, Any, Any]) -> tuple[dict[str, Any], UploadFile]:
    try:
        form = await request.form()
    except (ClientException, ValidationException) as exc:
        if exc.status_code == 413:
            raise
        raise ValidationFailed.field("file", f"{MULTIPART_HINT} ({exc.detail})") from exc
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise ValidationFailed.field("file", f"is required: {MULTIPART_HINT}")
    fields: dict[str, Any] = {}
    for name, value in form.items():
        if name == "file" or isinstance(value, UploadFile):
            continue
        if name in _FORM_JSON_FIELDS:
            try:
                fields[name] = json.loads(value) if value.strip() else None
            except ValueError:
                raise ValidationFailed.field(name, "must be JSON") from None
        elif value.strip():
            fields[name] = value
    return fields, part


# ---------------------------------------------------------------- routes


_SUBMIT_RESPONSES: dict[int, ResponseSpec] = {
    **answers(
        Envelope[JobRead],
        400,
        404,
        409,
        413,
        422,
        status=202,
        message=jobs_service.ACCEPTED,
    ),
    200: answers(Envelope[BulkReport], message=jobs_service.CHECKED)[200],
}


@post(
    "/bulk",
    status_code=202,
    opt=route_opt(body="upload"),
    operation_class=BulkOperation,
    responses=_SUBMIT_RESPONSES,
    tags=["Certificates"],
)
async def submit_bulk(
    request: Request[Any, Any, Any],
    principal: PrincipalDep,
    services: ServicesDep,
    idempotency_key: Annotated[
        str | None,
        HeaderParameter(
            name="Idempotency-Key",
            required=False,
            pattern=idempotency.KEY_PATTERN,
            max_length=idempotency.MAX_KEY_LENGTH,
            description="Repeat a submission safely: the first answer is replayed.",
        ),
    ] = None,
) -> Response[dict[str, Any]]:
    """Issue to many recipients as one job (extension): every row is checked before a credit
    is spent; `202` with the job at once (`options.dryRun`: `200` with the report, nothing
    created). Rows are then issued by the workers, one credit per issued row."""
    key = idempotency.check_key(idempotency_key) if idempotency_key is not None else None
    path = request.url.path
    if request.content_type[0] == "multipart/form-data":
        fields, part = await _form(request)
        content = await part.read()
        build = partial(jobs_service.from_file, fields, content, part.filename, path)
    else:
        body = await request.body()
        if body.strip():
            check_json(body)  # the edge's checks of JSON bodies (encoding, depth, NUL)
        build = partial(jobs_service.from_json, body, path)

    def run() -> jobs_service.SubmitResult:
        return jobs_service.submit(
            services.db,
            principal=principal,
            submission=build(),
            store=services.store,
            path=path,
            idempotency_key=key,
        )

    result = await services.db.call(run, tenant=principal.account_id)
    if result.created:
        services.wake_jobs()
    headers = {REPLAYED_HEADER: "true"} if result.replayed else None
    return Response(result.body, status_code=result.status, headers=headers)


async def load_job(
    job_id: Annotated[str, PathParameter(name="jobId")],
    principal: PrincipalDep,
    services: ServicesDep,
) -> Job:
    """Load-or-404 for every route with `{jobId}`."""
    return await services.db.readonly(
        partial(jobs_service.require, principal=principal, job_id=job_id),
        tenant=principal.account_id,
    )


@get("", responses=answers(Envelope[list[JobRead]], 400))
async def list_jobs(
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        QueryParameter(
            name="cursor",
            pattern=CURSOR_PATTERN,
            description=f"`{NEXT_CURSOR_HEADER}` of the previous page.",
        ),
    ] = None,
) -> Response[dict[str, Any]]:
    """List jobs (extension), newest first."""
    items, next_cursor = await services.db.readonly(
        partial(jobs_service.list_jobs, principal=principal, limit=limit, cursor=cursor),
        tenant=principal.account_id,
    )
    headers = {NEXT_CURSOR_HEADER: next_cursor} if next_cursor else {}
    return Response(envelope(items), headers=headers)


@get(ITEM, responses=answers(Envelope[JobRead], 404))
async def get_job(job: JobDep, services: ServicesDep) -> dict[str, Any]:
    """A job's status, counts, timings and progress (extension)."""
    return envelope(await services.db.readonly(partial(jobs_service.to_wire, job=job)))


@get(ITEM + "/rows", responses=answers(Envelope[list[JobRowRead]], 400, 404))
async def list_job_rows(
    job: JobDep,
    services: ServicesDep,
    status: Annotated[
        str | None,
        QueryParameter(
            name="status", pattern="^(validating|pending|issued|failed|skipped|cancelled)$"
        ),
    ] = None,
    limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        QueryParameter(
            name="cursor",
            pattern=r"^[0-9]{1,7}$",
            description=f"`{NEXT_CURSOR_HEADER}` of the previous page.",
        ),
    ] = None,
) -> Response[dict[str, Any]]:
    """Each row's result (extension): its certificate, or why it was not issued."""
    items, next_cursor = await services.db.readonly(
        partial(
            jobs_service.list_rows,
            job=job,
            status=status,
            after=int(cursor) if cursor else 0,
            limit=limit,
        ),
        tenant=job.account_id,
    )
    headers = {NEXT_CURSOR_HEADER: next_cursor} if next_cursor else {}
    return Response(envelope(items), headers=headers)


@get(ITEM + "/results.csv", media_type="text/csv", responses=error_responses(404))
async def get_job_results(job: JobDep, services: ServicesDep) -> Response[bytes]:
    """The input as sent plus each row's status, certificateId, errorCode and errorMessage."""
    columns = list((job.request or {}).get("columns") or [])

    def build(session: Any) -> bytes:
        rows = jobs_service.result_rows(session, job=job)
        return "".join(files.results_csv(columns, rows)).encode("utf-8-sig")

    content = await services.db.readonly(build, tenant=job.account_id)
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="job-{job.id}-results.csv"'},
    )


async def _change(
    services: Any, principal: Principal, job_id: str, change: Any, message: str
) -> dict[str, Any]:
    def run(session: Any) -> dict[str, Any]:
        job = change(session, principal=principal, job_id=job_id)
        return jobs_service.to_wire(session, job=job)

    data = await services.db.transaction(run, tenant=principal.account_id)
    return envelope(data, message)


@post(
    ITEM + "/cancel",
    status_code=200,
    responses=answers(Envelope[JobRead], 404, 409, message=jobs_service.CANCELLED),
)
async def cancel_job(
    job_id: Annotated[str, PathParameter(name="jobId")],
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Cancel a job (extension): rows not issued yet are not issued (nor charged)."""
    return await _change(services, principal, job_id, jobs_service.cancel, jobs_service.CANCELLED)


@post(
    ITEM + "/retry",
    status_code=200,
    responses=answers(Envelope[JobRead], 404, 409, message=jobs_service.RETRIED),
)
async def retry_job(
    job_id: Annotated[str, PathParameter(name="jobId")],
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Run a finished job's failed rows again (extension), e.g. after a top-up; rows that
    failed validation stay failed."""
    data = await _change(services, principal, job_id, jobs_service.retry, jobs_service.RETRIED)
    services.wake_jobs()
    return data


bulk_router = Router(path="/api/certificates", route_handlers=[submit_bulk], security=SECURITY)
router = Router(
    path="/api/jobs",
    route_handlers=[list_jobs, get_job, list_job_rows, get_job_results, cancel_job, retry_job],
    dependencies={"job": Provide(load_job)},
    tags=["Jobs"],
    security=SECURITY,
)
