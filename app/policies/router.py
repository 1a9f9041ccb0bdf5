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
from app.policies import service
from app.policies.schemas import PolicyPublic

router = APIRouter(prefix="/policies", tags=["policies"])

SortQuery = Annotated[
    str | None,
    Query(
        pattern=sort_pattern(service.PolicySort),
        description=sort_description(service.PolicySort, service.DEFAULT_SORT),
    ),
]


def valid_policy(policy_id: IdPath, session: SessionDep) -> PolicyPublic:
    return service.get_policy(session=session, policy_id=policy_id)


@router.get("", operation_id="list_policies", responses=problem_responses(422))
def list_policies(
    request: Request,
    response: Response,
    session: SessionDep,
    page: PageDep,
    plan_id: IdFilter = None,
    sort: SortQuery = None,
) -> Page[PolicyPublic]:
    """List policies (基本方針), in plan and number order."""
    items, total = service.list_policies(session=session, plan_id=plan_id, page=page, sort=sort)
    return paginate(request, response, items, total, page)


@router.get(
    "/{policy_id}",
    operation_id="get_policy",
    response_model=PolicyPublic,
    responses=read_responses(404, 422),
)
def get_policy(
    request: Request, response: Response, policy: Annotated[PolicyPublic, Depends(valid_policy)]
) -> PolicyPublic | Response:
    """Get one policy."""
    return not_modified(request, response, policy.version) or policy
