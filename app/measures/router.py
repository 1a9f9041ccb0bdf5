from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.auth.guard import EditorSession
from app.db import SessionDep
from app.listing import Page
from app.measures import service
from app.measures.schemas import MeasureCreate, MeasurePublic, MeasureUpdate
from app.web.caching import CACHED
from app.web.http import (
    CascadeQuery,
    IdFilter,
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

router = APIRouter(prefix="/measures", tags=["measures"], route_class=StrictJsonRoute)

SortQuery = Annotated[
    str | None,
    Query(
        pattern=sort_pattern(service.MeasureSort),
        description=sort_description(service.MeasureSort, service.DEFAULT_SORT),
    ),
]


def valid_measure(measure_id: IdPath, session: SessionDep) -> MeasurePublic:
    return service.get_measure(session=session, measure_id=measure_id)


@router.get(
    "",
    operation_id="list_measures",
    responses=read_responses(422),
    dependencies=[CACHED],
)
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
    return not_modified(request, response, measure) or measure


@router.post(
    "",
    operation_id="create_measure",
    status_code=201,
    response_model=MeasurePublic,
    responses=write_responses(409),
)
def create_measure(
    request: Request, response: Response, session: EditorSession, measure_in: MeasureCreate
) -> MeasurePublic:
    """Create a measure (施策) under a policy."""
    measure_id = service.create_measure(session=session, measure_in=measure_in)
    measure = service.get_measure(session=session, measure_id=measure_id)
    written(response, measure, str(request.url_for("get_measure", measure_id=measure_id)))
    return measure


@router.patch(
    "/{measure_id}",
    operation_id="update_measure",
    response_model=MeasurePublic,
    responses=write_responses(404, 409, 412),
)
def update_measure(
    response: Response,
    session: EditorSession,
    measure_id: IdPath,
    measure_in: MeasureUpdate,
    if_match: IfMatchHeader = None,
) -> MeasurePublic:
    """Change some of a measure's fields."""
    service.update_measure(
        session=session, measure_id=measure_id, measure_in=measure_in, if_match=if_match
    )
    measure = service.get_measure(session=session, measure_id=measure_id)
    written(response, measure)
    return measure


@router.delete(
    "/{measure_id}",
    operation_id="delete_measure",
    status_code=204,
    responses=write_responses(404, 409, 412),
)
def delete_measure(
    session: EditorSession,
    measure_id: IdPath,
    if_match: IfMatchHeader = None,
    cascade: CascadeQuery = False,
) -> None:
    """Delete a measure; with ?cascade=true, its initiatives too."""
    service.delete_measure(
        session=session, measure_id=measure_id, if_match=if_match, cascade=cascade
    )
