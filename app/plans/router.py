from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.auth.guard import AdminSession, EditorSession
from app.db import SessionDep
from app.listing import Page
from app.plans import service
from app.plans.schemas import PlanCreate, PlanFilters, PlanPublic, PlanUpdate
from app.web.caching import CACHED
from app.web.http import (
    CascadeQuery,
    IdPath,
    IfMatchHeader,
    PageDep,
    not_modified,
    paginate,
    read_responses,
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


def valid_plan(plan_id: IdPath, session: SessionDep) -> PlanPublic:
    return service.get_plan(session=session, plan_id=plan_id)


@router.get(
    "",
    operation_id="list_plans",
    responses=read_responses(422),
    dependencies=[CACHED],
)
def list_plans(
    request: Request,
    response: Response,
    session: SessionDep,
    page: PageDep,
    filters: Annotated[PlanFilters, Depends(plan_filters)],
    sort: SortQuery = None,
) -> Page[PlanPublic]:
    """List plans (one per municipality and period)."""
    items, total = service.list_plans(session=session, filters=filters, page=page, sort=sort)
    return paginate(request, response, items, total, page)


@router.get(
    "/{plan_id}",
    operation_id="get_plan",
    response_model=PlanPublic,
    responses=read_responses(404, 422),
)
def get_plan(
    request: Request, response: Response, plan: Annotated[PlanPublic, Depends(valid_plan)]
) -> PlanPublic | Response:
    """Get one plan."""
    return not_modified(request, response, plan) or plan


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
