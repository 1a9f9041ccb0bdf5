from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.auth.guard import EditorSession
from app.db import SessionDep
from app.listing import Page
from app.policies import service
from app.policies.schemas import PolicyCreate, PolicyPublic, PolicyUpdate
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

router = APIRouter(prefix="/policies", tags=["policies"], route_class=StrictJsonRoute)

SortQuery = Annotated[
    str | None,
    Query(
        pattern=sort_pattern(service.PolicySort),
        description=sort_description(service.PolicySort, service.DEFAULT_SORT),
    ),
]


def valid_policy(policy_id: IdPath, session: SessionDep) -> PolicyPublic:
    return service.get_policy(session=session, policy_id=policy_id)


@router.get(
    "",
    operation_id="list_policies",
    responses=read_responses(422),
    dependencies=[CACHED],
)
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
    return not_modified(request, response, policy) or policy


@router.post(
    "",
    operation_id="create_policy",
    status_code=201,
    response_model=PolicyPublic,
    responses=write_responses(409),
)
def create_policy(
    request: Request, response: Response, session: EditorSession, policy_in: PolicyCreate
) -> PolicyPublic:
    """Create a policy (基本方針) in a plan."""
    policy_id = service.create_policy(session=session, policy_in=policy_in)
    policy = service.get_policy(session=session, policy_id=policy_id)
    written(response, policy, str(request.url_for("get_policy", policy_id=policy_id)))
    return policy


@router.patch(
    "/{policy_id}",
    operation_id="update_policy",
    response_model=PolicyPublic,
    responses=write_responses(404, 409, 412),
)
def update_policy(
    response: Response,
    session: EditorSession,
    policy_id: IdPath,
    policy_in: PolicyUpdate,
    if_match: IfMatchHeader = None,
) -> PolicyPublic:
    """Change some of a policy's fields."""
    service.update_policy(
        session=session, policy_id=policy_id, policy_in=policy_in, if_match=if_match
    )
    policy = service.get_policy(session=session, policy_id=policy_id)
    written(response, policy)
    return policy


@router.delete(
    "/{policy_id}",
    operation_id="delete_policy",
    status_code=204,
    responses=write_responses(404, 409, 412),
)
def delete_policy(
    session: EditorSession,
    policy_id: IdPath,
    if_match: IfMatchHeader = None,
    cascade: CascadeQuery = False,
) -> None:
    """Delete a policy; with ?cascade=true, its measures and initiatives too."""
    service.delete_policy(session=session, policy_id=policy_id, if_match=if_match, cascade=cascade)
