"""Statistics in JSON or CSV, cached per data version (see app/stats/cache.py)."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.caching import read_cache_headers
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
from app.reads import Reader, ReaderDep
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


Built = tuple[BaseModel, Callable[[], tables.Table], str]


async def _answer(
    request: Request,
    reader: Reader,
    options: CsvOptions,
    as_csv: bool,
    compute: Callable[[], Awaitable[Built]],
) -> Response:
    """Serve from the cache while the data version holds; otherwise compute, render and keep.

    The check of the data version and a cache hit stay on the event loop (app/reads.py), as
    does the achievement of one plan (a few indexed reads); the other statistics may scan
    many rows and are computed in a worker thread with a session of their own (_in_thread)."""
    headers = await read_cache_headers(request, reader, "csv" if as_csv else "json")
    tag = headers["ETag"]
    cache: AnswerCache = request.app.state.stats_cache
    answer = cache.get(tag)
    if answer is None:
        model, table, filename = await compute()
        answer = _render(model, table, filename, options, as_csv)
        cache.put(tag, answer)
    return Response(answer.body, media_type=answer.media_type, headers=headers | answer.headers)


def _render(
    model: BaseModel,
    table: Callable[[], tables.Table],
    filename: str,
    options: CsvOptions,
    as_csv: bool,
) -> Cached:
    if as_csv:
        rendered = table()
        body = render_csv(rendered.columns, rendered.rows, options)
        return Cached(
            body, media_type(options), {"Content-Disposition": content_disposition(filename)}
        )
    return Cached(model.model_dump_json().encode(), "application/json", {})


def _in_thread(
    request: Request, build: Callable[[Session], Built]
) -> Callable[[], Awaitable[Built]]:
    engine: Engine = request.app.state.engine

    def run() -> Built:
        with Session(engine) as session:
            return build(session)

    return lambda: run_in_threadpool(run)


@router.get(
    "/achievement",
    operation_id="stats_achievement",
    response_model=Achievement,
    responses=RESPONSES,
)
async def stats_achievement(
    request: Request,
    reader: ReaderDep,
    options: CsvOptionsDep,
    plan_id: PlanQuery = None,
    fiscal_year: FiscalYearQuery = None,
    format: FormatQuery = None,
) -> Response:
    """Achievement rate (達成率) per policy and measure, beside the city's published figures."""

    async def compute() -> Built:
        plan = await service.read_plan(reader, plan_id)
        year = fiscal_year or await service.read_default_year(reader, plan.id)
        stats = await service.read_achievement(reader=reader, plan_id=plan.id, fiscal_year=year)
        info = _plan_info(plan)
        return (
            stats,
            lambda: tables.achievement_table(stats, info),
            f"achievement-{info.slug}-{year}.csv",
        )

    return await _answer(request, reader, options, wants_csv(request, format), compute)


@router.get("/trend", operation_id="stats_trend", response_model=Trend, responses=RESPONSES)
async def stats_trend(
    request: Request,
    reader: ReaderDep,
    options: CsvOptionsDep,
    plan_id: PlanQuery = None,
    format: FormatQuery = None,
) -> Response:
    """The totals of every fiscal year of the plan, computed and published."""

    def build(session: Session) -> Built:
        plan = service.resolve_plan(session, plan_id)
        stats = service.trend(session=session, plan_id=plan.id)
        info = _plan_info(plan)
        return stats, lambda: tables.trend_table(stats, info), f"trend-{info.slug}.csv"

    return await _answer(
        request, reader, options, wants_csv(request, format), _in_thread(request, build)
    )


@router.get("/summary", operation_id="stats_summary", response_model=Summary, responses=RESPONSES)
async def stats_summary(
    request: Request,
    reader: ReaderDep,
    options: CsvOptionsDep,
    plan_id: PlanQuery = None,
    format: FormatQuery = None,
) -> Response:
    """Counts of the plan's structure and of its evaluations by status and year."""

    def build(session: Session) -> Built:
        plan = service.resolve_plan(session, plan_id)
        stats = service.summary(session=session, plan_id=plan.id)
        info = _plan_info(plan)
        return stats, lambda: tables.summary_table(stats, info), f"summary-{info.slug}.csv"

    return await _answer(
        request, reader, options, wants_csv(request, format), _in_thread(request, build)
    )


@router.get("/targets", operation_id="stats_targets", response_model=Targets, responses=RESPONSES)
async def stats_targets(
    request: Request,
    reader: ReaderDep,
    options: CsvOptionsDep,
    plan_id: PlanQuery = None,
    fiscal_year: FiscalYearQuery = None,
    format: FormatQuery = None,
) -> Response:
    """Initiatives with numeric targets (数値目標): target, actual and percent of target."""

    def build(session: Session) -> Built:
        plan = service.resolve_plan(session, plan_id)
        year = fiscal_year or service.default_fiscal_year(session, plan.id)
        stats = service.targets(session=session, plan_id=plan.id, fiscal_year=year)
        info = _plan_info(plan)
        return stats, lambda: tables.targets_table(stats, info), f"targets-{info.slug}-{year}.csv"

    return await _answer(
        request, reader, options, wants_csv(request, format), _in_thread(request, build)
    )


@router.get(
    "/plans", operation_id="stats_plans", response_model=PlanComparison, responses=RESPONSES
)
async def stats_plans(
    request: Request,
    reader: ReaderDep,
    options: CsvOptionsDep,
    fiscal_year: FiscalYearQuery = None,
    format: FormatQuery = None,
) -> Response:
    """One row per plan (municipality) with its totals and rate, to compare cities."""

    def build(session: Session) -> Built:
        year = fiscal_year or service.default_fiscal_year(session, None)
        stats = service.plan_comparison(session=session, fiscal_year=year)
        return stats, lambda: tables.plans_table(stats), f"plans-{year}.csv"

    return await _answer(
        request, reader, options, wants_csv(request, format), _in_thread(request, build)
    )
