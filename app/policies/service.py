"""Policy queries."""

from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import Session

from app.errors import NotFound
from app.http import PageParams, order_by
from app.models import policies
from app.policies.schemas import PolicyPublic


class PolicySort(StrEnum):
    id = "id"
    number = "number"
    plan_id = "plan_id"
    updated_at = "updated_at"


SORT_COLUMNS = {field.value: policies.c[field.value] for field in PolicySort}
DEFAULT_SORT = "plan_id,number"


def _filtered(query: Select[Any], plan_id: int | None) -> Select[Any]:
    return query if plan_id is None else query.where(policies.c.plan_id == plan_id)


def list_policies(
    *, session: Session, plan_id: int | None, page: PageParams, sort: str | None
) -> tuple[list[PolicyPublic], int]:
    total = session.scalar(_filtered(select(func.count()).select_from(policies), plan_id)) or 0
    default = [policies.c.plan_id, policies.c.number]
    query = (
        _filtered(select(policies), plan_id)
        .order_by(*order_by(sort, SORT_COLUMNS, default, policies.c.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    rows = session.execute(query).mappings()
    return [PolicyPublic.model_validate(row) for row in rows], total


def get_policy(*, session: Session, policy_id: int) -> PolicyPublic:
    row = session.execute(select(policies).where(policies.c.id == policy_id)).mappings().first()
    if row is None:
        raise NotFound(f"policy {policy_id} does not exist")
    return PolicyPublic.model_validate(row)
