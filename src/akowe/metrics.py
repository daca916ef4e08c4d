"""Prometheus metrics, with the official `prometheus-client`.

Counted where they happen (each process): HTTP requests by route template, method and
status, their latency, certificates issued, renders and their time, delivery outcomes (so
failures), credential signing time. Read from the database when `/metrics` is scraped (so
the same from every process): the outbox's depth and oldest message's age per kind,
messages that failed for good, and the rows of unfinished bulk jobs per state (a finished
job's rows leave the gauge: its counts are in `GET /api/jobs/{id}`, and a gauge over all
history would cost a scan of every row ever issued on each scrape).

`akowe serve --workers N` gives every worker process the same empty directory in
`AKOWE_METRICS_DIR` (and `PROMETHEUS_MULTIPROC_DIR`, which the client reads when it is
imported): each process writes its counters to memory-mapped files there and `/metrics`,
answered by any one of them, adds them all up.

Cheap on the hot path: a request costs one dictionary look-up for its label set (the
labelled children are kept) and two lock-protected additions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

# Request latency: the API answers in milliseconds; renders and uploads take seconds.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WORK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The classic text format every Prometheus reads (the charset is added by the framework).
MEDIA_TYPE = "text/plain; version=0.0.4"
UNMATCHED = "unmatched"  # unknown paths share one label: a scanner cannot add series

REQUESTS = Counter("akowe_http_requests", "HTTP requests answered.", ("method", "route", "status"))
LATENCY = Histogram(
    "akowe_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response.",
    ("method", "route"),
    buckets=LATENCY_BUCKETS,
)
CERTIFICATES_ISSUED = Counter(
    "akowe_certificates_issued", "Certificates issued (idempotent replays excluded).", ("mode",)
)
RENDER_SECONDS = Histogram(
    "akowe_render_seconds",
    "Time to render a file the render cache did not hold.",
    ("kind",),
    buckets=WORK_BUCKETS,
)
SIGNING_SECONDS = Histogram(
    "akowe_signing_batch_seconds",
    "Time the worker took to sign one batch of credentials.",
    buckets=WORK_BUCKETS,
)
CREDENTIALS_SIGNED = Counter("akowe_credentials_signed", "Credentials signed by the worker.")
DELIVERIES = Counter(
    "akowe_delivery_outcomes",
    "Outbox messages processed by outcome (`retrying` and `failed` are delivery failures).",
    ("kind", "outcome"),
)

_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """Count one answered request and its latency."""
    key = (method, route or UNMATCHED, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (
            REQUESTS.labels(method, key[1], str(status)),
            LATENCY.labels(method, key[1]),
        )
    children[0].inc()
    children[1].observe(seconds)


@contextmanager
def timed(histogram: Any) -> Iterator[None]:
    """Observe the block's duration in `histogram` (a labelled child or a plain one)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - start)


def render_kind(name: str) -> str:
    """The kind of a render cache entry, from its name: pdf, png, baked or preview."""
    if name.endswith(".pdf"):
        return "pdf"
    if name.startswith("preview-"):
        return "preview"
    return "baked" if name.endswith("-baked.png") else "png"


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """One outbox kind's backlog as read from the database."""

    kind: str
    pending: int
    oldest_age_seconds: float
    failed: int


class _DatabaseCollector(Collector):
    """The figures read for this scrape (akowe.delivery.service.outbox_stats,
    akowe.jobs.service.row_stats)."""

    def __init__(self, stats: list[OutboxStats], bulk_rows: Mapping[str, int]) -> None:
        self.stats = stats
        self.bulk_rows = bulk_rows

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "akowe_outbox_depth", "Outbox messages waiting or being sent.", labels=["kind"]
        )
        age = GaugeMetricFamily(
            "akowe_outbox_oldest_age_seconds",
            "Age of the oldest waiting outbox message (0 when none waits).",
            labels=["kind"],
        )
        failed = GaugeMetricFamily(
            "akowe_outbox_failed", "Outbox messages that failed for good.", labels=["kind"]
        )
        for row in self.stats:
            depth.add_metric([row.kind], row.pending)
            age.add_metric([row.kind], row.oldest_age_seconds)
            failed.add_metric([row.kind], row.failed)
        rows = GaugeMetricFamily(
            "akowe_bulk_rows",
            "Rows of bulk jobs not yet finished (validating, queued, running), per state.",
            labels=["state"],
        )
        for state, count in self.bulk_rows.items():
            rows.add_metric([state], count)
        yield from (depth, age, failed, rows)


def exposition(
    multiprocess_dir: Path | None, stats: list[OutboxStats], bulk_rows: Mapping[str, int]
) -> tuple[bytes, str]:
    """The text format body and its content type: this process's metrics (or every worker
    process's, added up from `multiprocess_dir`) and the database's figures."""
    source = REGISTRY
    # Only when this process's metrics were made multi-process (PROMETHEUS_MULTIPROC_DIR was
    # set before the client was imported); otherwise they live in this process's memory.
    if multiprocess_dir is not None and values.ValueClass._multiprocess:
        source = CollectorRegistry()
        multiprocess.MultiProcessCollector(source, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    database = CollectorRegistry()
    database.register(_DatabaseCollector(stats, bulk_rows))
    return generate_latest(source) + generate_latest(database), MEDIA_TYPE
