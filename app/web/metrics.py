"""Prometheus metrics at /metrics: what the service does, added up over its workers.

`python -m app serve --workers N` runs N processes. prometheus-client's multi-process mode
adds their figures up: each process writes its own to files in PROMETHEUS_MULTIPROC_DIR,
which `serve` makes (or empties) before the workers start, and /metrics reads them all.
Without that directory (`uvicorn app.main:app`, the tests) the figures are the process's own.

Served outside the API prefix; METRICS=off turns it off (404), METRICS_TOKEN asks for
`Authorization: Bearer <token>` (the operator's, not an API token).
"""

import hmac
import os
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from app.errors import NotFound, problem_response
from app.versions import current_version

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "plan_progress_requests_total",
    "Requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "plan_progress_request_duration_seconds",
    "Time to answer a request, by route template and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
IN_FLIGHT = Gauge(
    "plan_progress_requests_in_flight",
    "Requests being answered now.",
    multiprocess_mode="livesum",
)
KEPT_ANSWERS = Counter(
    "plan_progress_kept_answers_total",
    "Public reads looked up among the kept answers (app/web/answers.py): hit or miss.",
    ["result"],
)
BULK_ROWS = Counter(
    "plan_progress_bulk_rows_written_total",
    "Rows a bulk upload wrote (not dry runs), by entity and action.",
    ["entity", "action"],
)
POOL_IN_USE = Gauge(
    "plan_progress_db_connections_in_use",
    "Database connections checked out of the pools, as each worker last saw them.",
    multiprocess_mode="livesum",
)


class DataVersion(Collector):
    """The data version (app/changes/recorder.py), read from the database at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Any:
        with self.engine.connect() as connection:
            version = current_version(connection)
        yield GaugeMetricFamily(
            "plan_progress_data_version", "Write transactions committed so far.", value=version
        )


# The labelled series of each route, method and status, looked up once: prometheus_client's
# labels() takes a lock and builds its key on every call (bench/README.md, files and costs).
_SERIES: dict[Any, Any] = {}


def count_request(route: str, method: str, status: int, seconds: float) -> None:
    series = _SERIES.get((route, method, status))
    if series is None:
        series = (REQUESTS.labels(route, method, str(status)), LATENCY.labels(route, method))
        _SERIES[(route, method, status)] = series
    series[0].inc()
    series[1].observe(seconds)


def count_kept_answer(hit: bool) -> None:
    series = _SERIES.get(hit)
    if series is None:
        series = _SERIES[hit] = KEPT_ANSWERS.labels("hit" if hit else "miss")
    series.inc()


def pool_in_use(engine: Engine, reader: Any) -> int:
    """Connections checked out now: the write pool's and the read pool's."""
    checked_out = getattr(engine.pool, "checkedout", None)
    used = checked_out() if callable(checked_out) else 0
    return int(used) + int(reader.in_use())


def exposition(engine: Engine) -> bytes:
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    registry.register(DataVersion(engine))
    return generate_latest(registry)


class _Default(Collector):
    """This process's own metrics (the default registry), beside the data version."""

    def collect(self) -> Any:
        return REGISTRY.collect()


router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        401: {"description": "METRICS_TOKEN is set and was not sent"},
        404: {"description": "METRICS=off"},
    },
)
def metrics(request: Request) -> Response:
    """Prometheus' text format: requests, latency, kept answers, bulk rows, pools, data version."""
    settings = request.app.state.settings
    if settings.metrics == "off":
        raise NotFound("metrics are off on this server (METRICS=off)")
    if settings.metrics_token:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), settings.metrics_token.encode()):
            return problem_response(
                401,
                "send the operator's METRICS_TOKEN: Authorization: Bearer <token>",
                slug="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    body = exposition(request.app.state.engine)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
