"""The one Settings object: every environment variable the service reads is declared here."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service settings, read from `AKOWE_*` environment variables."""

    # Inputs stay out of validation errors: one of them may be a secret.
    model_config = SettingsConfigDict(
        env_prefix="AKOWE_", extra="ignore", hide_input_in_errors=True, populate_by_name=True
    )

    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is SQLite `akowe.db` inside the data directory.",
    )
    base_url: str | None = Field(
        default=None, description="Public URL used in links; default http://host:port."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(
        default=25 * 1024 * 1024,
        gt=0,
        description="Body cap of file-upload routes (streamed, never held whole in memory).",
    )
    max_json_body_bytes: int = Field(
        default=256 * 1024, gt=0, description="Body cap of ordinary JSON routes."
    )
    max_image_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Body cap of JSON routes that carry an image (templates, organizations).",
    )
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A request body must arrive within this time (408)."
    )
    keep_alive_seconds: float = Field(
        default=5.0, gt=0, description="Idle keep-alive connections are closed after this."
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A request's headers must arrive within this time."
    )
    rate_limit: str = Field(
        default="100/second",
        description="Requests per API key, in `limits` notation (`100/second`, `6000/minute`).",
    )
    public_rate_limit: str = Field(
        default="20/second", description="Requests per client address on public routes."
    )
    rate_limit_storage: Literal["auto", "memory", "database", "redis"] = Field(
        default="auto",
        description="Where rate-limit counters live; auto: Redis when `AKOWE_REDIS_URL` is "
        "set, else the database on PostgreSQL, else memory (one process on SQLite).",
    )
    redis_url: SecretStr | None = Field(
        default=None, description="Redis for rate-limit counters shared by every process."
    )
    render_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Renders (PDF, PNG, preview) run at once per process. One keeps a "
        "process's memory bounded (a render of the largest design peaks near 200 MB) and "
        "leaves the event loop its share of the GIL; run more processes to render more.",
    )
    render_per_account: int = Field(
        default=2, ge=1, le=256, description="Renders one account may have running or waiting."
    )
    render_queue: int = Field(
        default=16, ge=0, le=10_000, description="Renders waiting per process before 503."
    )
    render_cache_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=0,
        description="On-disk budget of cached renders; least recently used evicted.",
    )
    storage_url: str | None = Field(
        default=None,
        description="Where uploaded files live: unset, the `files` folder of the data "
        "directory; `s3://bucket/prefix` for an S3-compatible object store (AWS S3, MinIO, "
        "Cloudflare R2, ...), shared by every process on every host.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="The S3 API's URL for stores other than AWS (`https://minio.internal:9000`"
        ", `https://<account>.r2.cloudflarestorage.com`); unset, AWS S3.",
    )
    s3_region: str | None = Field(
        default=None, description="The bucket's region; unset, boto3's (`AWS_REGION`, ...)."
    )
    s3_access_key_id: SecretStr | None = Field(
        default=None,
        description="S3 credentials; unset, boto3's chain applies (`AWS_ACCESS_KEY_ID` and "
        "`AWS_SECRET_ACCESS_KEY`, `~/.aws`, instance roles).",
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None, description="The secret of `AKOWE_S3_ACCESS_KEY_ID` (both or neither)."
    )
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto",
        description="`path` for servers without per-bucket host names (MinIO, most local ones).",
    )
    s3_presign_seconds: int = Field(
        default=0,
        ge=0,
        le=7 * 86_400,
        description="When above 0, `/files/{key}` answers raster images with a redirect to a "
        "presigned object-store URL valid this long (the service stops carrying the bytes); "
        "SVG files are always served by the service, under its sandboxing headers.",
    )
    storage_cache_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Object-store files (backgrounds, logos, fonts) kept in each process's "
        "memory; keys are content hashes, so a cached file is never stale.",
    )
    metrics_enabled: bool = Field(
        default=True,
        description="Serve Prometheus metrics at `/metrics` (keep it off the public proxy).",
    )
    metrics_dir: Path | None = Field(
        default=None,
        description="Prometheus multi-process directory; `akowe serve --workers N` sets it "
        "(an empty folder of its own) so `/metrics` adds up every worker process.",
    )
    resend_per_certificate_per_day: int = Field(default=3, ge=0)
    resend_per_account_per_day: int = Field(default=200, ge=0)
    allow_private_urls: bool = False
    log_level: str = "INFO"
    smtp_url: SecretStr | None = None
    mail_from: str = "certificates@localhost"
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    worker_enabled: bool = Field(
        default=True, description="Run the delivery worker inside `akowe serve` (each process)."
    )
    worker_poll_interval: float = Field(
        default=1.0, gt=0, description="Seconds the delivery worker sleeps when idle."
    )
    worker_batch_size: int = Field(
        default=128,
        ge=1,
        le=1000,
        description="Messages a worker claims at once (one transaction), signed and rendered "
        "together.",
    )
    worker_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Messages a worker sends at once; a killed worker repeats at most this many.",
    )
    job_chunk_size: int = Field(
        default=250,
        ge=1,
        le=5000,
        description="Rows a bulk job issues per transaction (one worker step). On SQLite "
        "single issues wait for the step in hand: bigger steps record a job sooner and make "
        "them wait longer.",
    )
    delivery_max_attempts: int = Field(default=8, ge=1, description="Then `failed`.")
    delivery_backoff_seconds: float = Field(
        default=30.0, ge=0, description="First retry delay; doubles per attempt, with jitter."
    )
    delivery_backoff_max_seconds: float = Field(default=3600.0, ge=0)
    delivery_lease_seconds: float = Field(
        default=300.0,
        gt=0,
        description="A claimed message is retried by another worker if not finished by then.",
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    db_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description=(
            "Threads for database transactions per process (one pooled connection each); "
            "default 2 on SQLite (one writer at a time, and more threads only contend for "
            "the GIL) and 8 on PostgreSQL."
        ),
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        le=512,
        description="Async read connections per process (PostgreSQL).",
    )
    db_max_overflow: int = Field(
        default=4,
        ge=0,
        le=256,
        description="Extra connections for synchronous callers outside the thread pool.",
    )
    db_wait_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a request waits for database capacity before a 503.",
    )
    db_tenant_share: float = Field(
        default=0.75,
        gt=0,
        le=1,
        description="The fraction of threads or connections one account may hold at once.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "Encrypts the organizations' signing keys at rest. Unset, the file `secret-key` in "
            "the data directory is used if it exists (`akowe serve --demo` creates it); "
            "otherwise the service refuses to start."
        ),
    )
    status_list_ttl_seconds: int = Field(
        default=300,
        ge=0,
        le=86_400,
        description="How long verifiers may cache a status list (its `ttl` and Cache-Control).",
    )
    worker_processes: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=0,
        le=64,
        # AKOWE_SIGNING_PROCESSES: its name before the processes also rendered.
        validation_alias=AliasChoices("AKOWE_WORKER_PROCESSES", "AKOWE_SIGNING_PROCESSES"),
        description=(
            "Processes the worker signs credentials, renders emailed PDFs and checks big bulk "
            "files' rows in (default: one per core; 0: in the worker thread itself), so this "
            "CPU work never competes with requests for the interpreter."
        ),
    )
    credential_repair_interval_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How often the worker looks for certificates still without a credential.",
    )
    verify_upload_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        gt=0,
        description="Largest document `POST /api/public/verify` accepts.",
    )
    key_last_used_resolution_seconds: int = Field(
        default=60,
        ge=0,
        description="last-used times are written at most this often per key (keeps reads cheap).",
    )

    @field_validator("rate_limit", "public_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate like 100/second") from exc
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise ValueError("AKOWE_SECRET_KEY must be at least 16 characters long")
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to embedded SQLite in the data directory."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'akowe.db').resolve()}"

    @cached_property
    def public_base_url(self) -> str:
        """The base URL used in links handed to users."""
        return self.base_url or f"http://{self.host}:{self.port}"


def normalize_database_url(url: str) -> str:
    """Make `postgres://` and `postgresql://` URLs use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
