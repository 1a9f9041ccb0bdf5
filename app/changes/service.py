"""The change feed."""

import json
from typing import Any

from sqlalchemy import bindparam, select

from app.changes.schemas import ChangePublic
from app.models import changes
from app.reads import Prepared, Projection, Reader

_FEED = Prepared(
    select(changes)
    .where(changes.c.id > bindparam("since"))
    .order_by(changes.c.id)
    .limit(bindparam("limit"))
)


def _diff(value: Any) -> Any:
    """The stored {field: [old, new]}: JSON text on SQLite, already parsed on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


_json = Projection(ChangePublic, {"changes": lambda row: _diff(row["changes"])})


async def read_feed(*, reader: Reader, since: int, limit: int) -> dict[str, Any]:
    """The writes after `since`, oldest first, and the `since` of the next call."""
    items = [_json(row) for row in await reader.all(_FEED, since=since, limit=limit)]
    return {"items": items, "next": items[-1]["id"] if items else since}
