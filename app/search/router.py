from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.errors import InvalidInput
from app.fields import LINE_PATTERN, text_rules
from app.listing import Page
from app.search import service
from app.search.match import Terms
from app.search.schemas import HitKind, SearchHit
from app.web.caching import read_with_cache_headers
from app.web.http import WORDS_RULES, IdFilter, PageDep, page_response, read_responses
from app.web.jsonbody import StrictJsonRoute

router = APIRouter(prefix="/search", tags=["search"], route_class=StrictJsonRoute)


@router.get(
    "",
    operation_id="search",
    response_model=Page[SearchHit],
    responses=read_responses(422),
)
async def search(
    request: Request,
    page: PageDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            json_schema_extra={"pattern": LINE_PATTERN},  # what text_rules checks, documented
            examples=["デジタル 市民"],
            description="Words to find in policies (title, focus), measures (title),"
            " initiatives (code, title, description, evaluation results) and evaluation"
            " results." + WORDS_RULES,
        ),
        text_rules(200),  # not blank; no NUL, no lone surrogates
    ],
    plan_id: IdFilter = None,
    kind: Annotated[HitKind | None, Query(description="Only hits of this kind.")] = None,
) -> Response:
    """Search everything a plan holds, as a person types: the best hits first (a word in
    the code, then in the title, then elsewhere), each with a snippet around what was found."""
    terms = Terms.parse(q)
    if not terms:
        raise InvalidInput.at(["query", "q"], "give at least one word to search for")
    (items, total), headers = await read_with_cache_headers(
        request,
        lambda reader: service.search(
            reader=reader, terms=terms, plan_id=plan_id, kind=kind, page=page
        ),
    )
    return page_response(request, items, total, page, headers)
