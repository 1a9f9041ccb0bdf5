"""Plan queries."""

from collections.abc import Sequence
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Integer, bindparam, func, select
from sqlmodel import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.listing import PageParams
from app.models import Plan, evaluations, initiatives, plans, reports
from app.plans.schemas import PlanCreate, PlanFilters, PlanPublic, PlanUpdate
from app.provenance import PLAN_FACTS, full, merged
from app.reads import Listing, Prepared, Projection, Reader, Row, fetch
from app.wareki import period_label
from app.writes import check_if_match, committing, delete, hold_write_lock, load


class PlanSort(StrEnum):
    id = "id"
    slug = "slug"
    municipality_code = "municipality_code"
    start_fiscal_year = "start_fiscal_year"
    updated_at = "updated_at"


SORT_COLUMNS = {field.value: plans.c[field.value] for field in PlanSort}
DEFAULT_SORT = "municipality_code,start_fiscal_year"


_ONE = Prepared(select(plans).where(plans.c.id == bindparam("plan_id")))
_LIST = Listing(
    rows=select(plans),
    count=select(func.count()).select_from(plans),
    filters={
        "slug": lambda value: plans.c.slug == value,
        "municipality_code": lambda value: plans.c.municipality_code == value,
    },
    sort_columns=SORT_COLUMNS,
    default_sort=[plans.c.municipality_code, plans.c.start_fiscal_year],
    tiebreak=plans.c.id,
)
_json = Projection(
    PlanPublic,
    {
        "period_label": lambda row: period_label(row["start_fiscal_year"], row["end_fiscal_year"]),
        "provenance": lambda row: full(PLAN_FACTS, row["provenance"]),
    },
)


async def read_plans(
    *, reader: Reader, filters: PlanFilters, page: PageParams, sort: str | None
) -> tuple[list[dict[str, Any]], int]:
    """A page of plans as JSON objects, and the number of all that match."""
    rows, total = await _LIST.page(reader, filters.model_dump(exclude_none=True), page, sort)
    return [_json(row) for row in rows], total


async def read_one_plan(*, reader: Reader, plan_id: int) -> dict[str, Any]:
    row = await reader.first(_ONE, plan_id=plan_id)
    if row is None:
        raise NotFound(f"plan {plan_id} does not exist")
    return _json(row)


def get_plan(*, session: Session, plan_id: int) -> PlanPublic:
    """A plan as written, read back on the write's session."""
    rows = fetch(session, _ONE, plan_id=plan_id)
    if not rows:
        raise NotFound(f"plan {plan_id} does not exist")
    return PlanPublic.model_validate(_json(rows[0]))


def _check_slug_free(session: Session, slug: str, plan_id: int | None = None) -> None:
    query = select(plans.c.id).where(plans.c.slug == slug)
    if plan_id is not None:
        query = query.where(plans.c.id != plan_id)
    if session.scalar(query) is not None:
        raise Conflict(f"a plan with slug {slug!r} exists already")


def create_plan(*, session: Session, plan_in: PlanCreate) -> int:
    _check_slug_free(session, plan_in.slug)
    data = plan_in.model_dump()
    plan = Plan(**data | {"provenance": full(PLAN_FACTS, data["provenance"])})
    with committing(session):
        session.add(plan)
    assert plan.id is not None
    return plan.id


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _check_period_holds(session: Session, plan_id: int, start: int, end: int) -> None:
    """Refuse (409) a period that would leave initiatives, evaluations or reports outside it.

    Statistics take a plan's years from its period (/stats/trend lists only those), so a row
    outside it would silently drop out of some answers and not others. 409, not 422: the
    new period is a valid value; it is the plan's existing rows that stand in the way, as
    children do when a parent is deleted. The count is what the client has to move first.
    """
    initiative_years = initiatives.c.fiscal_year
    evaluation_years = evaluations.c.fiscal_year
    report_years = reports.c.fiscal_year
    in_plan = select(initiatives.c.id).where(initiatives.c.plan_id == plan_id)
    counts = {
        "initiative": select(func.count())
        .select_from(initiatives)
        .where(initiatives.c.plan_id == plan_id, ~initiative_years.between(start, end)),
        "evaluation": select(func.count())
        .select_from(evaluations)
        .where(evaluations.c.initiative_id.in_(in_plan), ~evaluation_years.between(start, end)),
        "report": select(func.count())
        .select_from(reports)
        .where(reports.c.plan_id == plan_id, ~report_years.between(start, end)),
    }
    found = {noun: session.scalar(query) or 0 for noun, query in counts.items()}
    if not any(found.values()):
        return
    # Initiatives and evaluations are always named (0 too); reports only when some are out.
    parts = [_counted(count, noun) for noun, count in found.items() if count or noun != "report"]
    named = ", ".join(parts[:-1]) + " and " + parts[-1]
    raise Conflict(
        f"plan {plan_id}'s period cannot become {period_label(start, end)}:"
        f" {named} of it lie outside that period; move or delete them first"
    )


def update_plan(
    *, session: Session, plan_id: int, plan_in: PlanUpdate, if_match: str | None
) -> None:
    """Change the fields sent; a narrower period must still hold every row of the plan."""
    data = plan_in.model_dump(exclude_unset=True)
    if "start_fiscal_year" in data or "end_fiscal_year" in data:
        hold_write_lock(session)  # no initiative or evaluation may slip in outside meanwhile
    plan: Plan = load(session, Plan, "plan", plan_id)
    check_if_match(if_match, plan)
    if "slug" in data:
        _check_slug_free(session, data["slug"], plan_id)
    start = data.get("start_fiscal_year", plan.start_fiscal_year)
    end = data.get("end_fiscal_year", plan.end_fiscal_year)
    if "provenance" in data:
        data["provenance"] = merged(PLAN_FACTS, plan.provenance, data["provenance"])
    if start > end:
        raise InvalidInput.at(
            ["body", "start_fiscal_year"],
            f"the period would run from {start} to {end}: the start must not come after the end",
        )
    if (start, end) != (plan.start_fiscal_year, plan.end_fiscal_year):
        _check_period_holds(session, plan_id, start, end)
    with committing(session):
        plan.sqlmodel_update(data)


def delete_plan(*, session: Session, plan_id: int, if_match: str | None, cascade: bool) -> None:
    plan: Plan = load(session, Plan, "plan", plan_id)
    check_if_match(if_match, plan)
    delete(session, plan, cascade=cascade)


# The plan a statistic or an upload is about: given by id, or the only one there is.
PLAN = bindparam("plan_id", type_=Integer)
PLAN_COLUMNS = (
    plans.c.id,
    plans.c.slug,
    plans.c.municipality_code,
    plans.c.municipality_name,
    plans.c.start_fiscal_year,
    plans.c.end_fiscal_year,
    plans.c.license,  # a statistic's CSV names the plan's licence (Link rel="license")
    plans.c.license_url,
)


_PLAN_BY_ID = Prepared(select(*PLAN_COLUMNS).where(plans.c.id == PLAN))
_FIRST_PLANS = Prepared(select(*PLAN_COLUMNS).order_by(plans.c.id).limit(2))


def _chosen(plan_id: int | None, rows: Sequence[Row]) -> SimpleNamespace:
    """The plan asked for, or the only one (422 once there are several)."""
    if plan_id is not None:
        if not rows:
            raise NotFound(f"plan {plan_id} does not exist")
    elif len(rows) != 1:
        raise InvalidInput.at(
            ["query", "plan_id"],
            "plan_id is required: there are several plans"
            if rows
            else "there is no plan yet: create one first",
        )
    return SimpleNamespace(**rows[0])


async def read_plan(reader: Reader, plan_id: int | None) -> SimpleNamespace:
    """The plan a statistic is about: given by id, or the only one there is."""
    if plan_id is None:
        return _chosen(None, await reader.all(_FIRST_PLANS))
    return _chosen(plan_id, await reader.all(_PLAN_BY_ID, plan_id=plan_id))


def resolve_plan(session: Session, plan_id: int | None) -> SimpleNamespace:
    """read_plan on a session: for statistics computed in a worker thread, and uploads."""
    if plan_id is None:
        return _chosen(None, fetch(session, _FIRST_PLANS))
    return _chosen(plan_id, fetch(session, _PLAN_BY_ID, plan_id=plan_id))
