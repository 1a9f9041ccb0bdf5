from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.auth.tokens import EditorSession
from app.errors import InvalidInput
from app.evaluations.schemas import StatusFilter
from app.fields import LINE_PATTERN, FiscalYear, text_rules
from app.initiatives import service
from app.initiatives.schemas import (
    InitiativeCreate,
    InitiativeFilters,
    InitiativePublic,
    InitiativeUpdate,
)
from app.kept_rows import kept_rows_of
from app.listing import Page
from app.reads import reader_of
from app.text import CODE_PATTERN, normalize_code
from app.web.caching import read_with_cache_headers
from app.web.http import (
    WORDS_RULES,
    CascadeQuery,
    IdFilter,
    IdPath,
    IfMatchHeader,
    PageDep,
    encoded_page_response,
    encoded_resource_response,
    read_responses,
    sort_description,
    sort_pattern,
    write_responses,
    written,
)
from app.web.jsonbody import StrictJsonRoute

router = APIRouter(prefix="/initiatives", tags=["initiatives"], route_class=StrictJsonRoute)

SortQuery = Annotated[
    str | None,
    Query(
        pattern=sort_pattern(service.InitiativeSort),
        description=sort_description(service.InitiativeSort, service.DEFAULT_SORT),
    ),
]


async def initiative_filters(
    plan_id: IdFilter = None,
    policy_id: IdFilter = None,
    measure_id: IdFilter = None,
    code: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=32,
            examples=["R6-7"],
            description="Exact code. Also read after NFKC, as codes are stored (Ｒ６－７ finds"
            " R6-7); anything that is no code then is 422.",
            json_schema_extra={"pattern": CODE_PATTERN},
        ),
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
            json_schema_extra={"pattern": LINE_PATTERN},  # what text_rules checks, documented
            examples=["通学"],
            description="Words to find in code, title, description and evaluation results."
            + WORDS_RULES,
        ),
        text_rules(200, blank=True),  # no NUL, no lone surrogates, as in stored text
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


@router.get(
    "",
    operation_id="list_initiatives",
    response_model=Page[InitiativePublic],
    responses=read_responses(422),
)
async def list_initiatives(
    request: Request,
    page: PageDep,
    filters: Annotated[InitiativeFilters, Depends(initiative_filters)],
    sort: SortQuery = None,
) -> Response:
    """List initiatives (取組事項), each with its latest evaluation."""
    kept = kept_rows_of(request)
    (items, total), headers = await read_with_cache_headers(
        request,
        lambda reader: service.read_initiatives(
            reader=reader, filters=filters, page=page, sort=sort, kept=kept
        ),
    )
    return encoded_page_response(request, items, total, page, headers)


@router.get(
    "/{initiative_id}",
    operation_id="get_initiative",
    response_model=InitiativePublic,
    responses=read_responses(404, 422),
)
async def get_initiative(request: Request, initiative_id: IdPath) -> Response:
    """Get one initiative with its latest evaluation."""
    key, body = await service.read_initiative(
        reader=reader_of(request), initiative_id=initiative_id, kept=kept_rows_of(request)
    )
    return encoded_resource_response(request, key, body)


@router.post(
    "",
    operation_id="create_initiative",
    status_code=201,
    response_model=InitiativePublic,
    responses=write_responses(409),
)
def create_initiative(
    request: Request, response: Response, session: EditorSession, initiative_in: InitiativeCreate
) -> InitiativePublic:
    """Create an initiative (取組事項) under a measure; its plan is the measure's."""
    initiative_id = service.create_initiative(session=session, initiative_in=initiative_in)
    initiative = service.get_initiative(session=session, initiative_id=initiative_id)
    location = str(request.url_for("get_initiative", initiative_id=initiative_id))
    written(response, initiative, location)
    return initiative


@router.patch(
    "/{initiative_id}",
    operation_id="update_initiative",
    response_model=InitiativePublic,
    responses=write_responses(404, 409, 412),
)
def update_initiative(
    response: Response,
    session: EditorSession,
    initiative_id: IdPath,
    initiative_in: InitiativeUpdate,
    if_match: IfMatchHeader = None,
) -> InitiativePublic:
    """Change some of an initiative's fields."""
    service.update_initiative(
        session=session,
        initiative_id=initiative_id,
        initiative_in=initiative_in,
        if_match=if_match,
    )
    initiative = service.get_initiative(session=session, initiative_id=initiative_id)
    written(response, initiative)
    return initiative


@router.delete(
    "/{initiative_id}",
    operation_id="delete_initiative",
    status_code=204,
    responses=write_responses(404, 409, 412),
)
def delete_initiative(
    session: EditorSession,
    initiative_id: IdPath,
    if_match: IfMatchHeader = None,
    cascade: CascadeQuery = False,
) -> None:
    """Delete an initiative; with ?cascade=true, its evaluations too."""
    service.delete_initiative(
        session=session, initiative_id=initiative_id, if_match=if_match, cascade=cascade
    )
