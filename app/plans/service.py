"""Plan queries."""

from enum import StrEnum
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlmodel import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.http import PageParams, order_by
from app.models import Plan, plans
from app.plans.schemas import PlanCreate, PlanFilters, PlanPublic, PlanUpdate
from app.wareki import period_label
from app.writes import check_if_match, committing, delete, load


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


def _check_slug_free(session: Session, slug: str, plan_id: int | None = None) -> None:
    query = select(plans.c.id).where(plans.c.slug == slug)
    if plan_id is not None:
        query = query.where(plans.c.id != plan_id)
    if session.scalar(query) is not None:
        raise Conflict(f"a plan with slug {slug!r} exists already")


def create_plan(*, session: Session, plan_in: PlanCreate) -> int:
    _check_slug_free(session, plan_in.slug)
    plan = Plan(**plan_in.model_dump())
    with committing(session):
        session.add(plan)
    assert plan.id is not None
    return plan.id


def update_plan(
    *, session: Session, plan_id: int, plan_in: PlanUpdate, if_match: str | None
) -> None:
    plan: Plan = load(session, Plan, "plan", plan_id)
    check_if_match(if_match, plan)
    data = plan_in.model_dump(exclude_unset=True)
    if "slug" in data:
        _check_slug_free(session, data["slug"], plan_id)
    start = data.get("start_fiscal_year", plan.start_fiscal_year)
    end = data.get("end_fiscal_year", plan.end_fiscal_year)
    if start > end:
        raise InvalidInput.at(
            ["body", "start_fiscal_year"],
            f"the period would run from {start} to {end}: the start must not come after the end",
        )
    with committing(session):
        plan.sqlmodel_update(data)


def delete_plan(*, session: Session, plan_id: int, if_match: str | None, cascade: bool) -> None:
    plan: Plan = load(session, Plan, "plan", plan_id)
    check_if_match(if_match, plan)
    delete(session, plan, "plan", cascade=cascade)
