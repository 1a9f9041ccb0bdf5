from typing import Annotated

from fastapi import APIRouter, Query

from app.changes import service
from app.changes.schemas import ChangeFeed
from app.db import SessionDep
from app.listing import MAX_ID, MAX_LIMIT
from app.web.caching import CACHED
from app.web.http import read_responses
from app.web.jsonbody import StrictJsonRoute

router = APIRouter(prefix="/changes", tags=["changes"], route_class=StrictJsonRoute)


@router.get(
    "",
    operation_id="list_changes",
    responses=read_responses(422),
    dependencies=[CACHED],
)
def list_changes(
    session: SessionDep,
    since: Annotated[
        int, Query(ge=0, le=MAX_ID, description="The last change id you have; 0 for all.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> ChangeFeed:
    """List every write after `since`, oldest first, for incremental sync."""
    return service.feed(session=session, since=since, limit=limit)
