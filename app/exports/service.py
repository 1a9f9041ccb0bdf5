"""What the downloads and the catalogue read besides the tables they write (those are
streamed by app/exports/writers.py from the queries of app/exports/tables.py)."""

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select

from app.errors import NotFound
from app.models import changes, plans
from app.reads import Prepared, Reader, moment

_ALL_PLANS = Prepared(select(plans).order_by(plans.c.id))
_ONE_PLAN = Prepared(select(plans).where(plans.c.id == bindparam("plan_id")))
_PLAN_WRITES = Prepared(
    select(changes.c.entity_id, func.max(changes.c.at).label("at"))
    .where(changes.c.entity == "plan")
    .group_by(changes.c.entity_id)
)
_LAST_WRITE = Prepared(select(func.max(changes.c.at)))


async def plans_in(reader: Reader, plan_id: int | None) -> list[dict[str, Any]]:
    """The plans a download covers: the one asked for (404 if none), or all of them, each
    with its updated_at as an aware datetime."""
    if plan_id is None:
        found = await reader.all(_ALL_PLANS)
    else:
        found = await reader.all(_ONE_PLAN, plan_id=plan_id)
        if not found:
            raise NotFound(f"plan {plan_id} does not exist")
    return [row | {"updated_at": moment(row["updated_at"])} for row in found]


async def last_write(reader: Reader) -> datetime | None:
    """When anything was last written (the change log's newest entry), or None when nothing
    has been."""
    last = await reader.scalar(_LAST_WRITE)
    return None if last is None else moment(last)


async def last_writes(reader: Reader) -> tuple[dict[int, datetime], datetime | None]:
    """When each plan itself was last written, and when anything was."""
    per_plan = await reader.all(_PLAN_WRITES)
    return {row["entity_id"]: moment(row["at"]) for row in per_plan}, await last_write(reader)
