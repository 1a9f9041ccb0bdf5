from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.auth.tokens import AdminSession, EditorSession
from app.listing import Page
from app.plans import service
from app.plans.schemas import PlanCreate, PlanFilters, PlanPublic, PlanUpdate
from app.reads import reader_of
from app.web.caching import read_with_cache_headers
from app.web.http import (
    CascadeQuery,
    IdPath,
    IfMatchHeader,
    PageDep,
    page_response,
    read_responses,
    resource_response,
    sort_description,
    sort_pattern,
    write_responses,
    written,
)
from app.web.jsonbody import StrictJsonRoute

router = APIRouter(prefix="/plans", tags=["plans"], route_class=StrictJsonRoute)

SortQuery = Annotated[
    str | None,
    Query(
        pattern=sort_pattern(service.PlanSort),
        description=sort_description(service.PlanSort, service.DEFAULT_SORT),
    ),
]


async def plan_filters(
    slug: Annotated[
        str | None,
        Query(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", examples=["kanazawa-2023-2026"]),
    ] = None,
    municipality_code: Annotated[
        str | None, Query(pattern=r"^[0-9]{6}$", examples=["172014"], description="団体コード")
    ] = None,
) -> PlanFilters:
    return PlanFilters(slug=slug, municipality_code=municipality_code)


@router.get(
    "",
    operation_id="list_plans",
    response_model=Page[PlanPublic],
    responses=read_responses(422),
)
async def list_plans(
    request: Request,
    page: PageDep,
    filters: Annotated[PlanFilters, Depends(plan_filters)],
    sort: SortQuery = None,
) -> Response:
    """List plans (one per municipality and period)."""
    (items, total), headers = await read_with_cache_headers(
        request,
        lambda reader: service.read_plans(reader=reader, filters=filters, page=page, sort=sort),
    )
    return page_response(request, items, total, page, headers)


@router.get(
    "/{plan_id}",
    operation_id="get_plan",
    response_model=PlanPublic,
    responses=read_responses(404, 422),
)
async def get_plan(request: Request, plan_id: IdPath) -> Response:
    """Get one plan."""
    reader = reader_of(request)
    plan = await service.read_one_plan(reader=reader, plan_id=plan_id)
    return resource_response(request, plan)


@router.post(
    "",
    operation_id="create_plan",
    status_code=201,
    response_model=PlanPublic,
    responses=write_responses(409),
)
def create_plan(
    request: Request, response: Response, session: EditorSession, plan_in: PlanCreate
) -> PlanPublic:
    """Create a plan (a municipality's 行政経営プラン for a period)."""
    plan_id = service.create_plan(session=session, plan_in=plan_in)
    plan = service.get_plan(session=session, plan_id=plan_id)
    written(response, plan, str(request.url_for("get_plan", plan_id=plan_id)))
    return plan


@router.patch(
    "/{plan_id}",
    operation_id="update_plan",
    response_model=PlanPublic,
    responses=write_responses(404, 409, 412),
)
def update_plan(
    response: Response,
    session: EditorSession,
    plan_id: IdPath,
    plan_in: PlanUpdate,
    if_match: IfMatchHeader = None,
) -> PlanPublic:
    """Change some of a plan's fields."""
    service.update_plan(session=session, plan_id=plan_id, plan_in=plan_in, if_match=if_match)
    plan = service.get_plan(session=session, plan_id=plan_id)
    written(response, plan)
    return plan


@router.delete(
    "/{plan_id}",
    operation_id="delete_plan",
    status_code=204,
    responses=write_responses(403, 404, 409, 412),
)
def delete_plan(
    session: AdminSession,
    plan_id: IdPath,
    if_match: IfMatchHeader = None,
    cascade: CascadeQuery = False,
) -> None:
    """Delete a plan (admin only); with ?cascade=true, everything in it too."""
    service.delete_plan(session=session, plan_id=plan_id, if_match=if_match, cascade=cascade)
