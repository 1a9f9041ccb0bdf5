"""What an operator sees of the service: a line for every request and at startup, and
Prometheus metrics at /metrics. AccessLogMiddleware, outermost in app/main.py, writes
the line and counts the request, so every answer is seen, the refusals of the layers below
it too.
"""

import asyncio
import hmac
import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
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
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import NotFound, problem_response
from app.reads import reader_of
from app.versions import VERSION
from app.web.edge import HttpMiddleware

# ---------------------------------------------------------------------------------------------
# One line per request, and what the service starts with, in a form an operator can use.
#
# LOG_FORMAT=json (the image's default) writes one JSON object per line for a log collector;
# `text` (the default elsewhere) writes the same fields readably. Each request line has: time,
# request id, method, route template (`/api/v1/plans/{plan_id}`, not the id, so lines group),
# status, duration in ms, bytes sent, the token's name (never the token), the client's
# address, and for failures the problem type. An incoming X-Request-ID is kept when it is a
# plain token (letters, digits, `-_.:`, at most 128), else one is made; it is echoed back.
#
# At startup: the settings in effect (the database URL without its password), and the
# migration revision the database is at.

# The access lines' logger name, in each line. They are written straight to stderr, not
# through logging: an access line needs nothing a LogRecord, its handler's lock and its
# formatter offer, and they cost a kept answer much of its time (bench/README.md).
ACCESS = "app.access"
STARTUP = logging.getLogger("app.startup")
log = logging.getLogger(__name__)
REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
ROUTE_TEMPLATE = "route_template"  # request state: set by kept answers (app/web/caching.py)
_PROBLEM_TYPE = re.compile(rb'"type"\s*:\s*"([^"]{1,200})"')


_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def timestamp(created: float) -> str:
    """`created` as ISO 8601 in UTC to the millisecond, as datetime's isoformat writes it.
    The date and time of day are made once a second: every request's line has one."""
    global _second
    second = int(created)
    fraction = round((created - second) * 1_000_000)
    if fraction >= 1_000_000:
        second, fraction = second + 1, fraction - 1_000_000
    if second != _second[0]:
        _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_second[1]}.{fraction // 1000:03d}+00:00"


def json_line(
    created: float, level: str, logger: str, message: str, fields: Mapping[str, Any]
) -> str:
    """One JSON object: time, level, logger, message, then the fields."""
    line = {"time": timestamp(created), "level": level, "logger": logger, "message": message}
    return json.dumps(line | dict(fields), ensure_ascii=False, default=str)


def text_line(
    created: float, level: str, logger: str, message: str, fields: Mapping[str, Any]
) -> str:
    """Time, level and message, then `name=value` for each field that has a value."""
    extra = " ".join(
        [f"{name}={value}" for name, value in fields.items() if value is not None and value != ""]
    )
    line = f"{timestamp(created)} {level.upper():<7} {message}"
    return f"{line} {extra}" if extra else line


LINES = {"json": json_line, "text": text_line}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = dict(getattr(record, "fields", {}))
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        level = record.levelname.lower()
        return json_line(record.created, level, record.name, record.getMessage(), fields)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        return text_line(record.created, record.levelname, record.name, record.getMessage(), fields)


_HANDLER_NAME = "plan-progress"


def configure(log_format: str) -> None:
    """Send the startup lines to stderr in the chosen format (once a process; the tests
    build many apps). The access lines are written by AccessLogMiddleware itself."""
    formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    for logger in (STARTUP,):
        logger.setLevel(logging.INFO)
        logger.propagate = False
        for handler in logger.handlers:
            if handler.get_name() == _HANDLER_NAME:
                handler.setFormatter(formatter)
                break
        else:
            handler = logging.StreamHandler(sys.stderr)
            handler.set_name(_HANDLER_NAME)
            handler.setFormatter(formatter)
            logger.addHandler(handler)


def route_template(scope: Scope, prefix: str) -> str | None:
    """The path template of the route that answered (FastAPI puts the route in the scope),
    or the one a kept answer remembered."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return prefix + path if scope["path"].startswith(prefix) else path
    template = scope.get("state", {}).get(ROUTE_TEMPLATE)
    return template if isinstance(template, str) else None


def write_line(line: str) -> None:
    """Write one line (or several, joined by newlines) to stderr, looked up each time so that
    a redirection is followed; a stderr that cannot be written to loses the line, never the
    request."""
    try:
        sys.stderr.write(line + "\n")
    except (OSError, ValueError):
        pass


# The gauges of requests in flight and connections in use are set when the process goes busy
# or idle, and in between at most this often (seconds) as requests start and end.
PUBLISH_EVERY = 1.0


class AccessLogMiddleware(HttpMiddleware):
    """The outermost layer: it times everything, and sees the final status and size.

    Writing a line is a system call, which cost a read on PostgreSQL more time than anything
    else in this layer (bench/README.md). So while other requests are still in flight, a
    finished request's line waits for the end of the event loop's turn, and the lines of
    every request that finished in that turn go out in one write; the last request out
    writes at once, so a process with nothing to do has written every line (and one request
    at a time, as in the tests, is one line at a time). The gauges are handled the same way:
    they were set with a lock on every request."""

    def __init__(self, app: ASGIApp, *, prefix: str, log_format: str) -> None:
        super().__init__(app)
        self.prefix = prefix
        self.line = LINES[log_format]
        self.in_flight = 0  # requests of this process being answered now
        self.lines: list[str] = []  # finished requests' lines not written yet
        self.flush_soon = False  # a flush is called for at the end of the loop's turn
        self.published = float("-inf")  # when the gauges were last set (time.perf_counter)
        self.pool_in_use = -1  # as last set on POOL_IN_USE

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method = scope["method"]
        request_id = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.strip()
        if not REQUEST_ID.fullmatch(request_id):
            request_id = os.urandom(16).hex().encode()  # as random as a UUID4, cheaper
        state = scope.setdefault("state", {})
        state["request_id"] = request_id.decode()
        status = 500
        size = 0
        problem = b""

        async def send_logged(message: Message) -> None:
            nonlocal status, size, problem
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id)]
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                size += len(body)
                if status >= 400 and not problem:
                    found = _PROBLEM_TYPE.search(body[:512])
                    problem = found.group(1) if found else b""
            await send(message)

        self.in_flight += 1
        if self.in_flight == 1 or started - self.published >= PUBLISH_EVERY:
            self._publish(scope, started)  # going busy, or a second since the last
        try:
            await self.app(scope, receive, send_logged)
        finally:
            self.in_flight -= 1
            finished = time.perf_counter()
            actor = state.get("actor")
            client = scope.get("client")
            fields = {
                "request_id": request_id.decode(),
                "method": method,
                "route": route_template(scope, self.prefix) or "(no route)",
                "status": status,
                "duration_ms": round((finished - started) * 1000, 2),
                "bytes": size,
                "token": getattr(actor, "name", None),
                "client": client[0] if client else None,
            }
            if fields["route"] == "(no route)":  # refused before routing (401, 405, 413...)
                fields["path"] = scope["path"]
            if status >= 400:
                fields["problem"] = problem.decode("utf-8", "replace") or None
            message = f"{method} {fields['route']} {status}"
            self._write(self.line(time.time(), "info", ACCESS, message, fields))
            count_request(fields["route"], method, status, fields["duration_ms"] / 1000)
            if not self.in_flight or finished - self.published >= PUBLISH_EVERY:
                self._publish(scope, finished)  # going idle, or a second since the last

    def _write(self, line: str) -> None:
        """Write the line now if no other request is in flight, else with the others that
        finish in this turn of the event loop."""
        self.lines.append(line)
        if not self.in_flight:
            self._flush()
        elif not self.flush_soon:
            self.flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_soon = False
        if self.lines:
            lines, self.lines = self.lines, []
            write_line("\n".join(lines))

    def _publish(self, scope: Scope, now: float) -> None:
        """Set the gauges: requests in flight, and connections in use."""
        self.published = now
        IN_FLIGHT.set(self.in_flight)
        application = scope["app"]
        in_use = pool_in_use(application.state.engine, application.state.reader)
        if in_use != self.pool_in_use:
            self.pool_in_use = in_use
            POOL_IN_USE.set(in_use)


_SECRET = re.compile(r"password|secret|token|key", re.IGNORECASE)


def settings_in_effect(settings: Any) -> dict[str, Any]:
    """The settings, for the startup line: the database URL without its password, and any
    setting named like a secret masked."""
    from sqlalchemy import make_url

    shown: dict[str, Any] = {}
    for name, value in settings.model_dump().items():
        if name == "database_url":
            value = make_url(value).render_as_string(hide_password=True)
        elif _SECRET.search(name) and value:
            value = "***"
        shown[name] = value
    return shown


# ---------------------------------------------------------------------------------------------
# Prometheus metrics at /metrics: what the service does, added up over its workers.
#
# `python -m app serve --workers N` runs N processes. prometheus-client's multi-process mode
# adds their figures up: each process writes its own to files in PROMETHEUS_MULTIPROC_DIR,
# which `serve` makes (or empties) before the workers start, and /metrics reads them all.
# Without that directory (`uvicorn app.main:app`, the tests) the figures are the process's own.
#
# Served outside the API prefix; METRICS=off turns it off (404), METRICS_TOKEN asks for
# `Authorization: Bearer <token>` (the operator's, not an API token).

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
    "Requests being answered now, as each worker last counted them: on going busy or idle,"
    " and at most once a second while requests come and go.",
    multiprocess_mode="livesum",
)
KEPT_ANSWERS = Counter(
    "plan_progress_kept_answers_total",
    "Public reads looked up among the kept answers (app/web/caching.py): hit or miss.",
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
    """The data version (app/changes/recorder.py), read from the database at each scrape, and
    whether the database answered that read in time."""

    def __init__(self, version: int | None) -> None:
        self.version = version

    def collect(self) -> Any:
        yield GaugeMetricFamily(
            "plan_progress_database_up",
            "1 when the database answered this scrape's read within DB_CONNECT_TIMEOUT, else 0.",
            value=int(self.version is not None),
        )
        if self.version is not None:
            yield GaugeMetricFamily(
                "plan_progress_data_version",
                "Write transactions committed so far.",
                value=self.version,
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


def exposition(version: int | None) -> bytes:
    """The metrics in Prometheus' text format, with the data version read for this scrape
    (None: the database did not answer it)."""
    if directory := os.environ.get(MULTIPROCESS_DIR):
        forget_dead_workers(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    registry.register(DataVersion(version))
    return generate_latest(registry)


_LIVE_GAUGE = re.compile(r"gauge_live\w*_(\d+)\.db")


def forget_dead_workers(directory: str) -> None:
    """Drop the live gauges (requests in flight, connections in use) of workers that died.

    Every worker keeps its gauges in a file of its own, and a worker killed or restarted by
    uvicorn never says it is gone: its last in-flight count would be added in for good.
    Counters and histograms stay, as prometheus-client asks: they count what was done."""
    pids = {int(found[1]) for name in os.listdir(directory) if (found := _LIVE_GAUGE.match(name))}
    for pid in pids:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: not ours to judge
    return True


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
async def metrics(request: Request) -> Response:
    """Prometheus' text format: requests, latency, kept answers, bulk rows, pools, data version.

    It answers in an outage too (that is when it is needed): the data version is read within
    DB_CONNECT_TIMEOUT, and plan_progress_database_up says whether it was."""
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
    version: int | None
    try:
        # No row yet is version 0, as everywhere (app/versions.py).
        version = int(await reader_of(request).probe(VERSION, settings.db_connect_timeout) or 0)
    except Exception as error:
        log.warning("/metrics: the database did not answer (%s)", type(error).__name__)
        version = None
    body = await run_in_threadpool(exposition, version)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
