"""Statistics as CSV tables: one row per scope, year, initiative, plan or counted item."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.exports.csv import Column
from app.stats.schemas import (
    Achievement,
    Counts,
    PlanComparison,
    PublishedCounts,
    Summary,
    Targets,
    Trend,
)


@dataclass(frozen=True)
class PlanInfo:
    municipality_code: str
    municipality_name: str
    slug: str
    license: str | None = None
    license_url: str | None = None


@dataclass(frozen=True)
class Table:
    columns: Sequence[Column]
    rows: list[list[Any]]
    plan: PlanInfo | None = None  # the plan whose licence the CSV carries (None: several)


PLAN = [
    Column("municipality_code", "全国地方公共団体コード"),
    Column("municipality_name", "地方公共団体名"),
    Column("plan_slug", "計画"),
]
YEAR = [Column("fiscal_year", "年度"), Column("fiscal_year_label", "年度（和暦）")]
COUNTS = [
    Column("items", "項目数"),
    Column("achieved", "達成"),
    Column("not_achieved", "未達成"),
    Column("unconfirmed", "数値未確定"),
    Column("no_status", "評価なし"),
    Column("not_evaluated", "未評価"),
    Column("inferred", "うち推定"),
    Column("rate", "達成率"),
    Column("rate_all_items", "達成率（評価なしを含む）"),
]
PUBLISHED = [
    Column("published_items", "公表項目数"),
    Column("published_achieved", "公表達成"),
    Column("published_unconfirmed", "公表数値未確定"),
    Column("published_rate", "公表達成率"),
]
MATCHES = [Column("matches_published", "公表値と一致")]
NOTE = Column("caveats", "注記")


def percent(rate: float | None) -> str | None:
    """A rate as the document writes it: one decimal always (100.0, not 100)."""
    return None if rate is None else f"{rate:.1f}"


def _plan(plan: PlanInfo) -> list[Any]:
    return [plan.municipality_code, plan.municipality_name, plan.slug]


def _counts(counts: Counts) -> list[Any]:
    return [
        counts.items,
        counts.achieved,
        counts.not_achieved,
        counts.unconfirmed,
        counts.no_status,
        counts.not_evaluated,
        counts.inferred,
        percent(counts.rate),
        percent(counts.rate_all_items),
    ]


def _published(published: PublishedCounts | None) -> list[Any]:
    if published is None:
        return [None, None, None, None]
    return [published.items, published.achieved, published.unconfirmed, percent(published.rate)]


def achievement_table(stats: Achievement, plan: PlanInfo) -> Table:
    columns = [
        Column("scope", "区分"),
        *PLAN,
        *YEAR,
        Column("policy_number", "基本方針番号"),
        Column("measure_number", "施策番号"),
        Column("title", "名称"),
        *COUNTS,
        *PUBLISHED,
        *MATCHES,
        NOTE,
    ]
    year = [stats.fiscal_year, stats.fiscal_year_label]
    published = stats.published
    lines = {line.policy_id: line for line in published.policies} if published else {}
    rows = [
        [
            "total",
            *_plan(plan),
            *year,
            None,
            None,
            None,
            *_counts(stats.total),
            *_published(published.total if published else None),
            stats.matches_published,
            # What the figures rest on goes with the total, as the JSON's caveats do.
            "".join(stats.caveats) or None,
        ]
    ]
    for policy in stats.policies:
        line = lines.get(policy.policy_id)
        rows.append(
            [
                "policy",
                *_plan(plan),
                *year,
                policy.number,
                None,
                policy.title,
                *_counts(policy),
                *_published(line),
                None,
                None,
            ]
        )
        for measure in policy.measures:
            rows.append(
                [
                    "measure",
                    *_plan(plan),
                    *year,
                    policy.number,
                    measure.number,
                    measure.title,
                    *_counts(measure),
                    *_published(None),
                    None,
                    None,
                ]
            )
    return Table(columns, rows, plan)


def trend_table(stats: Trend, plan: PlanInfo) -> Table:
    columns = [*PLAN, *YEAR, *COUNTS, *PUBLISHED, *MATCHES]
    rows = [
        [
            *_plan(plan),
            year.fiscal_year,
            year.fiscal_year_label,
            *_counts(year.computed),
            *_published(year.published),
            year.matches_published,
        ]
        for year in stats.years
    ]
    return Table(columns, rows, plan)


def _year(row: Any) -> list[Any]:
    return [row.fiscal_year, row.fiscal_year_label]


def summary_table(stats: Summary, plan: PlanInfo) -> Table:
    columns = [
        *PLAN,
        Column("item", "集計項目"),
        *YEAR,
        Column("status", "評価"),
        Column("count", "件数"),
        NOTE,
    ]
    rows: list[list[Any]] = [
        [*_plan(plan), "policies", None, None, None, stats.policies, None],
        [*_plan(plan), "measures", None, None, None, stats.measures, None],
        [*_plan(plan), "initiatives", None, None, None, stats.initiatives, None],
        [*_plan(plan), "numeric_targets", None, None, None, stats.numeric_targets, None],
        [*_plan(plan), "evaluations", None, None, None, stats.evaluations, None],
    ]
    # One row per caveat, before the counts by year: a reader meets it first.
    rows += [[*_plan(plan), "caveat", None, None, None, None, text] for text in stats.caveats]
    for name, counts in (
        ("initiatives", stats.initiatives_by_fiscal_year),
        ("numeric_targets", stats.numeric_targets_by_fiscal_year),
    ):
        rows += [
            [*_plan(plan), name, row.fiscal_year, row.fiscal_year_label, None, row.count, None]
            for row in counts
        ]
    rows += [
        [
            *_plan(plan),
            "evaluations",
            row.fiscal_year,
            row.fiscal_year_label,
            row.status,
            row.count,
            None,
        ]
        for row in stats.evaluations_by_status
    ]
    return Table(columns, rows, plan)


def targets_table(stats: Targets, plan: PlanInfo) -> Table:
    columns = [
        *PLAN,
        *YEAR,
        Column("code", "取組番号"),
        Column("title", "取組事項"),
        Column("target_value", "目標値"),
        Column("target_unit", "単位"),
        Column("actual_value", "実績値"),
        Column("status", "評価"),
        Column("percent_of_target", "目標に対する割合"),
    ]
    rows = [
        [
            *_plan(plan),
            stats.fiscal_year,
            stats.fiscal_year_label,
            row.code,
            row.title,
            row.target_value,
            row.target_unit,
            row.actual_value,
            row.status,
            percent(row.percent_of_target),
        ]
        for row in stats.items
    ]
    return Table(columns, rows, plan)


def plans_table(stats: PlanComparison) -> Table:
    columns = [*PLAN, Column("title", "計画名"), *YEAR, *COUNTS, *PUBLISHED]
    rows = [
        [
            row.municipality_code,
            row.municipality_name,
            row.slug,
            row.title,
            stats.fiscal_year,
            stats.fiscal_year_label,
            *_counts(row),
            row.published_items,
            row.published_achieved,
            row.published_unconfirmed,
            percent(row.published_rate),
        ]
        for row in stats.items
    ]
    return Table(columns, rows)
