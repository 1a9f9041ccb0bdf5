"""Measure queries."""

from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import Session

from app.errors import NotFound
from app.http import PageParams, order_by
from app.measures.schemas import MeasurePublic
from app.models import measures, policies


class MeasureSort(StrEnum):
    id = "id"
    number = "number"
    policy_number = "policy_number"
    updated_at = "updated_at"


SORT_COLUMNS: dict[str, Any] = {
    "id": measures.c.id,
    "number": measures.c.number,
    "policy_number": policies.c.number,
    "updated_at": measures.c.updated_at,
}
DEFAULT_SORT = "plan_id,policy_number,number"

_SELECT = select(measures, policies.c.number.label("policy_number")).join(
    policies, policies.c.id == measures.c.policy_id
)


def _filtered(query: Select[Any], plan_id: int | None, policy_id: int | None) -> Select[Any]:
    if plan_id is not None:
        query = query.where(measures.c.plan_id == plan_id)
    if policy_id is not None:
        query = query.where(measures.c.policy_id == policy_id)
    return query


def list_measures(
    *,
    session: Session,
    plan_id: int | None,
    policy_id: int | None,
    page: PageParams,
    sort: str | None,
) -> tuple[list[MeasurePublic], int]:
    count = _filtered(select(func.count()).select_from(measures), plan_id, policy_id)
    default = [measures.c.plan_id, policies.c.number, measures.c.number]
    query = (
        _filtered(_SELECT, plan_id, policy_id)
        .order_by(*order_by(sort, SORT_COLUMNS, default, measures.c.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    rows = session.execute(query).mappings()
    return [MeasurePublic.model_validate(row) for row in rows], session.scalar(count) or 0


def get_measure(*, session: Session, measure_id: int) -> MeasurePublic:
    row = session.execute(_SELECT.where(measures.c.id == measure_id)).mappings().first()
    if row is None:
        raise NotFound(f"measure {measure_id} does not exist")
    return MeasurePublic.model_validate(row)
