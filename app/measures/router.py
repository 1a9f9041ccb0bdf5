from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.tokens import EditorSession
from app.fields import LINE_PATTERN, text_rules
from app.listing import Page
from app.measures import service
from app.measures.schemas import MeasureCreate, MeasurePublic, MeasureUpdate
from app.reads import reader_of
from app.web.caching import read_with_cache_headers
from app.web.http import (
    WORDS_RULES,
    CascadeQuery,
    IdFilter,
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

router = APIRouter(prefix="/measures", tags=["measures"], route_class=StrictJsonRoute)

SortQuery = Annotated[
    str | None,
    Query(
        pattern=sort_pattern(service.MeasureSort),
        description=sort_description(service.MeasureSort, service.DEFAULT_SORT),
    ),
]

WordsQuery = Annotated[
    str | None,
    Query(
        max_length=200,
        json_schema_extra={"pattern": LINE_PATTERN},  # what text_rules checks, documented
        examples=["デジタル"],
        description="Words to find in the title." + WORDS_RULES,
    ),
    text_rules(200, blank=True),  # no NUL, no lone surrogates, as in stored text
]


@router.get(
    "",
    operation_id="list_measures",
    response_model=Page[MeasurePublic],
    responses=read_responses(422),
)
async def list_measures(
    request: Request,
    page: PageDep,
    plan_id: IdFilter = None,
    policy_id: IdFilter = None,
    q: WordsQuery = None,
    sort: SortQuery = None,
) -> Response:
    """List measures (施策), in policy and number order."""
    (items, total), headers = await read_with_cache_headers(
        request,
        lambda reader: service.read_measures(
            reader=reader, plan_id=plan_id, policy_id=policy_id, q=q, page=page, sort=sort
        ),
    )
    return page_response(request, items, total, page, headers)


@router.get(
    "/{measure_id}",
    operation_id="get_measure",
    response_model=MeasurePublic,
    responses=read_responses(404, 422),
)
async def get_measure(request: Request, measure_id: IdPath) -> Response:
    """Get one measure."""
    reader = reader_of(request)
    measure = await service.read_measure(reader=reader, measure_id=measure_id)
    return resource_response(request, measure)


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
