from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.db import SessionDep
from app.errors import problem_responses
from app.http import (
    IdFilter,
    IdPath,
    Page,
    PageDep,
    not_modified,
    paginate,
    read_responses,
    sort_description,
    sort_pattern,
)
from app.measures import service
from app.measures.schemas import MeasurePublic

router = APIRouter(prefix="/measures", tags=["measures"])

SortQuery = Annotated[
    str | None,
    Query(
        pattern=sort_pattern(service.MeasureSort),
        description=sort_description(service.MeasureSort, service.DEFAULT_SORT),
    ),
]


def valid_measure(measure_id: IdPath, session: SessionDep) -> MeasurePublic:
    return service.get_measure(session=session, measure_id=measure_id)


@router.get("", operation_id="list_measures", responses=problem_responses(422))
def list_measures(
    request: Request,
    response: Response,
    session: SessionDep,
    page: PageDep,
    plan_id: IdFilter = None,
    policy_id: IdFilter = None,
    sort: SortQuery = None,
) -> Page[MeasurePublic]:
    """List measures (施策), in policy and number order."""
    items, total = service.list_measures(
        session=session, plan_id=plan_id, policy_id=policy_id, page=page, sort=sort
    )
    return paginate(request, response, items, total, page)


@router.get(
    "/{measure_id}",
    operation_id="get_measure",
    response_model=MeasurePublic,
    responses=read_responses(404, 422),
)
def get_measure(
    request: Request,
    response: Response,
    measure: Annotated[MeasurePublic, Depends(valid_measure)],
) -> MeasurePublic | Response:
    """Get one measure."""
    return not_modified(request, response, measure.version) or measure
