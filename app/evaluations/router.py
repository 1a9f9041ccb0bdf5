from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.db import SessionDep
from app.errors import problem_responses
from app.evaluations import service
from app.evaluations.schemas import EvaluationFilters, EvaluationPublic, StatusFilter
from app.fields import FiscalYear
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
from app.initiatives import service as initiatives_service

router = APIRouter(tags=["evaluations"])

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


@router.get("/evaluations", operation_id="list_evaluations", responses=problem_responses(422))
def list_evaluations(
    request: Request,
    response: Response,
    session: SessionDep,
    page: PageDep,
    plan_id: IdFilter = None,
    policy_id: IdFilter = None,
    measure_id: IdFilter = None,
    fiscal_year: FiscalYearQuery = None,
    status: StatusQuery = None,
    sort: SortQuery = None,
) -> Page[EvaluationPublic]:
    """List evaluations of every initiative (one per initiative and fiscal year)."""
    filters = EvaluationFilters(
        plan_id=plan_id,
        policy_id=policy_id,
        measure_id=measure_id,
        fiscal_year=fiscal_year,
        status=status,
    )
    items, total = service.list_evaluations(session=session, filters=filters, page=page, sort=sort)
    return paginate(request, response, items, total, page)


@router.get(
    "/initiatives/{initiative_id}/evaluations",
    operation_id="list_initiative_evaluations",
    responses=problem_responses(404, 422),
)
def list_initiative_evaluations(
    request: Request,
    response: Response,
    session: SessionDep,
    page: PageDep,
    initiative_id: IdPath,
    sort: SortQuery = None,
) -> Page[EvaluationPublic]:
    """List one initiative's evaluations, one per fiscal year."""
    # Looked up here, not in a dependency, so that bad parameters answer 422 before a 404.
    initiatives_service.ensure_exists(session=session, initiative_id=initiative_id)
    filters = EvaluationFilters(initiative_id=initiative_id)
    items, total = service.list_evaluations(
        session=session, filters=filters, page=page, sort=sort or "fiscal_year"
    )
    return paginate(request, response, items, total, page)


@router.get(
    "/initiatives/{initiative_id}/evaluations/{fiscal_year}",
    operation_id="get_initiative_evaluation",
    response_model=EvaluationPublic,
    responses=read_responses(404, 422),
)
def get_initiative_evaluation(
    request: Request,
    response: Response,
    session: SessionDep,
    initiative_id: IdPath,
    fiscal_year: Annotated[FiscalYear, Path()],
) -> EvaluationPublic | Response:
    """Get an initiative's evaluation for one fiscal year (2024, R6 or 令和6年度)."""
    initiatives_service.ensure_exists(session=session, initiative_id=initiative_id)
    evaluation = service.get_evaluation(
        session=session, initiative_id=initiative_id, fiscal_year=fiscal_year
    )
    return not_modified(request, response, evaluation.version) or evaluation
