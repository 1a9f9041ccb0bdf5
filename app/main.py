"""The application: routers, middleware and error handlers; nothing else."""

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from app import health
from app.auth.guard import BearerAuthMiddleware
from app.bulk.router import router as bulk_router
from app.bulk.schemas import EvaluationItems, InitiativeItems
from app.caching import NotModified, not_modified_handler
from app.changes.router import router as changes_router
from app.config import Settings, get_settings
from app.db import make_engine
from app.docs import install_docs
from app.errors import Problem, install_error_handlers
from app.evaluations.router import router as evaluations_router
from app.exports.catalog import router as catalog_router
from app.exports.router import router as exports_router
from app.headers import SecurityHeadersMiddleware
from app.initiatives.router import router as initiatives_router
from app.limits import BodyLimitMiddleware
from app.measures.router import router as measures_router
from app.migrate import head_revision
from app.plans.router import router as plans_router
from app.policies.router import router as policies_router
from app.reports.router import router as reports_router
from app.stats.cache import AnswerCache
from app.stats.router import router as stats_router

API_PREFIX = "/api/v1"
DESCRIPTION = """\
A municipality's administrative management plan (行政経営プラン): its policies (基本方針),
measures (施策), initiatives (取組事項) and yearly evaluations, with the figures the city
published. Reads are public open data; fiscal years are accepted as `2024`, `R6` or `令和6年度`.
Errors are `application/problem+json` (RFC 9457).
"""


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Plan progress API",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings)
    app.state.head_revision = head_revision()
    app.state.stats_cache = AnswerCache(settings.stats_cache_size)

    api = APIRouter(prefix=API_PREFIX)
    for router in (
        plans_router,
        policies_router,
        measures_router,
        initiatives_router,
        evaluations_router,
        reports_router,
        changes_router,
        stats_router,
        exports_router,
        catalog_router,
        bulk_router,
    ):
        api.include_router(router)
    app.include_router(api)
    app.include_router(health.router)
    install_docs(app)
    install_error_handlers(app)
    app.add_exception_handler(NotModified, not_modified_handler)
    # Starlette runs the last added outermost: security headers, CORS, the body limit, then
    # authentication.
    app.add_middleware(BearerAuthMiddleware, prefix=API_PREFIX)
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.max_body_bytes,
        large_limit=settings.max_bulk_body_bytes,
        large_prefix=f"{API_PREFIX}/bulk",
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origin_list,
        allow_credentials=False,
        allow_methods=["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "Idempotency-Key",
            "Accept-Language",
        ],
        expose_headers=["ETag", "Link", "Location", "Content-Disposition"],
    )
    app.add_middleware(SecurityHeadersMiddleware)
    _declare_extra_schemas(app)
    return app


def _declare_extra_schemas(app: FastAPI) -> None:
    """Add the schemas routes refer to by hand: Problem (every error response) and the JSON
    bodies of the bulk routes, which read their body themselves (JSON or CSV)."""
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
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


app = create_app()
