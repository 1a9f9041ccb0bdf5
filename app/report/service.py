"""What the progress report of one plan and fiscal year shows, read in one batch.

The report follows the city's document (seed/source/kanazawa-plan-progress-r6.txt; app/ingest.py
reads that format into the same tables): the plan, its policies and measures, the published
table beside the computed one, then the initiatives the report lists as carried out that
year (highlights "implemented") and those it adds (highlights "added").
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, and_, bindparam, select

from app.errors import NotFound
from app.models import (
    evaluations,
    initiatives,
    measures,
    plans,
    policies,
    report_highlights,
    reports,
)
from app.reads import Prepared, Reader, Row
from app.stats.service import read_achievement
from app.wareki import fiscal_year_label

PLAN = bindparam("plan_id", type_=Integer)
YEAR = bindparam("year", type_=Integer)

_PLAN = Prepared(select(plans).where(plans.c.id == PLAN))
_POLICIES = Prepared(select(policies).where(policies.c.plan_id == PLAN).order_by(policies.c.number))
_MEASURES = Prepared(
    select(measures.c.id, measures.c.policy_id, measures.c.number, measures.c.title)
    .join(policies, policies.c.id == measures.c.policy_id)
    .where(measures.c.plan_id == PLAN)
    .order_by(policies.c.number, measures.c.number)
)
_REPORT = Prepared(select(reports).where(reports.c.plan_id == PLAN, reports.c.fiscal_year == YEAR))
# The report's highlighted initiatives in the document's order: carried out, then added;
# each by policy, measure and code; with the initiative's evaluation of the report's year.
_HIGHLIGHTS = Prepared(
    select(
        report_highlights.c.section,
        initiatives.c.id,
        initiatives.c.code,
        initiatives.c.title,
        initiatives.c.description,
        initiatives.c.plan_page,
        initiatives.c.fiscal_year,
        initiatives.c.numeric_target,
        policies.c.number.label("policy_number"),
        policies.c.title.label("policy_title"),
        policies.c.focus.label("policy_focus"),
        measures.c.number.label("measure_number"),
        measures.c.title.label("measure_title"),
        evaluations.c.status,
        evaluations.c.result,
    )
    .select_from(
        report_highlights.join(reports, reports.c.id == report_highlights.c.report_id)
        .join(initiatives, initiatives.c.id == report_highlights.c.initiative_id)
        .join(measures, measures.c.id == initiatives.c.measure_id)
        .join(policies, policies.c.id == measures.c.policy_id)
        .outerjoin(
            evaluations,
            and_(
                evaluations.c.initiative_id == initiatives.c.id,
                evaluations.c.fiscal_year == reports.c.fiscal_year,
            ),
        )
    )
    .where(reports.c.plan_id == PLAN, reports.c.fiscal_year == YEAR)
    .order_by(
        report_highlights.c.section.desc(),  # "implemented" before "added"
        policies.c.number,
        measures.c.number,
        initiatives.c.code_sort,
    )
)


@dataclass
class ProgressReport:
    """The report's content: rows as the database gives them, and the achievement answer
    of /stats/achievement (computed and published figures, `caveats` when it has them)."""

    plan: Row
    fiscal_year: int
    report: Row
    policies: list[Row]
    measures: list[Row]
    achievement: dict[str, Any]
    implemented: list[Row]
    added: list[Row]

    @property
    def label(self) -> str:
        return fiscal_year_label(self.fiscal_year)


async def read_progress_report(*, reader: Reader, plan_id: int, fiscal_year: int) -> ProgressReport:
    """The report of plan_id for fiscal_year; NotFound for an unknown plan or a year the
    plan has no report for."""
    values = {"plan_id": plan_id, "year": fiscal_year}
    plan, report, found_policies, found_measures, highlights = await reader.batch(
        (_PLAN, {"plan_id": plan_id}),
        (_REPORT, values),
        (_POLICIES, {"plan_id": plan_id}),
        (_MEASURES, {"plan_id": plan_id}),
        (_HIGHLIGHTS, values),
    )
    if not plan:
        raise NotFound(f"plan {plan_id} does not exist")
    if not report:
        raise NotFound(
            f"plan {plan_id} has no report for {fiscal_year_label(fiscal_year)} ({fiscal_year})"
        )
    achievement, _, _ = await read_achievement(
        reader=reader, plan_id=plan_id, fiscal_year=fiscal_year
    )
    return ProgressReport(
        plan=plan[0],
        fiscal_year=fiscal_year,
        report=report[0],
        policies=found_policies,
        measures=found_measures,
        achievement=achievement,
        implemented=[row for row in highlights if row["section"] == "implemented"],
        added=[row for row in highlights if row["section"] == "added"],
    )
