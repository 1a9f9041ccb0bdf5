"""Plan queries."""

from enum import StrEnum
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlmodel import Session

from app.errors import NotFound
from app.http import PageParams, order_by
from app.models import plans
from app.plans.schemas import PlanFilters, PlanPublic
from app.wareki import period_label


class PlanSort(StrEnum):
    id = "id"
    slug = "slug"
    municipality_code = "municipality_code"
    start_fiscal_year = "start_fiscal_year"
    updated_at = "updated_at"


SORT_COLUMNS = {field.value: plans.c[field.value] for field in PlanSort}
DEFAULT_SORT = "municipality_code,start_fiscal_year"


def _public(row: Row[Any]) -> PlanPublic:
    values = dict(row._mapping)
    values["period_label"] = period_label(values["start_fiscal_year"], values["end_fiscal_year"])
    return PlanPublic.model_validate(values)


def _filtered(query: Select[Any], filters: PlanFilters) -> Select[Any]:
    if filters.slug is not None:
        query = query.where(plans.c.slug == filters.slug)
    if filters.municipality_code is not None:
        query = query.where(plans.c.municipality_code == filters.municipality_code)
    return query


def list_plans(
    *, session: Session, filters: PlanFilters, page: PageParams, sort: str | None
) -> tuple[list[PlanPublic], int]:
    total = session.scalar(_filtered(select(func.count()).select_from(plans), filters)) or 0
    default = [plans.c.municipality_code, plans.c.start_fiscal_year]
    query = (
        _filtered(select(plans), filters)
        .order_by(*order_by(sort, SORT_COLUMNS, default, plans.c.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    return [_public(row) for row in session.execute(query)], total


def get_plan(*, session: Session, plan_id: int) -> PlanPublic:
    row = session.execute(select(plans).where(plans.c.id == plan_id)).first()
    if row is None:
        raise NotFound(f"plan {plan_id} does not exist")
    return _public(row)
