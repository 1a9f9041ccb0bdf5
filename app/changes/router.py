from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.changes import service
from app.changes.schemas import ChangeFeed
from app.listing import MAX_ID, MAX_LIMIT
from app.reads import json_response
from app.web.caching import read_with_cache_headers
from app.web.http import read_responses
from app.web.jsonbody import StrictJsonRoute

router = APIRouter(prefix="/changes", tags=["changes"], route_class=StrictJsonRoute)


@router.get(
    "",
    operation_id="list_changes",
    response_model=ChangeFeed,
    responses=read_responses(422),
)
async def list_changes(
    request: Request,
    since: Annotated[
        int, Query(ge=0, le=MAX_ID, description="The last change id you have; 0 for all.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Response:
    """List every write after `since`, oldest first, for incremental sync."""
    feed, headers = await read_with_cache_headers(
        request, lambda reader: service.read_feed(reader=reader, since=since, limit=limit)
    )
    return json_response(feed, headers)
