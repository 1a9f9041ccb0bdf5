from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.db import SessionDep
from app.errors import problem_responses
from app.http import IdPath, Page, PageDep, not_modified, paginate, sort_description, sort_pattern
from app.plans import service
from app.plans.schemas import PlanFilters, PlanPublic

router = APIRouter(prefix="/plans", tags=["plans"])

SortQuery = Annotated[
    str | None,
    Query(
        pattern=sort_pattern(service.PlanSort),
        description=sort_description(service.PlanSort, service.DEFAULT_SORT),
    ),
]


def plan_filters(
    slug: Annotated[str | None, Query(max_length=64, examples=["kanazawa-2023-2026"])] = None,
    municipality_code: Annotated[
        str | None, Query(pattern=r"^\d{6}$", examples=["172014"], description="団体コード")
    ] = None,
) -> PlanFilters:
    return PlanFilters(slug=slug, municipality_code=municipality_code)


def valid_plan(plan_id: IdPath, session: SessionDep) -> PlanPublic:
    return service.get_plan(session=session, plan_id=plan_id)


@router.get("", operation_id="list_plans", responses=problem_responses(422))
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
    responses={304: {"description": "Not Modified"}, **problem_responses(404, 422)},
)
def get_plan(
    request: Request, response: Response, plan: Annotated[PlanPublic, Depends(valid_plan)]
) -> PlanPublic | Response:
    """Get one plan."""
    return not_modified(request, response, plan.version) or plan
