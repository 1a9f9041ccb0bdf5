"""Initiative queries."""

from enum import StrEnum
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlmodel import Session

from app.errors import NotFound
from app.evaluations.schemas import StatusFilter
from app.evaluations.service import latest_by_initiative
from app.http import PageParams, order_by
from app.initiatives.schemas import InitiativeFilters, InitiativePublic
from app.models import evaluations, initiatives, measures, policies
from app.text import like_pattern, natural_sort_key, search_key
from app.wareki import fiscal_year_label


class InitiativeSort(StrEnum):
    id = "id"
    code = "code"
    fiscal_year = "fiscal_year"
    plan_page = "plan_page"
    title_ = "title"  # `title` would shadow str.title
    policy_number = "policy_number"
    measure_number = "measure_number"
    updated_at = "updated_at"


SORT_COLUMNS: dict[str, Any] = {
    "id": initiatives.c.id,
    "code": initiatives.c.code_sort,
    "fiscal_year": initiatives.c.fiscal_year,
    "plan_page": initiatives.c.plan_page,
    "title": initiatives.c.title,
    "policy_number": policies.c.number,
    "measure_number": measures.c.number,
    "updated_at": initiatives.c.updated_at,
}
DEFAULT_SORT = "plan_id,code (natural order: R6-7 before R6-10)"

PUBLIC_COLUMNS = [
    column for column in initiatives.c if column.name not in ("search_text", "code_sort")
]
_SELECT = (
    select(
        *PUBLIC_COLUMNS,
        measures.c.policy_id,
        measures.c.number.label("measure_number"),
        policies.c.number.label("policy_number"),
    )
    .join(measures, measures.c.id == initiatives.c.measure_id)
    .join(policies, policies.c.id == measures.c.policy_id)
)
_COUNT = (
    select(func.count())
    .select_from(initiatives)
    .join(measures, measures.c.id == initiatives.c.measure_id)
)


def _latest_status() -> Any:
    """The status of an initiative's latest evaluation (NULL when it has none)."""
    return (
        select(evaluations.c.status)
        .where(evaluations.c.initiative_id == initiatives.c.id)
        .order_by(evaluations.c.fiscal_year.desc())
        .limit(1)
        .correlate(initiatives)
        .scalar_subquery()
    )


def _filtered(query: Select[Any], filters: InitiativeFilters) -> Select[Any]:
    if filters.plan_id is not None:
        query = query.where(initiatives.c.plan_id == filters.plan_id)
    if filters.policy_id is not None:
        query = query.where(measures.c.policy_id == filters.policy_id)
    if filters.measure_id is not None:
        query = query.where(initiatives.c.measure_id == filters.measure_id)
    if filters.code is not None:
        query = query.where(initiatives.c.code == filters.code)
    if filters.fiscal_year is not None:
        query = query.where(initiatives.c.fiscal_year == filters.fiscal_year)
    if filters.numeric_target is not None:
        query = query.where(initiatives.c.numeric_target == filters.numeric_target)
    if filters.status is StatusFilter.none:
        query = query.where(_latest_status().is_(None))
    elif filters.status is not None:
        query = query.where(_latest_status() == filters.status.value)
    if filters.q:
        pattern = like_pattern(filters.q)
        in_results = exists().where(
            evaluations.c.initiative_id == initiatives.c.id,
            evaluations.c.search_text.like(pattern, escape="\\"),
        )
        query = query.where(initiatives.c.search_text.like(pattern, escape="\\") | in_results)
    return query


def _public(rows: list[Any], session: Session) -> list[InitiativePublic]:
    latest = latest_by_initiative(session=session, initiative_ids=[row["id"] for row in rows])
    result = []
    for row in rows:
        data = dict(row)
        data["fiscal_year_label"] = fiscal_year_label(data["fiscal_year"])
        data["latest_evaluation"] = latest.get(data["id"])
        result.append(InitiativePublic.model_validate(data))
    return result


def list_initiatives(
    *, session: Session, filters: InitiativeFilters, page: PageParams, sort: str | None
) -> tuple[list[InitiativePublic], int]:
    default = [initiatives.c.plan_id, initiatives.c.code_sort]
    query = (
        _filtered(_SELECT, filters)
        .order_by(*order_by(sort, SORT_COLUMNS, default, initiatives.c.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    rows = list(session.execute(query).mappings())
    total = session.scalar(_filtered(_COUNT, filters)) or 0
    return _public(rows, session), total


def ensure_exists(*, session: Session, initiative_id: int) -> None:
    found = session.scalar(select(initiatives.c.id).where(initiatives.c.id == initiative_id))
    if found is None:
        raise NotFound(f"initiative {initiative_id} does not exist")


def get_initiative(*, session: Session, initiative_id: int) -> InitiativePublic:
    row = session.execute(_SELECT.where(initiatives.c.id == initiative_id)).mappings().first()
    if row is None:
        raise NotFound(f"initiative {initiative_id} does not exist")
    return _public([row], session)[0]


def derived_columns(*, code: str, title: str, description: str | None) -> dict[str, str]:
    """Return the columns the code that writes an initiative keeps in step with its fields."""
    return {
        "code_sort": natural_sort_key(code),
        "search_text": search_key(code, title, description),
    }
