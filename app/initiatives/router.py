from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.db import SessionDep
from app.errors import InvalidInput, problem_responses
from app.evaluations.schemas import StatusFilter
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
from app.initiatives import service
from app.initiatives.schemas import InitiativeFilters, InitiativePublic
from app.text import normalize_code

router = APIRouter(prefix="/initiatives", tags=["initiatives"])

SortQuery = Annotated[
    str | None,
    Query(
        pattern=sort_pattern(service.InitiativeSort),
        description=sort_description(service.InitiativeSort, service.DEFAULT_SORT),
    ),
]


def initiative_filters(
    plan_id: IdFilter = None,
    policy_id: IdFilter = None,
    measure_id: IdFilter = None,
    code: Annotated[
        str | None, Query(max_length=64, examples=["R6-7"], description="Exact code (after NFKC).")
    ] = None,
    fiscal_year: Annotated[
        FiscalYear | None, Query(description="The fiscal year the initiative was listed for.")
    ] = None,
    numeric_target: Annotated[bool | None, Query(description="Has a numeric target.")] = None,
    status: Annotated[
        StatusFilter | None,
        Query(description="Status of the latest evaluation; `none` = no status."),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            examples=["通学"],
            description="Words to find in code, title, description and evaluation results"
            " (full- and half-width alike, case-insensitive).",
        ),
    ] = None,
) -> InitiativeFilters:
    if code is not None:
        try:
            code = normalize_code(code)
        except ValueError as error:
            raise InvalidInput.at(["query", "code"], str(error)) from None
    return InitiativeFilters(
        plan_id=plan_id,
        policy_id=policy_id,
        measure_id=measure_id,
        code=code,
        fiscal_year=fiscal_year,
        numeric_target=numeric_target,
        status=status,
        q=q,
    )


def valid_initiative(initiative_id: IdPath, session: SessionDep) -> InitiativePublic:
    return service.get_initiative(session=session, initiative_id=initiative_id)


@router.get("", operation_id="list_initiatives", responses=problem_responses(422))
def list_initiatives(
    request: Request,
    response: Response,
    session: SessionDep,
    page: PageDep,
    filters: Annotated[InitiativeFilters, Depends(initiative_filters)],
    sort: SortQuery = None,
) -> Page[InitiativePublic]:
    """List initiatives (取組事項), each with its latest evaluation."""
    items, total = service.list_initiatives(session=session, filters=filters, page=page, sort=sort)
    return paginate(request, response, items, total, page)


@router.get(
    "/{initiative_id}",
    operation_id="get_initiative",
    response_model=InitiativePublic,
    responses=read_responses(404, 422),
)
def get_initiative(
    request: Request,
    response: Response,
    initiative: Annotated[InitiativePublic, Depends(valid_initiative)],
) -> InitiativePublic | Response:
    """Get one initiative with its latest evaluation."""
    return not_modified(request, response, initiative.version) or initiative
