from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.tokens import EditorSession
from app.fields import LINE_PATTERN, text_rules
from app.listing import Page
from app.policies import service
from app.policies.schemas import PolicyCreate, PolicyPublic, PolicyUpdate
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

router = APIRouter(prefix="/policies", tags=["policies"], route_class=StrictJsonRoute)

SortQuery = Annotated[
    str | None,
    Query(
        pattern=sort_pattern(service.PolicySort),
        description=sort_description(service.PolicySort, service.DEFAULT_SORT),
    ),
]

WordsQuery = Annotated[
    str | None,
    Query(
        max_length=200,
        json_schema_extra={"pattern": LINE_PATTERN},  # what text_rules checks, documented
        examples=["共創"],
        description="Words to find in the title and focus." + WORDS_RULES,
    ),
    text_rules(200, blank=True),  # no NUL, no lone surrogates, as in stored text
]


@router.get(
    "",
    operation_id="list_policies",
    response_model=Page[PolicyPublic],
    responses=read_responses(422),
)
async def list_policies(
    request: Request,
    page: PageDep,
    plan_id: IdFilter = None,
    q: WordsQuery = None,
    sort: SortQuery = None,
) -> Response:
    """List policies (基本方針), in plan and number order."""
    (items, total), headers = await read_with_cache_headers(
        request,
        lambda reader: service.read_policies(
            reader=reader, plan_id=plan_id, q=q, page=page, sort=sort
        ),
    )
    return page_response(request, items, total, page, headers)


@router.get(
    "/{policy_id}",
    operation_id="get_policy",
    response_model=PolicyPublic,
    responses=read_responses(404, 422),
)
async def get_policy(request: Request, policy_id: IdPath) -> Response:
    """Get one policy."""
    reader = reader_of(request)
    policy = await service.read_policy(reader=reader, policy_id=policy_id)
    return resource_response(request, policy)


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
