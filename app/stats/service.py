"""Statistics: every count is a conditional aggregate with GROUP BY in the database.

The queries per request are a fixed handful whatever the number of rows; Python only adds up
the per-measure (or per-plan) rows the database returns.
"""

from collections import defaultdict
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, and_, bindparam, case, func, select
from sqlmodel import Session

from app.errors import InvalidInput, NotFound
from app.models import evaluations, initiatives, measures, plans, policies, report_lines, reports
from app.reads import Prepared, Reader
from app.stats.rates import achievement_rate, percent_of
from app.stats.schemas import (
    Achievement,
    Counts,
    MeasureStats,
    PlanComparison,
    PlanRow,
    PolicyStats,
    Published,
    PublishedCounts,
    PublishedPolicy,
    StatusCount,
    Summary,
    TargetRow,
    Targets,
    Trend,
    YearCount,
    YearStats,
)
from app.wareki import fiscal_year_label

YEAR = bindparam("year", type_=Integer)  # the fiscal year counted, bound per execution
PLAN = bindparam("plan_id", type_=Integer)
COUNT_FIELDS = ("items", "achieved", "not_achieved", "unconfirmed", "no_status", "not_evaluated")


def _is(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _status_columns() -> list[Any]:
    e = evaluations.c
    return [
        func.count(e.status).label("items"),
        _is(e.status == "achieved").label("achieved"),
        _is(e.status == "not_achieved").label("not_achieved"),
        _is(e.status == "unconfirmed").label("unconfirmed"),
        _is(and_(e.id.is_not(None), e.status.is_(None))).label("no_status"),
        _is(and_(e.id.is_(None), initiatives.c.fiscal_year <= YEAR)).label("not_evaluated"),
    ]


def _counts_by(group: list[Any], where: list[Any]) -> Select[Any]:
    """Counts of one fiscal year (bound as :year), per group, over initiatives and evaluations.

    Every initiative takes part once, joined to its evaluation of the year if any: items and
    statuses count evaluations, not_evaluated counts initiatives of that year or earlier
    that have none.
    """
    joined = initiatives.outerjoin(
        evaluations,
        and_(
            evaluations.c.initiative_id == initiatives.c.id,
            evaluations.c.fiscal_year == YEAR,
        ),
    )
    return select(*group, *_status_columns()).select_from(joined).where(*where).group_by(*group)


def _counts(row: Any) -> Counts:
    values = {name: int(row[name] or 0) for name in COUNT_FIELDS}
    return Counts(**values, rate=achievement_rate(values["achieved"], values["items"]))


def _add(rows: list[Counts]) -> Counts:
    values = {name: sum(getattr(row, name) for row in rows) for name in COUNT_FIELDS}
    return Counts(**values, rate=achievement_rate(values["achieved"], values["items"]))


_PLAN_COLUMNS = (
    plans.c.id,
    plans.c.slug,
    plans.c.municipality_code,
    plans.c.municipality_name,
    plans.c.start_fiscal_year,
    plans.c.end_fiscal_year,
)


def resolve_plan(session: Session, plan_id: int | None) -> Any:
    """Return the plan's row, or the only plan's when plan_id was left out (422 once there
    are more)."""
    if plan_id is not None:
        row = session.execute(select(*_PLAN_COLUMNS).where(plans.c.id == plan_id)).first()
        if row is None:
            raise NotFound(f"plan {plan_id} does not exist")
        return row
    rows = session.execute(select(*_PLAN_COLUMNS).order_by(plans.c.id).limit(2)).all()
    _check_only_plan(rows)
    return rows[0]


def _check_only_plan(rows: Sequence[Any]) -> None:
    if len(rows) != 1:
        raise InvalidInput.at(
            ["query", "plan_id"],
            "plan_id is required: there are several plans"
            if rows
            else "there is no plan yet: create one first",
        )


def default_fiscal_year(session: Session, plan_id: int | None) -> int:
    """Return the latest evaluated fiscal year (else the latest reported, else the plan's first)."""
    in_plan = [] if plan_id is None else [initiatives.c.plan_id == plan_id]
    year = session.scalar(
        select(func.max(evaluations.c.fiscal_year))
        .join(initiatives, initiatives.c.id == evaluations.c.initiative_id)
        .where(*in_plan)
    )
    if year is None:
        report_filter = [] if plan_id is None else [reports.c.plan_id == plan_id]
        year = session.scalar(select(func.max(reports.c.fiscal_year)).where(*report_filter))
    if year is None:
        plan_filter = [] if plan_id is None else [plans.c.id == plan_id]
        year = session.scalar(select(func.min(plans.c.start_fiscal_year)).where(*plan_filter))
    if year is None:
        raise InvalidInput.at(["query", "fiscal_year"], "there is no data to choose a year from")
    return int(year)


_PUBLISHED = (
    select(
        reports.c.id,
        reports.c.title,
        reports.c.source,
        report_lines.c.policy_id,
        policies.c.number,
        report_lines.c["items"],
        report_lines.c.achieved,
        report_lines.c.unconfirmed,
    )
    .select_from(
        reports.outerjoin(report_lines, report_lines.c.report_id == reports.c.id).outerjoin(
            policies, policies.c.id == report_lines.c.policy_id
        )
    )
    .where(reports.c.plan_id == PLAN, reports.c.fiscal_year == YEAR)
    .order_by(policies.c.number)
)


def _published(session: Session, plan_id: int, fiscal_year: int) -> Published | None:
    """The report of that year with its lines (one query), or None."""
    rows = session.execute(_PUBLISHED, {"plan_id": plan_id, "year": fiscal_year}).mappings()
    return _published_from(list(rows))


def _published_from(rows: list[Any]) -> Published | None:
    if not rows:
        return None
    by_policy = [
        PublishedPolicy(
            policy_id=row["policy_id"],
            number=row["number"],
            items=row["items"],
            achieved=row["achieved"],
            unconfirmed=row["unconfirmed"],
            rate=achievement_rate(row["achieved"], row["items"]),
        )
        for row in rows
        if row["policy_id"] is not None
    ]
    items = sum(line.items for line in by_policy)
    achieved = sum(line.achieved for line in by_policy)
    total = PublishedCounts(
        items=items,
        achieved=achieved,
        unconfirmed=sum(line.unconfirmed for line in by_policy),
        rate=achievement_rate(achieved, items),
    )
    return Published(
        report_id=rows[0]["id"],
        title=rows[0]["title"],
        source=rows[0]["source"],
        total=total,
        policies=by_policy,
    )


def _agree(computed: Counts, published: PublishedCounts | None) -> bool:
    if published is None:
        return computed.items == 0
    return (computed.items, computed.achieved, computed.unconfirmed) == (
        published.items,
        published.achieved,
        published.unconfirmed,
    )


def _achievement_query() -> Select[Any]:
    """Counts per measure of a plan, with its policy; policies without measures too."""
    keys = (
        policies.c.id.label("policy_id"),
        policies.c.number.label("policy_number"),
        policies.c.title.label("policy_title"),
        measures.c.id.label("measure_id"),
        measures.c.number.label("measure_number"),
        measures.c.title.label("measure_title"),
    )
    joined = (
        policies.outerjoin(measures, measures.c.policy_id == policies.c.id)
        .outerjoin(initiatives, initiatives.c.measure_id == measures.c.id)
        .outerjoin(
            evaluations,
            and_(
                evaluations.c.initiative_id == initiatives.c.id,
                evaluations.c.fiscal_year == YEAR,
            ),
        )
    )
    return (
        select(*keys, *_status_columns())
        .select_from(joined)
        .where(policies.c.plan_id == PLAN)
        .group_by(*keys)
        .order_by(policies.c.number, measures.c.number)
    )


_ACHIEVEMENT = _achievement_query()  # built once: only the bound values change


def achievement(*, session: Session, plan_id: int, fiscal_year: int) -> Achievement:
    values = {"plan_id": plan_id, "year": fiscal_year}
    rows = list(session.execute(_ACHIEVEMENT, values).mappings())
    published = _published(session, plan_id, fiscal_year)
    return _achievement_from(rows, published, plan_id, fiscal_year)


def _achievement_from(
    rows: list[Any], published: Published | None, plan_id: int, fiscal_year: int
) -> Achievement:
    """Shape the per-measure counts and the published report into the answer."""
    titles: dict[int, tuple[int, str]] = {}
    by_policy: dict[int, list[MeasureStats]] = defaultdict(list)
    for row in rows:
        titles[row["policy_id"]] = (row["policy_number"], row["policy_title"])
        if row["measure_id"] is None:
            continue  # a policy without measures yet
        by_policy[row["policy_id"]].append(
            MeasureStats(
                measure_id=row["measure_id"],
                number=row["measure_number"],
                title=row["measure_title"],
                **_counts(row).model_dump(),
            )
        )
    policy_stats = [
        PolicyStats(
            policy_id=policy_id,
            number=number,
            title=title,
            measures=by_policy[policy_id],
            **_add(list(by_policy[policy_id])).model_dump(),
        )
        for policy_id, (number, title) in titles.items()
    ]
    total = _add(list(policy_stats))
    matches = published is not None and _agree(total, published.total)
    if published is not None:
        lines = {line.policy_id: line for line in published.policies}
        matches = matches and all(
            _agree(policy, lines.get(policy.policy_id)) for policy in policy_stats
        )
        known = {policy.policy_id for policy in policy_stats}
        matches = matches and all(line.policy_id in known for line in published.policies)
    return Achievement(
        plan_id=plan_id,
        fiscal_year=fiscal_year,
        fiscal_year_label=fiscal_year_label(fiscal_year),
        total=total,
        policies=policy_stats,
        published=published,
        matches_published=matches,
    )


# The achievement of one plan is a handful of indexed reads whatever the size of the database
# (bench/README.md), so it is also served on the event loop (app/reads.py). The other
# statistics scan a plan or all plans, and run in a worker thread with a session.
_PREPARED_ACHIEVEMENT = Prepared(_ACHIEVEMENT)
_PREPARED_PUBLISHED = Prepared(_PUBLISHED)
_PLAN_BY_ID = Prepared(select(*_PLAN_COLUMNS).where(plans.c.id == PLAN))
_FIRST_PLANS = Prepared(select(*_PLAN_COLUMNS).order_by(plans.c.id).limit(2))
_LATEST_EVALUATED = Prepared(
    select(func.max(evaluations.c.fiscal_year))
    .join(initiatives, initiatives.c.id == evaluations.c.initiative_id)
    .where(initiatives.c.plan_id == PLAN)
)
_LATEST_REPORTED = Prepared(
    select(func.max(reports.c.fiscal_year)).where(reports.c.plan_id == PLAN)
)
_PLAN_START = Prepared(select(plans.c.start_fiscal_year).where(plans.c.id == PLAN))


async def read_plan(reader: Reader, plan_id: int | None) -> Any:
    """resolve_plan, through the reader."""
    if plan_id is not None:
        row = await reader.first(_PLAN_BY_ID, plan_id=plan_id)
        if row is None:
            raise NotFound(f"plan {plan_id} does not exist")
        return SimpleNamespace(**row)
    rows = await reader.all(_FIRST_PLANS)
    _check_only_plan(rows)
    return SimpleNamespace(**rows[0])


async def read_default_year(reader: Reader, plan_id: int) -> int:
    """default_fiscal_year of one plan, through the reader."""
    for statement in (_LATEST_EVALUATED, _LATEST_REPORTED, _PLAN_START):
        year = await reader.scalar(statement, plan_id=plan_id)
        if year is not None:
            return int(year)
    raise InvalidInput.at(["query", "fiscal_year"], "there is no data to choose a year from")


async def read_achievement(*, reader: Reader, plan_id: int, fiscal_year: int) -> Achievement:
    """achievement, through the reader."""
    rows = await reader.all(_PREPARED_ACHIEVEMENT, plan_id=plan_id, year=fiscal_year)
    published = await reader.all(_PREPARED_PUBLISHED, plan_id=plan_id, year=fiscal_year)
    return _achievement_from(rows, _published_from(published), plan_id, fiscal_year)


def trend(*, session: Session, plan_id: int) -> Trend:
    plan = session.execute(
        select(plans.c.start_fiscal_year, plans.c.end_fiscal_year).where(plans.c.id == plan_id)
    ).one()
    years = range(plan.start_fiscal_year, plan.end_fiscal_year + 1)
    # One pass per year of the plan's period (at most a handful), each a single GROUP BY.
    query = _counts_by([initiatives.c.plan_id], [initiatives.c.plan_id == plan_id])
    rows = []
    for year in years:
        found = session.execute(query, {"year": year}).mappings().first()
        computed = _counts(found) if found is not None else _add([])
        published = _published(session, plan_id, year)
        rows.append(
            YearStats(
                fiscal_year=year,
                fiscal_year_label=fiscal_year_label(year),
                computed=computed,
                published=published.total if published else None,
                matches_published=published is not None and _agree(computed, published.total),
            )
        )
    return Trend(plan_id=plan_id, years=rows)


def summary(*, session: Session, plan_id: int) -> Summary:
    policy_count = session.scalar(
        select(func.count()).select_from(policies).where(policies.c.plan_id == plan_id)
    )
    measure_count = session.scalar(
        select(func.count()).select_from(measures).where(measures.c.plan_id == plan_id)
    )
    by_year = session.execute(
        select(
            initiatives.c.fiscal_year,
            func.count().label("initiatives"),
            _is(initiatives.c.numeric_target.is_(True)).label("numeric_targets"),
        )
        .where(initiatives.c.plan_id == plan_id)
        .group_by(initiatives.c.fiscal_year)
        .order_by(initiatives.c.fiscal_year)
    ).all()
    status = func.coalesce(evaluations.c.status, "none")
    by_status = session.execute(
        select(evaluations.c.fiscal_year, status.label("status"), func.count().label("count"))
        .join(initiatives, initiatives.c.id == evaluations.c.initiative_id)
        .where(initiatives.c.plan_id == plan_id)
        .group_by(evaluations.c.fiscal_year, status)
        .order_by(evaluations.c.fiscal_year, status)
    ).all()
    return Summary(
        plan_id=plan_id,
        policies=policy_count or 0,
        measures=measure_count or 0,
        initiatives=sum(row.initiatives for row in by_year),
        numeric_targets=sum(int(row.numeric_targets) for row in by_year),
        initiatives_by_fiscal_year=[
            YearCount(
                fiscal_year=row.fiscal_year,
                fiscal_year_label=fiscal_year_label(row.fiscal_year),
                count=row.initiatives,
            )
            for row in by_year
        ],
        numeric_targets_by_fiscal_year=[
            YearCount(
                fiscal_year=row.fiscal_year,
                fiscal_year_label=fiscal_year_label(row.fiscal_year),
                count=int(row.numeric_targets),
            )
            for row in by_year
        ],
        evaluations=sum(row.count for row in by_status),
        evaluations_by_status=[
            StatusCount(
                fiscal_year=row.fiscal_year,
                fiscal_year_label=fiscal_year_label(row.fiscal_year),
                status=row.status,
                count=row.count,
            )
            for row in by_status
        ],
    )


def targets(*, session: Session, plan_id: int, fiscal_year: int) -> Targets:
    rows = session.execute(
        select(
            initiatives.c.id,
            initiatives.c.code,
            initiatives.c.title,
            initiatives.c.target_value,
            initiatives.c.target_unit,
            evaluations.c.actual_value,
            evaluations.c.status,
        )
        .select_from(
            initiatives.outerjoin(
                evaluations,
                and_(
                    evaluations.c.initiative_id == initiatives.c.id,
                    evaluations.c.fiscal_year == fiscal_year,
                ),
            )
        )
        .where(initiatives.c.plan_id == plan_id, initiatives.c.numeric_target.is_(True))
        .order_by(initiatives.c.code_sort)
    ).mappings()
    items = [
        TargetRow(
            initiative_id=row["id"],
            code=row["code"],
            title=row["title"],
            target_value=row["target_value"],
            target_unit=row["target_unit"],
            actual_value=row["actual_value"],
            status=row["status"],
            percent_of_target=percent_of(row["actual_value"], row["target_value"]),
        )
        for row in rows
    ]
    return Targets(
        plan_id=plan_id,
        fiscal_year=fiscal_year,
        fiscal_year_label=fiscal_year_label(fiscal_year),
        items=items,
    )


def plan_comparison(*, session: Session, fiscal_year: int) -> PlanComparison:
    computed = {
        row["plan_id"]: _counts(row)
        for row in session.execute(
            _counts_by([initiatives.c.plan_id], []), {"year": fiscal_year}
        ).mappings()
    }
    published = {
        row.plan_id: row
        for row in session.execute(
            select(
                reports.c.plan_id,
                func.sum(report_lines.c["items"]).label("items"),
                func.sum(report_lines.c.achieved).label("achieved"),
                func.sum(report_lines.c.unconfirmed).label("unconfirmed"),
            )
            .join(report_lines, report_lines.c.report_id == reports.c.id)
            .where(reports.c.fiscal_year == fiscal_year)
            .group_by(reports.c.plan_id)
        )
    }
    empty = _add([])
    items = []
    for plan in session.execute(
        select(
            plans.c.id,
            plans.c.slug,
            plans.c.title,
            plans.c.municipality_code,
            plans.c.municipality_name,
        ).order_by(plans.c.municipality_code, plans.c.start_fiscal_year, plans.c.id)
    ).mappings():
        reported = published.get(plan["id"])
        items.append(
            PlanRow(
                plan_id=plan["id"],
                slug=plan["slug"],
                title=plan["title"],
                municipality_code=plan["municipality_code"],
                municipality_name=plan["municipality_name"],
                **computed.get(plan["id"], empty).model_dump(),
                published_items=int(reported.items) if reported else None,
                published_achieved=int(reported.achieved) if reported else None,
                published_unconfirmed=int(reported.unconfirmed) if reported else None,
                published_rate=(
                    achievement_rate(int(reported.achieved), int(reported.items))
                    if reported
                    else None
                ),
            )
        )
    return PlanComparison(
        fiscal_year=fiscal_year, fiscal_year_label=fiscal_year_label(fiscal_year), items=items
    )
