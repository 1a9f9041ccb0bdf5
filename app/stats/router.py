"""Statistics in JSON or CSV, cached per data version (see app/stats/cache.py)."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from sqlmodel import Session

from app.caching import cache_headers
from app.db import SessionDep
from app.errors import problem_responses
from app.exports.csv import (
    CsvOptions,
    CsvOptionsDep,
    FormatQuery,
    content_disposition,
    media_type,
    render_csv,
    wants_csv,
)
from app.fields import FiscalYear
from app.http import IdFilter
from app.stats import service, tables
from app.stats.cache import AnswerCache, Cached
from app.stats.schemas import Achievement, PlanComparison, Summary, Targets, Trend

router = APIRouter(prefix="/stats", tags=["stats"])

FiscalYearQuery = Annotated[
    FiscalYear | None, Query(description="Default: the latest fiscal year evaluated.")
]
PlanQuery = Annotated[IdFilter, Query(description="May be left out while exactly one plan exists.")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    304: {"description": "Not Modified"},
    **problem_responses(404, 422),
}


def _plan_info(plan: Any) -> tables.PlanInfo:
    return tables.PlanInfo(plan.municipality_code, plan.municipality_name, plan.slug)


def _answer(
    request: Request,
    session: Session,
    options: CsvOptions,
    as_csv: bool,
    build: Callable[[], tuple[BaseModel, Callable[[], tables.Table], str]],
) -> Response:
    """Serve from the cache while the data version holds; otherwise build, render and keep."""
    headers = cache_headers(request, session, "csv" if as_csv else "json")
    tag = headers["ETag"]
    cache: AnswerCache = request.app.state.stats_cache
    answer = cache.get(tag)
    if answer is None:
        model, table, filename = build()
        if as_csv:
            rendered = table()
            body = render_csv(rendered.columns, rendered.rows, options)
            answer = Cached(
                body, media_type(options), {"Content-Disposition": content_disposition(filename)}
            )
        else:
            answer = Cached(model.model_dump_json().encode(), "application/json", {})
        cache.put(tag, answer)
    return Response(answer.body, media_type=answer.media_type, headers=headers | answer.headers)


@router.get(
    "/achievement",
    operation_id="stats_achievement",
    response_model=Achievement,
    responses=RESPONSES,
)
def stats_achievement(
    request: Request,
    session: SessionDep,
    options: CsvOptionsDep,
    plan_id: PlanQuery = None,
    fiscal_year: FiscalYearQuery = None,
    format: FormatQuery = None,
) -> Response:
    """Achievement rate (達成率) per policy and measure, beside the city's published figures."""

    def build() -> tuple[BaseModel, Callable[[], tables.Table], str]:
        plan = service.resolve_plan(session, plan_id)
        year = fiscal_year or service.default_fiscal_year(session, plan.id)
        stats = service.achievement(session=session, plan_id=plan.id, fiscal_year=year)
        info = _plan_info(plan)
        return (
            stats,
            lambda: tables.achievement_table(stats, info),
            f"achievement-{info.slug}-{year}.csv",
        )

    return _answer(request, session, options, wants_csv(request, format), build)


@router.get("/trend", operation_id="stats_trend", response_model=Trend, responses=RESPONSES)
def stats_trend(
    request: Request,
    session: SessionDep,
    options: CsvOptionsDep,
    plan_id: PlanQuery = None,
    format: FormatQuery = None,
) -> Response:
    """The totals of every fiscal year of the plan, computed and published."""

    def build() -> tuple[BaseModel, Callable[[], tables.Table], str]:
        plan = service.resolve_plan(session, plan_id)
        stats = service.trend(session=session, plan_id=plan.id)
        info = _plan_info(plan)
        return stats, lambda: tables.trend_table(stats, info), f"trend-{info.slug}.csv"

    return _answer(request, session, options, wants_csv(request, format), build)


@router.get("/summary", operation_id="stats_summary", response_model=Summary, responses=RESPONSES)
def stats_summary(
    request: Request,
    session: SessionDep,
    options: CsvOptionsDep,
    plan_id: PlanQuery = None,
    format: FormatQuery = None,
) -> Response:
    """Counts of the plan's structure and of its evaluations by status and year."""

    def build() -> tuple[BaseModel, Callable[[], tables.Table], str]:
        plan = service.resolve_plan(session, plan_id)
        stats = service.summary(session=session, plan_id=plan.id)
        info = _plan_info(plan)
        return stats, lambda: tables.summary_table(stats, info), f"summary-{info.slug}.csv"

    return _answer(request, session, options, wants_csv(request, format), build)


@router.get("/targets", operation_id="stats_targets", response_model=Targets, responses=RESPONSES)
def stats_targets(
    request: Request,
    session: SessionDep,
    options: CsvOptionsDep,
    plan_id: PlanQuery = None,
    fiscal_year: FiscalYearQuery = None,
    format: FormatQuery = None,
) -> Response:
    """Initiatives with numeric targets (数値目標): target, actual and percent of target."""

    def build() -> tuple[BaseModel, Callable[[], tables.Table], str]:
        plan = service.resolve_plan(session, plan_id)
        year = fiscal_year or service.default_fiscal_year(session, plan.id)
        stats = service.targets(session=session, plan_id=plan.id, fiscal_year=year)
        info = _plan_info(plan)
        return stats, lambda: tables.targets_table(stats, info), f"targets-{info.slug}-{year}.csv"

    return _answer(request, session, options, wants_csv(request, format), build)


@router.get(
    "/plans", operation_id="stats_plans", response_model=PlanComparison, responses=RESPONSES
)
def stats_plans(
    request: Request,
    session: SessionDep,
    options: CsvOptionsDep,
    fiscal_year: FiscalYearQuery = None,
    format: FormatQuery = None,
) -> Response:
    """One row per plan (municipality) with its totals and rate, to compare cities."""

    def build() -> tuple[BaseModel, Callable[[], tables.Table], str]:
        year = fiscal_year or service.default_fiscal_year(session, None)
        stats = service.plan_comparison(session=session, fiscal_year=year)
        return stats, lambda: tables.plans_table(stats), f"plans-{year}.csv"

    return _answer(request, session, options, wants_csv(request, format), build)
