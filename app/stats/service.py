"""Statistics: every count is a conditional aggregate with GROUP BY in the database.

The queries per request are a fixed handful whatever the number of rows; Python only adds up
the per-measure (or per-plan) rows the database returns.
"""

from collections.abc import Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, and_, bindparam, case, func, select

from app.errors import InvalidInput, NotFound
from app.initiatives.service import outside_period
from app.models import evaluations, initiatives, measures, plans, policies, report_lines, reports
from app.rates import METHOD, achievement_rate, percent_of
from app.reads import Prepared, Reader
from app.stats import caveats, tables
from app.stats.schemas import (
    StatusCount,
    Summary,
    TargetRow,
    Targets,
    Trend,
    YearCount,
    YearStats,
)
from app.versions import VERSION
from app.wareki import fiscal_year_label

YEAR = bindparam("year", type_=Integer)  # the fiscal year counted, bound per execution
PLAN = bindparam("plan_id", type_=Integer)
COUNT_FIELDS = (
    "items",
    "achieved",
    "not_achieved",
    "unconfirmed",
    "no_status",
    "not_evaluated",
    "inferred",
)
Values = dict[str, Any]  # part of an answer as plain data, in its response model's field order


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
        _is(and_(e.status.is_not(None), e.provenance == "inferred")).label("inferred"),
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


def _counts(row: Mapping[Any, Any]) -> Values:
    """The counts of one aggregate row, with their rate."""
    counts: Values = {name: int(row[name] or 0) for name in COUNT_FIELDS}
    return _with_rates(counts)


def _with_rates(counts: Values) -> Values:
    """The counts with their rate, and their rate over every counted initiative."""
    counts["rate"] = achievement_rate(counts["achieved"], counts["items"])
    every = counts["items"] + counts["no_status"] + counts["not_evaluated"]
    counts["rate_all_items"] = achievement_rate(counts["achieved"], every)
    return counts


def _add(parts: Iterable[Mapping[str, Any]]) -> Values:
    """The sum of several counts, with its own rate (never an average of rates)."""
    totals: Values = dict.fromkeys(COUNT_FIELDS, 0)
    for part in parts:
        for name in COUNT_FIELDS:
            totals[name] += part[name]
    return _with_rates(totals)


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


def _published_from(rows: Sequence[Mapping[Any, Any]]) -> Values | None:
    """The `Published` block from the rows of _PUBLISHED, or None when there is no report."""
    if not rows:
        return None
    lines = [
        {
            "policy_id": row["policy_id"],
            "number": row["number"],
            "items": row["items"],
            "achieved": row["achieved"],
            "unconfirmed": row["unconfirmed"],
            "rate": achievement_rate(row["achieved"], row["items"]),
        }
        for row in rows
        if row["policy_id"] is not None
    ]
    items = sum(line["items"] for line in lines)
    achieved = sum(line["achieved"] for line in lines)
    return {
        "report_id": rows[0]["id"],
        "title": rows[0]["title"],
        "source": rows[0]["source"],
        "total": {
            "items": items,
            "achieved": achieved,
            "unconfirmed": sum(line["unconfirmed"] for line in lines),
            "rate": achievement_rate(achieved, items),
        },
        "policies": lines,
    }


def _agree(computed: Mapping[str, Any], published: Mapping[str, Any] | None) -> bool:
    if published is None:
        return bool(computed["items"] == 0)
    return all(computed[name] == published[name] for name in ("items", "achieved", "unconfirmed"))


def _achievement_query() -> Select[Any]:
    """Counts per measure of one plan, with its policy, its plan's names, and a row for a
    policy without measures; a plan without policies gives one row of nulls, and a plan
    that does not exist gives none (so no other read is needed to tell a 404)."""
    keys = (
        plans.c.slug.label("plan_slug"),
        plans.c.municipality_code,
        plans.c.municipality_name,
        plans.c.license,
        plans.c.license_url,
        plans.c.start_fiscal_year,
        plans.c.end_fiscal_year,
        policies.c.id.label("policy_id"),
        policies.c.number.label("policy_number"),
        policies.c.title.label("policy_title"),
        measures.c.id.label("measure_id"),
        measures.c.number.label("measure_number"),
        measures.c.title.label("measure_title"),
    )
    joined = (
        plans.outerjoin(policies, policies.c.plan_id == plans.c.id)
        .outerjoin(measures, measures.c.policy_id == policies.c.id)
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
        .where(plans.c.id == PLAN)
        .group_by(*keys)
        .order_by(policies.c.number, measures.c.number)
    )


ACHIEVEMENT = Prepared(_achievement_query())  # built once: only the bound values change
PUBLISHED = Prepared(_PUBLISHED)


def check_in_period(fiscal_year: int, start: int, end: int) -> None:
    """Refuse (422) a year the plan does not run: its figures would be zeros that mean nothing."""
    if reason := outside_period(fiscal_year, start, end):
        raise InvalidInput.at(["query", "fiscal_year"], reason, "outside_period")


async def read_achievement(
    *, reader: Reader, plan_id: int, fiscal_year: int, with_version: bool = False
) -> tuple[Values, tables.PlanInfo, int | None]:
    """The achievement of one plan, as plain data in the field order of `Achievement`; the
    plan's names (for a CSV file); and, asked for, the data version, read first.

    The statements go together: on PostgreSQL in one round trip (Reader.batch). The answer
    is built from plain dicts, not validated models: shaping through pydantic cost nearly as
    much as the aggregate itself (bench/README.md), and tests/test_stats.py checks that this
    data validates as `Achievement` and serializes to the same JSON as the model would.
    """
    values = {"plan_id": plan_id, "year": fiscal_year}
    statements = [(ACHIEVEMENT, values), (PUBLISHED, values)]
    if with_version:
        statements.insert(0, (VERSION, {}))
    *versions, rows, published = await reader.batch(*statements)
    if not rows:
        raise NotFound(f"plan {plan_id} does not exist")
    first = rows[0]
    check_in_period(fiscal_year, first["start_fiscal_year"], first["end_fiscal_year"])
    info = tables.PlanInfo(
        first["municipality_code"],
        first["municipality_name"],
        first["plan_slug"],
        first["license"],
        first["license_url"],
    )
    version = None
    if with_version:  # the version row's value, or 0 before the first write (read_version)
        version = versions[0][0]["version"] if versions[0] else 0
    return _achievement_from(rows, _published_from(published), plan_id, fiscal_year), info, version


def _achievement_from(
    rows: Sequence[Mapping[str, Any]],
    published: Values | None,
    plan_id: int,
    fiscal_year: int,
) -> Values:
    """Shape the per-measure counts and the published report into the answer."""
    policies_by_id: dict[int, Values] = {}
    for row in rows:
        policy_id = row["policy_id"]
        if policy_id is None:
            continue  # a plan without policies yet
        policy = policies_by_id.get(policy_id)
        if policy is None:
            policy = policies_by_id[policy_id] = {
                "policy_id": policy_id,
                "number": row["policy_number"],
                "title": row["policy_title"],
                "measures": [],
            }
        if row["measure_id"] is not None:  # else a policy without measures yet
            policy["measures"].append(
                {
                    "measure_id": row["measure_id"],
                    "number": row["measure_number"],
                    "title": row["measure_title"],
                    **_counts(row),
                }
            )
    policy_stats = [
        {
            "policy_id": policy["policy_id"],
            "number": policy["number"],
            "title": policy["title"],
            **_add(policy["measures"]),
            "measures": policy["measures"],
        }
        for policy in policies_by_id.values()
    ]
    total = _add(policy_stats)
    matches = published is not None and _agree(total, published["total"])
    if published is not None:
        lines = {line["policy_id"]: line for line in published["policies"]}
        matches = matches and all(
            _agree(policy, lines.get(policy["policy_id"])) for policy in policy_stats
        )
        known = policies_by_id.keys()
        matches = matches and all(line["policy_id"] in known for line in published["policies"])
    return {
        "plan_id": plan_id,
        "fiscal_year": fiscal_year,
        "fiscal_year_label": fiscal_year_label(fiscal_year),
        "method": METHOD,
        "total": total,
        "policies": policy_stats,
        "published": published,
        "matches_published": matches,
        "caveats": caveats.of_counts(total, published["total"] if published else None),
    }


# The year a statistic is about when none is asked for: the latest evaluated, else the
# latest reported, else the plan's first (of one plan, or of all of them).
def _in_plan(column: Any, plan: bool) -> list[ColumnElement[bool]]:
    return [column == PLAN] if plan else []


_DEFAULT_YEAR = {
    plan: (
        Prepared(
            select(func.max(evaluations.c.fiscal_year))
            .join(initiatives, initiatives.c.id == evaluations.c.initiative_id)
            .where(*_in_plan(initiatives.c.plan_id, plan))
        ),
        Prepared(select(func.max(reports.c.fiscal_year)).where(*_in_plan(reports.c.plan_id, plan))),
        Prepared(select(func.min(plans.c.start_fiscal_year)).where(*_in_plan(plans.c.id, plan))),
    )
    for plan in (True, False)
}


async def read_default_year(reader: Reader, plan_id: int | None) -> int:
    """The fiscal year a statistic shows when none is asked for."""
    values = {} if plan_id is None else {"plan_id": plan_id}
    for statement in _DEFAULT_YEAR[plan_id is not None]:
        year = await reader.scalar(statement, **values)
        if year is not None:
            return int(year)
    raise InvalidInput.at(["query", "fiscal_year"], "there is no data to choose a year from")


_PLAN_TOTALS = Prepared(_counts_by([initiatives.c.plan_id], [initiatives.c.plan_id == PLAN]))


async def trend(*, reader: Reader, plan: Any) -> Trend:
    """The totals of each year of the plan's period (at most a handful), computed and
    published, in one batch."""
    years = range(plan.start_fiscal_year, plan.end_fiscal_year + 1)
    statements = []
    for year in years:
        values = {"plan_id": plan.id, "year": year}
        statements += [(_PLAN_TOTALS, values), (PUBLISHED, values)]
    found = await reader.batch(*statements)
    rows = []
    for index, year in enumerate(years):
        totals, lines = found[2 * index], found[2 * index + 1]
        computed = _counts(totals[0]) if totals else _add([])
        published = _published_from(lines)
        reported = published["total"] if published else None
        rows.append(
            YearStats(
                fiscal_year=year,
                fiscal_year_label=fiscal_year_label(year),
                computed=computed,
                published=reported,
                matches_published=reported is not None and _agree(computed, reported),
            )
        )
    return Trend(plan_id=plan.id, years=rows)


_STATUS = func.coalesce(evaluations.c.status, "none")
_SUMMARY = (
    Prepared(select(func.count()).select_from(policies).where(policies.c.plan_id == PLAN)),
    Prepared(select(func.count()).select_from(measures).where(measures.c.plan_id == PLAN)),
    Prepared(
        select(
            initiatives.c.fiscal_year,
            func.count().label("initiatives"),
            _is(initiatives.c.numeric_target.is_(True)).label("numeric_targets"),
        )
        .where(initiatives.c.plan_id == PLAN)
        .group_by(initiatives.c.fiscal_year)
        .order_by(initiatives.c.fiscal_year)
    ),
    Prepared(
        select(evaluations.c.fiscal_year, _STATUS.label("status"), func.count().label("count"))
        .join(initiatives, initiatives.c.id == evaluations.c.initiative_id)
        .where(initiatives.c.plan_id == PLAN)
        .group_by(evaluations.c.fiscal_year, _STATUS)
        .order_by(evaluations.c.fiscal_year, _STATUS)
    ),
    # Evaluations with a status the document does not state (for the caveats).
    Prepared(
        select(func.count())
        .select_from(evaluations)
        .join(initiatives, initiatives.c.id == evaluations.c.initiative_id)
        .where(
            initiatives.c.plan_id == PLAN,
            evaluations.c.status.is_not(None),
            evaluations.c.provenance == "inferred",
        )
    ),
    # The latest published table's items and achieved, to tell what share we hold.
    Prepared(
        select(
            reports.c.fiscal_year,
            func.sum(report_lines.c["items"]).label("items"),
            func.sum(report_lines.c.achieved).label("achieved"),
        )
        .join(report_lines, report_lines.c.report_id == reports.c.id)
        .where(reports.c.plan_id == PLAN)
        .group_by(reports.c.fiscal_year)
        .order_by(reports.c.fiscal_year.desc())
        .limit(1)
    ),
)


def _summary_caveats(initiatives: int, inferred: int, latest: Sequence[Any]) -> list[str]:
    found = []
    if latest and initiatives < int(latest[0]["items"] or 0):
        items, achieved = int(latest[0]["items"]), int(latest[0]["achieved"] or 0)
        found.append(caveats.selection(initiatives, items, achievement_rate(achieved, items)))
    if inferred:
        found.append(caveats.inferred(inferred))
    return found


async def summary(*, reader: Reader, plan_id: int) -> Summary:
    values = {"plan_id": plan_id}
    (
        policy_rows,
        measure_rows,
        by_year_rows,
        by_status_rows,
        inferred_rows,
        latest,
    ) = await reader.batch(*((statement, values) for statement in _SUMMARY))
    policy_count = next(iter(policy_rows[0].values()))
    measure_count = next(iter(measure_rows[0].values()))
    by_year = [SimpleNamespace(**row) for row in by_year_rows]
    by_status = [SimpleNamespace(**row) for row in by_status_rows]
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
        caveats=_summary_caveats(
            sum(row.initiatives for row in by_year),
            int(next(iter(inferred_rows[0].values())) or 0),
            latest,
        ),
    )


_TARGETS = Prepared(
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
                evaluations.c.fiscal_year == YEAR,
            ),
        )
    )
    .where(initiatives.c.plan_id == PLAN, initiatives.c.numeric_target.is_(True))
    .order_by(initiatives.c.code_sort)
)


async def targets(*, reader: Reader, plan_id: int, fiscal_year: int) -> Targets:
    rows = await reader.all(_TARGETS, plan_id=plan_id, year=fiscal_year)
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


# The aggregate of /stats/plans: the counts of every plan for one fiscal year (also run by
# bench/ as its floor).
_PLAN_COUNTS = _counts_by([initiatives.c.plan_id], [])
PLAN_COUNTS = Prepared(_PLAN_COUNTS)


def _plans_query() -> Select[Any]:
    """One row per plan: its names, its counts (_PLAN_COUNTS) and its published totals."""
    counts = _PLAN_COUNTS.subquery("counts")
    reported = (
        select(
            reports.c.plan_id,
            func.sum(report_lines.c["items"]).label("items"),
            func.sum(report_lines.c.achieved).label("achieved"),
            func.sum(report_lines.c.unconfirmed).label("unconfirmed"),
        )
        .join(report_lines, report_lines.c.report_id == reports.c.id)
        .where(reports.c.fiscal_year == YEAR)
        .group_by(reports.c.plan_id)
        .subquery("reported")
    )
    return (
        select(
            plans.c.id.label("plan_id"),
            plans.c.slug,
            plans.c.title,
            plans.c.municipality_code,
            plans.c.municipality_name,
            *(counts.c[name] for name in COUNT_FIELDS),
            reported.c["items"].label("published_items"),
            reported.c.achieved.label("published_achieved"),
            reported.c.unconfirmed.label("published_unconfirmed"),
        )
        .select_from(
            plans.outerjoin(counts, counts.c.plan_id == plans.c.id).outerjoin(
                reported, reported.c.plan_id == plans.c.id
            )
        )
        .order_by(plans.c.municipality_code, plans.c.start_fiscal_year, plans.c.id)
    )


_PLANS = Prepared(_plans_query())


async def plan_comparison(*, reader: Reader, fiscal_year: int) -> Values:
    """Every plan's figures for one fiscal year (one statement), as plain data in the field
    order of `PlanComparison` (tests/test_stats.py checks it against the model)."""
    items = []
    for row in await reader.all(_PLANS, year=fiscal_year):
        reported = row["published_items"] is not None
        achieved = int(row["published_achieved"]) if reported else None
        listed = int(row["published_items"]) if reported else None
        items.append(
            {
                "plan_id": row["plan_id"],
                "slug": row["slug"],
                "title": row["title"],
                "municipality_code": row["municipality_code"],
                "municipality_name": row["municipality_name"],
                **_counts(row),
                "published_items": listed,
                "published_achieved": achieved,
                "published_unconfirmed": int(row["published_unconfirmed"]) if reported else None,
                "published_rate": (
                    achievement_rate(achieved, listed)
                    if achieved is not None and listed is not None
                    else None
                ),
            }
        )
    return {
        "fiscal_year": fiscal_year,
        "fiscal_year_label": fiscal_year_label(fiscal_year),
        "method": METHOD,
        "items": items,
    }
