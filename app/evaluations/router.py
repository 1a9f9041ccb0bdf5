from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response

from app.auth.tokens import EditorSession
from app.evaluations import service
from app.evaluations.schemas import (
    EvaluationFilters,
    EvaluationPublic,
    EvaluationPut,
    StatusFilter,
)
from app.fields import FiscalYear
from app.listing import Page
from app.provenance import DESCRIPTION, Provenance
from app.reads import reader_of
from app.web.caching import read_cache_headers, read_with_cache_headers
from app.web.http import (
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

router = APIRouter(tags=["evaluations"], route_class=StrictJsonRoute)

SortQuery = Annotated[
    str | None,
    Query(
        pattern=sort_pattern(service.EvaluationSort),
        description=sort_description(service.EvaluationSort, service.DEFAULT_SORT),
    ),
]
FiscalYearQuery = Annotated[FiscalYear | None, Query()]
StatusQuery = Annotated[
    StatusFilter | None, Query(description="The evaluation's status; `none` = no status.")
]
ProvenanceQuery = Annotated[
    Provenance | None, Query(description=f"Where the evaluation comes from: {DESCRIPTION}")
]


@router.get(
    "/evaluations",
    operation_id="list_evaluations",
    response_model=Page[EvaluationPublic],
    responses=read_responses(422),
)
async def list_evaluations(
    request: Request,
    page: PageDep,
    plan_id: IdFilter = None,
    policy_id: IdFilter = None,
    measure_id: IdFilter = None,
    fiscal_year: FiscalYearQuery = None,
    status: StatusQuery = None,
    provenance: ProvenanceQuery = None,
    sort: SortQuery = None,
) -> Response:
    """List evaluations of every initiative (one per initiative and fiscal year)."""
    filters = EvaluationFilters(
        plan_id=plan_id,
        policy_id=policy_id,
        measure_id=measure_id,
        fiscal_year=fiscal_year,
        status=status,
        provenance=provenance,
    )
    (items, total), headers = await read_with_cache_headers(
        request,
        lambda reader: service.read_evaluations(
            reader=reader, filters=filters, page=page, sort=sort
        ),
    )
    return page_response(request, items, total, page, headers)


@router.get(
    "/initiatives/{initiative_id}/evaluations",
    operation_id="list_initiative_evaluations",
    response_model=Page[EvaluationPublic],
    responses=read_responses(404, 422),
)
async def list_initiative_evaluations(
    request: Request,
    page: PageDep,
    initiative_id: IdPath,
    sort: SortQuery = None,
) -> Response:
    """List one initiative's evaluations, one per fiscal year."""
    reader = reader_of(request)
    headers = await read_cache_headers(request, reader)
    # Looked up here, not in a dependency, so that bad parameters answer 422 before a 404.
    await service.ensure_initiative(reader=reader, initiative_id=initiative_id)
    filters = EvaluationFilters(initiative_id=initiative_id)
    items, total = await service.read_evaluations(
        reader=reader, filters=filters, page=page, sort=sort or "fiscal_year"
    )
    return page_response(request, items, total, page, headers)


@router.get(
    "/initiatives/{initiative_id}/evaluations/{fiscal_year}",
    operation_id="get_initiative_evaluation",
    response_model=EvaluationPublic,
    responses=read_responses(404, 422),
)
async def get_initiative_evaluation(
    request: Request,
    initiative_id: IdPath,
    fiscal_year: Annotated[FiscalYear, Path()],
) -> Response:
    """Get an initiative's evaluation for one fiscal year (2024, R6 or 令和6年度)."""
    reader = reader_of(request)
    evaluation = await service.read_evaluation(
        reader=reader, initiative_id=initiative_id, fiscal_year=fiscal_year
    )
    return resource_response(request, evaluation)


@router.put(
    "/initiatives/{initiative_id}/evaluations/{fiscal_year}",
    operation_id="put_initiative_evaluation",
    response_model=EvaluationPublic,
    responses={
        201: {"description": "Created", "model": EvaluationPublic},
        **write_responses(404, 409, 412),
    },
)
def put_initiative_evaluation(
    request: Request,
    response: Response,
    session: EditorSession,
    initiative_id: IdPath,
    fiscal_year: Annotated[FiscalYear, Path()],
    evaluation_in: EvaluationPut,
    if_match: IfMatchHeader = None,
    if_none_match: Annotated[
        str | None,
        Header(alias="If-None-Match", description="`*`: create only, 412 if one exists."),
    ] = None,
) -> EvaluationPublic:
    """Create (201) or replace (200) an initiative's evaluation for a fiscal year of its plan."""
    created = service.put_evaluation(
        session=session,
        initiative_id=initiative_id,
        fiscal_year=fiscal_year,
        evaluation_in=evaluation_in,
        if_match=if_match,
        if_none_match=if_none_match,
    )
    evaluation = service.get_evaluation(
        session=session, initiative_id=initiative_id, fiscal_year=fiscal_year
    )
    if created:
        response.status_code = 201
        location = request.url_for(
            "get_initiative_evaluation", initiative_id=initiative_id, fiscal_year=fiscal_year
        )
        written(response, evaluation, str(location))
    else:
        written(response, evaluation)
    return evaluation


@router.delete(
    "/initiatives/{initiative_id}/evaluations/{fiscal_year}",
    operation_id="delete_initiative_evaluation",
    status_code=204,
    responses=write_responses(404, 412),
)
def delete_initiative_evaluation(
    session: EditorSession,
    initiative_id: IdPath,
    fiscal_year: Annotated[FiscalYear, Path()],
    if_match: IfMatchHeader = None,
) -> None:
    """Delete an initiative's evaluation for a fiscal year."""
    service.delete_evaluation(
        session=session, initiative_id=initiative_id, fiscal_year=fiscal_year, if_match=if_match
    )
