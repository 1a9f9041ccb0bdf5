"""What the downloads and the catalogue read besides the tables they write (those are
streamed by app/exports/writers.py from the queries of app/exports/tables.py)."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from app.errors import NotFound
from app.models import changes, plans


def plans_in(session: Session, plan_id: int | None) -> list[dict[str, Any]]:
    """The plans a download covers: the one asked for (404 if none), or all of them."""
    query = select(plans).order_by(plans.c.id)
    if plan_id is not None:
        query = query.where(plans.c.id == plan_id)
    found = [dict(row) for row in session.execute(query).mappings()]
    if plan_id is not None and not found:
        raise NotFound(f"plan {plan_id} does not exist")
    return found


def last_writes(session: Session) -> tuple[dict[int, datetime], datetime | None]:
    """When each plan itself was last written, and when anything was."""
    per_plan = {
        plan_id: at
        for plan_id, at in session.execute(
            select(changes.c.entity_id, func.max(changes.c.at))
            .where(changes.c.entity == "plan")
            .group_by(changes.c.entity_id)
        ).all()
    }
    return per_plan, session.scalar(select(func.max(changes.c.at)))
