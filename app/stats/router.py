"""Statistics in JSON or CSV, cached per data version (see app/web/caching.py).

The routes take their query as one model (app/web/query.py): their six parameters, validated one
by one by FastAPI, cost more than the aggregate query of one plan (bench/README.md).
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from pydantic_core import to_json

from app.config import Settings
from app.errors import problem_responses
from app.exports.bundle import licence_link
from app.exports.csv import (
    CsvOptions,
    CsvQuery,
    content_disposition,
    media_type,
    render_csv,
    wants_csv,
)
from app.fields import FiscalYear
from app.listing import MAX_ID
from app.plans.service import read_plan
from app.reads import Reader, reader_of
from app.stats import service, tables
from app.stats.schemas import Achievement, PlanComparison, Summary, Targets, Trend
from app.versions import read_version
from app.web.caching import Cached, StatsCache, headers_at, known_version
from app.web.http import Digits
from app.web.jsonbody import StrictJsonRoute
from app.web.query import parse_query, query_openapi

router = APIRouter(prefix="/stats", tags=["stats"], route_class=StrictJsonRoute)
Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])


class PlanQuery(BaseModel):
    plan_id: Annotated[
        int | None,
        Field(ge=1, le=MAX_ID, description="May be left out while exactly one plan exists."),
        Digits,
    ] = None


class YearQuery(BaseModel):
    fiscal_year: FiscalYear | None = Field(
        default=None, description="Default: the latest fiscal year evaluated."
    )


# The query of each route; bases listed last come first in the docs.
class PlanStatsQuery(CsvQuery, PlanQuery):
    pass


class PlanYearStatsQuery(CsvQuery, YearQuery, PlanQuery):
    pass


class YearStatsQuery(CsvQuery, YearQuery):
    pass


RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified"},
    **problem_responses(404, 422),
}
CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The statistic as CSV (the same `bom`, `encoding` and `header` options"
        " as the exports).",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    **RESPONSES,
}
# Why CSV has a path of its own in the schema: an operation whose 200 declares both JSON and
# CSV gives generated clients (openapi-typescript) `Achievement | string` to narrow. So
# GET /stats/{name} declares JSON only, exactly its model, and GET /stats/{name}.csv declares
# CSV only. The JSON path still answers CSV to `?format=csv` or `Accept: text/csv`, as the
# contract and its description say; those parameters are documented on the .csv path.
CSV_ONLY = {"format", "bom", "encoding", "header", "excel_safe"}
CSV_NOTE = (
    "\n\nCSV: `GET /stats/{name}.csv` (declared on its own, so that this operation's answer"
    " is exactly the JSON model), or this path with `?format=csv` or `Accept: text/csv` and"
    " the same `bom`, `encoding` and `header` options."
)
CSV_STATE = "stats_csv"  # request state: the .csv path was asked for


def _stats_get(
    name: str, answer: type[BaseModel], query: type[BaseModel]
) -> Callable[[Endpoint], Endpoint]:
    """Register GET /stats/{name} (JSON: its answer's model) and GET /stats/{name}.csv, each
    with its query documented from the query model (app/web/query.py)."""
    parameters = query_openapi(query)["parameters"]

    def register(endpoint: Endpoint) -> Endpoint:
        summary = (endpoint.__doc__ or "").strip()
        router.get(
            f"/{name}",
            operation_id=f"stats_{name}",
            response_model=answer,
            responses=RESPONSES,
            description=summary + CSV_NOTE.format(name=name),
            openapi_extra={"parameters": [p for p in parameters if p["name"] not in CSV_ONLY]},
        )(endpoint)

        async def as_csv(request: Request) -> Response:
            setattr(request.state, CSV_STATE, True)
            return await endpoint(request)

        router.get(
            f"/{name}.csv",
            operation_id=f"stats_{name}_csv",
            response_class=Response,
            responses=CSV_RESPONSES,
            description=f"{summary}\n\nAs CSV: the same as `GET /stats/{name}?format=csv`.",
            openapi_extra={"parameters": [p for p in parameters if p["name"] != "format"]},
        )(as_csv)
        return endpoint

    return register


def _plan_info(plan: Any) -> tables.PlanInfo:
    return tables.PlanInfo(
        plan.municipality_code, plan.municipality_name, plan.slug, plan.license, plan.license_url
    )


# An answer (a model, or plain data in a model's field order: service.read_achievement), its
# CSV table (made only when asked for) and the CSV file's name.
Built = tuple[BaseModel | service.Values, Callable[[], tables.Table], str]
# Computes the answer; asked with_version=True, it also reads the data version, first (so the
# version can only be older than the data: an answer is never kept under a newer one).
Compute = Callable[[bool], Awaitable[tuple[Built, int | None]]]


async def _answer(request: Request, query: CsvQuery, compute: Compute) -> Response:
    """Serve from the cache while the data version holds; otherwise compute, render and keep.

    The data version names the answer (its ETag, its key in the cache). Behind the kept
    answers (app/web/caching.py) it has been read already. Otherwise it is read before anything
    else when that can spare the computation: to answer a conditional request 304, or to
    find the answer in this cache. With neither (STATS_CACHE_SIZE=0, no If-None-Match) it
    is read with the answer's own statements: for the achievement of one plan, in the same
    round trip to PostgreSQL (service.read_achievement).

    Every statistic reads through the reader (app/reads.py), which runs a statement that
    may scan in a worker thread and the others on the event loop."""
    as_csv = getattr(request.state, CSV_STATE, False) or wants_csv(request, query.format)
    representation = "csv" if as_csv else "json"
    reader = reader_of(request)
    cache: StatsCache = request.app.state.stats_cache
    version = known_version(request)
    if version is None and (cache.enabled or "if-none-match" in request.headers):
        version = await read_version(reader)
    if version is not None:
        headers = headers_at(request, version, representation)  # raises NotModified: 304
        kept = cache.get(headers["ETag"])
        if kept is not None:
            return _response(kept, headers)
    (computed, table, filename), read = await compute(version is None)
    if version is None:
        assert read is not None
        headers = headers_at(request, read, representation)
    answer = _render(computed, table, filename, query.options, as_csv, request.app.state.settings)
    cache.put(headers["ETag"], answer)
    return _response(answer, headers)


def _response(answer: Cached, headers: dict[str, str]) -> Response:
    return Response(answer.body, media_type=answer.media_type, headers=headers | answer.headers)


def _render(
    answer: BaseModel | service.Values,
    table: Callable[[], tables.Table],
    filename: str,
    options: CsvOptions,
    as_csv: bool,
    settings: Settings,
) -> Cached:
    if as_csv:
        rendered = table()
        body = render_csv(rendered.columns, rendered.rows, options)
        headers = {"Content-Disposition": content_disposition(filename)}
        if rendered.plan is not None:  # the licence travels with the download, as on exports
            plan = vars(rendered.plan)
            if link := licence_link(plan, settings.default_license, settings.default_license_url):
                headers["Link"] = link
        return Cached(body, media_type(options), headers)
    if isinstance(answer, BaseModel):
        return Cached(answer.model_dump_json().encode(), "application/json", {})
    return Cached(to_json(answer), "application/json", {})


def _read(request: Request, build: Callable[[Reader], Awaitable[Built]]) -> Compute:
    """A statistic computed through the reader, the data version read first when asked."""
    reader = reader_of(request)

    async def run(with_version: bool) -> tuple[Built, int | None]:
        version = await read_version(reader) if with_version else None
        return await build(reader), version

    return run


@_stats_get("achievement", Achievement, PlanYearStatsQuery)
async def stats_achievement(request: Request) -> Response:
    """Achievement rate (達成率) per policy and measure, beside the city's published figures."""
    query = parse_query(request, PlanYearStatsQuery)
    reader = reader_of(request)

    async def compute(with_version: bool) -> tuple[Built, int | None]:
        chosen, year, version = query.plan_id, query.fiscal_year, None
        if chosen is None or year is None:  # the only plan, or the plan's latest year
            if with_version:  # read first, as Compute promises
                version, with_version = await read_version(reader), False
            plan = await read_plan(reader, chosen)
            chosen = plan.id
            year = year or await service.read_default_year(reader, plan.id)
        stats, info, read = await service.read_achievement(
            reader=reader, plan_id=chosen, fiscal_year=year, with_version=with_version
        )
        built: Built = (
            stats,
            lambda: tables.achievement_table(Achievement.model_validate(stats), info),
            f"achievement-{info.slug}-{year}.csv",
        )
        return built, version if read is None else read

    return await _answer(request, query, compute)


@_stats_get("trend", Trend, PlanStatsQuery)
async def stats_trend(request: Request) -> Response:
    """The totals of every fiscal year of the plan, computed and published."""
    query = parse_query(request, PlanStatsQuery)

    async def build(reader: Reader) -> Built:
        plan = await read_plan(reader, query.plan_id)
        stats = await service.trend(reader=reader, plan=plan)
        info = _plan_info(plan)
        return stats, lambda: tables.trend_table(stats, info), f"trend-{info.slug}.csv"

    return await _answer(request, query, _read(request, build))


@_stats_get("summary", Summary, PlanStatsQuery)
async def stats_summary(request: Request) -> Response:
    """Counts of the plan's structure and of its evaluations by status and year."""
    query = parse_query(request, PlanStatsQuery)

    async def build(reader: Reader) -> Built:
        plan = await read_plan(reader, query.plan_id)
        stats = await service.summary(reader=reader, plan_id=plan.id)
        info = _plan_info(plan)
        return stats, lambda: tables.summary_table(stats, info), f"summary-{info.slug}.csv"

    return await _answer(request, query, _read(request, build))


@_stats_get("targets", Targets, PlanYearStatsQuery)
async def stats_targets(request: Request) -> Response:
    """Initiatives with numeric targets (数値目標): target, actual and percent of target."""
    query = parse_query(request, PlanYearStatsQuery)

    async def build(reader: Reader) -> Built:
        plan = await read_plan(reader, query.plan_id)
        year = query.fiscal_year or await service.read_default_year(reader, plan.id)
        service.check_in_period(year, plan.start_fiscal_year, plan.end_fiscal_year)
        stats = await service.targets(reader=reader, plan_id=plan.id, fiscal_year=year)
        info = _plan_info(plan)
        return stats, lambda: tables.targets_table(stats, info), f"targets-{info.slug}-{year}.csv"

    return await _answer(request, query, _read(request, build))


@_stats_get("plans", PlanComparison, YearStatsQuery)
async def stats_plans(request: Request) -> Response:
    """One row per plan (municipality) with its totals and rate, to compare cities."""
    query = parse_query(request, YearStatsQuery)

    async def build(reader: Reader) -> Built:
        year = query.fiscal_year or await service.read_default_year(reader, None)
        stats = await service.plan_comparison(reader=reader, fiscal_year=year)
        return (
            stats,
            lambda: tables.plans_table(PlanComparison.model_validate(stats)),
            f"plans-{year}.csv",
        )

    return await _answer(request, query, _read(request, build))
