"""The application: routers, middleware and error handlers; nothing else."""

import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.auth.tokens import BearerAuthMiddleware
from app.bulk.router import router as bulk_router
from app.bulk.schemas import EvaluationItems, InitiativeItems
from app.bundles.router import router as bundles_router
from app.changes.router import router as changes_router
from app.config import Settings, get_settings
from app.dashboard.router import install_dashboard
from app.db import make_engine, postgres_connect_args
from app.errors import PROBED_METHODS, Problem, install_error_handlers
from app.evaluations.router import router as evaluations_router
from app.exports.catalog import router as catalog_router
from app.exports.router import router as exports_router
from app.initiatives.router import router as initiatives_router
from app.kept_rows import KeptRows
from app.measures.router import router as measures_router
from app.migrate import current_revision, head_revision
from app.plans.router import router as plans_router
from app.policies.router import router as policies_router
from app.reads import make_reader
from app.report.router import router as report_router
from app.reports.router import router as reports_router
from app.search.router import router as search_router
from app.stats.router import router as stats_router
from app.web import health, monitoring
from app.web.caching import (
    AnswerCacheMiddleware,
    NotModified,
    StatsCache,
    not_modified_handler,
    read_cache_control,
)
from app.web.docs import install_docs
from app.web.edge import WRITE_METHODS, MethodsMiddleware, OriginMiddleware, RequestLimitsMiddleware
from app.web.faults import DatabaseFaultMiddleware, RetryTransientMiddleware
from app.web.headers import API_HEADERS, CORSMiddleware, SecurityHeadersMiddleware
from app.web.jsonbody import RefusedBody, refused_body_handler
from app.web.lane import PlainReadLane
from app.web.monitoring import AccessLogMiddleware
from app.web.openapi import declare_headers, declare_links
from app.web.query import query_components
from app.web.ratelimit import WriteRateLimit

API_PREFIX = "/api/v1"
DESCRIPTION = """\
A municipality's administrative management plan (行政経営プラン): its policies (基本方針),
measures (施策), initiatives (取組事項) and yearly evaluations, with the figures the city
published. Reads are public open data; fiscal years are accepted as `2024`, `R6` or `令和6年度`.
Errors are `application/problem+json` (RFC 9457).
"""

# The order of the sections in /docs (the routers are included in another order, above).
TAGS = [
    "plans",
    "policies",
    "measures",
    "initiatives",
    "evaluations",
    "reports",
    "changes",
    "stats",
    "exports",
    "bulk",
    "search",
    "health",
]


def _operation_id(route: APIRoute) -> str:
    return route.name


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Everything built so far (modules, routes, schemas: some 160,000 objects) lives as long
    # as the process: take it out of the garbage collector's full passes, which otherwise
    # walk it again and again and took a quarter of a bulk upload's time (bench/README.md).
    # Once per process: a process that builds many apps (the tests) keeps only the first.
    if not gc.get_freeze_count():
        gc.collect()
        gc.freeze()
    await run_in_threadpool(_log_startup, app)
    yield
    await app.state.reader.close()


def _log_startup(app: FastAPI) -> None:
    """Say what this process serves: its settings, and the database's migration revision."""
    monitoring.STARTUP.info(
        "settings in effect", extra={"fields": monitoring.settings_in_effect(app.state.settings)}
    )
    try:
        revision = current_revision(app.state.engine)
    except Exception as error:  # the service still starts; /readyz says 503 until it is up
        monitoring.STARTUP.warning(
            "the database is not reachable yet", extra={"fields": {"error": type(error).__name__}}
        )
        return
    fields = {"revision": revision, "head": app.state.head_revision}
    message = (
        "database at its latest migration"
        if revision == fields["head"]
        else ("database NOT at the latest migration: run python -m app migrate")
    )
    monitoring.STARTUP.info(message, extra={"fields": fields})


ALLOWED_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "Accept-Language",
]
EXPOSED_RESPONSE_HEADERS = [
    "ETag",
    "Link",
    "Location",
    "Content-Disposition",
    "Retry-After",
    "X-Request-ID",
]


def literal_paths(prefix: str, routers: Sequence[APIRouter]) -> dict[str, list[str]]:
    """The methods of each path without parameters, for a 405's Allow (app/errors.py)."""
    found: dict[str, set[str]] = {}
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and "{" not in route.path:
                found.setdefault(prefix + route.path, set()).update(route.methods or ())
    paths = {}
    for path, methods in found.items():
        listed = [method for method in PROBED_METHODS if method in methods]
        if "GET" in listed:  # HEAD is answered as GET (app/web/edge.py)
            listed.insert(listed.index("GET") + 1, "HEAD")
        paths[path] = listed
    return paths


def middleware(settings: Settings, prefix: str) -> list[Middleware]:
    """The middleware stack, in the order a request meets it: FastAPI runs the first entry
    outermost, so read it from top to bottom as the outside in. Each layer's reason for its
    place is beside it."""
    # The uploads of many rows at once: the bulk routes and a plan's bundle.
    large = (f"{prefix}/bulk", f"{prefix}/plans/import")
    # Outermost, so every answer is logged and timed, the errors of the layers below too.
    stack = [
        Middleware(AccessLogMiddleware, prefix=prefix, log_format=settings.log_format),
        Middleware(SecurityHeadersMiddleware),
    ]
    if settings.forwarded_allow_ips:
        # Only then are X-Forwarded-For and -Proto believed, and only from these proxies.
        stack.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips))
    stack += [
        # After the proxy headers, before anything builds a URL or keeps an answer.
        Middleware(
            OriginMiddleware,
            public_base_url=settings.public_base_url,
            allowed_hosts=settings.allowed_host_list,
        ),
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_credentials=False,
            allow_methods=["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=ALLOWED_REQUEST_HEADERS,
            expose_headers=EXPOSED_RESPONSE_HEADERS,
        ),
        # Outside everything that touches the database: an outage is a 503 for all of it.
        Middleware(DatabaseFaultMiddleware),
        # HEAD as GET, and 405 before any token is asked for.
        Middleware(MethodsMiddleware),
        # A declared length over the limit is 413 here; the body itself is read only after
        # the token is checked, and a body that stops arriving is 408.
        Middleware(
            RequestLimitsMiddleware,
            default_limit=settings.max_body_bytes,
            large_limit=settings.max_bulk_body_bytes,
            large_prefixes=large,
            max_header_bytes=settings.max_header_bytes,
            body_timeout=settings.body_timeout,
        ),
        # Kept answers serve public reads before authentication, which reads never need.
        Middleware(
            AnswerCacheMiddleware,
            prefix=prefix,
            max_bytes=settings.answer_cache_bytes,
            max_item_bytes=settings.answer_cache_item_bytes,
        ),
        # The token before the body: a refused write's body is never read.
        Middleware(BearerAuthMiddleware, prefix=prefix),
        # It replays the buffered body when the database aborts a write as transient, so
        # only the route runs again.
        Middleware(RetryTransientMiddleware, prefix=prefix),
        # Innermost: a plain read's route is found and run here, not by FastAPI's walk; it
        # needs the exception handlers of the layer FastAPI puts next.
        Middleware(PlainReadLane),
    ]
    return stack


def _telemetry(settings: Settings) -> TelemetryConfig:
    """FastAPI's own OpenTelemetry, on only when asked: otherwise every request would look
    for an SDK's providers that are not there."""
    on = settings.opentelemetry == "on"
    return {"tracing": on, "metrics": on, "logs": on, "operation_spans": on}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Plan progress API",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served with an ETag by app/web/docs.py
        generate_unique_id_function=_operation_id,
        openapi_tags=[{"name": tag} for tag in TAGS],
        lifespan=lifespan,
        middleware=middleware(settings, API_PREFIX),
        telemetry=_telemetry(settings),
    )
    app.state.settings = settings
    monitoring.configure(settings.log_format)
    app.state.engine = make_engine(settings)
    app.state.head_revision = head_revision()
    app.state.read_cache_control = read_cache_control(settings.shared_cache_max_age)
    app.state.stats_cache = StatsCache(settings.stats_cache_size)
    app.state.kept_rows = KeptRows(settings.row_cache_bytes)
    app.state.write_limit = WriteRateLimit.parse(settings.write_rate_limit)
    app.state.reader = make_reader(
        app.state.engine,
        pool_size=settings.db_pool_size,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        connect_args=postgres_connect_args(settings),
        wait_timeout=settings.db_connect_timeout,
        answer_timeout=settings.db_answer_timeout,
    )

    # FastAPI tries a request's path against the routes one by one, included router after
    # included router, so the routers are included flat (not under a shared /api/v1 router,
    # which doubles the walk) and in order of traffic: the public reads come first.
    # (bench/README.md measures what a route near the end pays.)
    routers = (
        initiatives_router,
        search_router,
        stats_router,
        evaluations_router,
        bundles_router,  # before plans_router, whose /plans/{plan_id} it would otherwise meet
        plans_router,
        policies_router,
        measures_router,
        reports_router,
        changes_router,
        exports_router,
        catalog_router,
        bulk_router,
    )
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    app.state.literal_paths = literal_paths(API_PREFIX, routers)
    app.include_router(health.router)
    app.include_router(monitoring.router)
    install_docs(app)
    install_dashboard(app)
    app.include_router(report_router)
    install_error_handlers(app, unexpected_headers=API_HEADERS)
    app.add_exception_handler(NotModified, not_modified_handler)
    app.add_exception_handler(RefusedBody, refused_body_handler)
    _declare_extra_schemas(app)
    return app


def _declare_extra_schemas(app: FastAPI) -> None:
    """Add the schemas routes refer to by hand: Problem (every error response), the JSON
    bodies of the bulk routes, which read their body themselves (JSON or CSV), and the enums
    of the query models (app/web/query.py); and the response headers (app/web/openapi.py)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (Problem, InitiativeItems, EvaluationItems):
                definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, nested in definition.pop("$defs", {}).items():
                    components.setdefault(name, nested)
                components[model.__name__] = definition
            for name, definition in query_components().items():
                components.setdefault(name, definition)
            _declare_bearer_auth(schema)
            _parameters_without_null(schema)
            declare_headers(schema, API_PREFIX)
            declare_links(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_bearer_auth(schema: dict[str, Any]) -> None:
    """Say which operations need a token: every write under the API prefix (the routes
    BearerAuthMiddleware guards), so clients and tools know where to send it."""
    schema["components"]["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token made with `python -m app tokens create` (role editor or"
            " admin). Reads need none.",
        }
    }
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method, operation in item.items():
            if method.upper() in WRITE_METHODS:
                operation["security"] = [{"bearerAuth": []}]


def _parameters_without_null(schema: dict[str, Any]) -> None:
    """Drop `null` from the schemas of query, header and path parameters.

    FastAPI declares an optional parameter `X | None` as `anyOf: [X, {type: null}]`, but a
    parameter is text: it is either sent or not (`required: false`), and the text "null"
    is not a null (`If-Match: null` is refused, as it should be).
    """
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                declared = parameter.get("schema", {})
                options = declared.get("anyOf")
                if not options or {"type": "null"} not in options:
                    continue
                kept = [option for option in options if option != {"type": "null"}]
                del declared["anyOf"]
                if declared.get("default", ...) is None:
                    del declared["default"]
                if len(kept) == 1:
                    declared.update(kept[0])
                else:
                    declared["anyOf"] = kept


app = create_app()
