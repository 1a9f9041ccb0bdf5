"""What each export holds: its columns (as the contract lists them) and the one query that
reads its rows.

The columns are exactly those the bulk import accepts, so an export read back in changes
nothing. Derived columns (年度（和暦）, 推進期間, 達成率) are computed
from the row.
"""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, Table, select

from app.declare import ERA_LABEL, FISCAL_YEAR, column_type, labelled
from app.evaluations.schemas import EvaluationFields
from app.exports.csv import Column, HeaderLanguage
from app.initiatives.schemas import InitiativeFields
from app.models import (
    evaluations,
    initiatives,
    measures,
    plans,
    policies,
    report_highlights,
    report_lines,
    reports,
)
from app.provenance import PLAN_FACTS, PROVENANCE_JA, REPORT_FACTS, Provenance, full
from app.rates import achievement_rate
from app.wareki import fiscal_year_label, period_label

STATUS_JA = {"achieved": "達成", "not_achieved": "未達成", "unconfirmed": "数値未確定"}
# The report's two lists of initiatives: 実施した主な取組事項 and 追加した主な取組事項.
SECTION_JA = {"implemented": "実施", "added": "追加"}

MUNICIPALITY = [
    Column(
        "municipality_code",
        "全国地方公共団体コード",
        "string",
        "全国地方公共団体コード（6桁）",
        "Local government code (6 digits, text)",
    ),
    Column(
        "municipality_name", "地方公共団体名", "string", "地方公共団体名", "Local government name"
    ),
    Column("plan_slug", "計画", "string", "計画の識別子 (slug)", "Plan identifier (slug)"),
]
YEAR = [
    Column(
        "fiscal_year",
        FISCAL_YEAR.ja,
        "integer",
        FISCAL_YEAR.description,
        FISCAL_YEAR.description_en,
    ),
    Column(
        ERA_LABEL,
        "年度（和暦）",
        "string",
        "年度（和暦）: 令和6年度など",
        "Fiscal year in the Japanese era (e.g. 令和6年度)",
    ),
]


def declared_columns(model: type[BaseModel]) -> list[Column]:
    """The export's columns of a resource's declared fields (app/declare.py), in declared
    order; a fiscal year comes with its era label beside it."""
    columns: list[Column] = []
    for name, annotation, label in labelled(model):
        kind = column_type(annotation)
        columns.append(Column(name, label.ja, kind, label.description, label.description_en))
        if name == "fiscal_year":
            columns.append(YEAR[1])
    return columns


def _selected(table: Table, model: type[BaseModel]) -> list[Any]:
    """The table's columns of a resource's exported declared fields."""
    return [table.c[name] for name, _, _ in labelled(model)]


@dataclass(frozen=True)
class Export:
    name: str
    title: str
    columns: list[Column]
    query: Callable[[int | None], Select[Any]]
    derive: Callable[[dict[str, Any], HeaderLanguage], None] = lambda row, language: None

    def values(self, row: Mapping[Any, Any], language: HeaderLanguage) -> list[Any]:
        data = dict(row)
        if "fiscal_year" in data:
            data["fiscal_year_label"] = fiscal_year_label(data["fiscal_year"])
        self.derive(data, language)
        return [data.get(column.en) for column in self.columns]


def _plan_columns() -> list[Any]:
    return [
        plans.c.municipality_code,
        plans.c.municipality_name,
        plans.c.slug.label("plan_slug"),
    ]


def _where_plan(query: Select[Any], plan_id: int | None) -> Select[Any]:
    return query if plan_id is None else query.where(plans.c.id == plan_id)


def _plans(plan_id: int | None) -> Select[Any]:
    query = select(
        *_plan_columns(),
        plans.c.title,
        plans.c.philosophy,
        plans.c.start_fiscal_year,
        plans.c.end_fiscal_year,
        plans.c.source,
        plans.c.license,
        plans.c.license_url,
        plans.c.attribution,
        plans.c.provenance,
    ).order_by(plans.c.municipality_code, plans.c.start_fiscal_year, plans.c.id)
    return _where_plan(query, plan_id)


def _facts(facts: tuple[str, ...], stored: Any) -> str:
    """A provenance map as one cell: compact JSON, every fact named (a Table Schema object)."""
    return json.dumps(full(facts, stored), ensure_ascii=False, separators=(",", ":"))


def _plan_derive(row: dict[str, Any], _language: HeaderLanguage) -> None:
    row["period_label"] = period_label(row["start_fiscal_year"], row["end_fiscal_year"])
    row["provenance"] = _facts(PLAN_FACTS, row["provenance"])


def _policies(plan_id: int | None) -> Select[Any]:
    query = (
        select(
            *_plan_columns(),
            policies.c.number.label("policy_number"),
            policies.c.title,
            policies.c.focus,
        )
        .join(plans, plans.c.id == policies.c.plan_id)
        .order_by(plans.c.id, policies.c.number)
    )
    return _where_plan(query, plan_id)


def _measures(plan_id: int | None) -> Select[Any]:
    query = (
        select(
            *_plan_columns(),
            policies.c.number.label("policy_number"),
            measures.c.number.label("measure_number"),
            measures.c.title,
        )
        .join(policies, policies.c.id == measures.c.policy_id)
        .join(plans, plans.c.id == measures.c.plan_id)
        .order_by(plans.c.id, policies.c.number, measures.c.number)
    )
    return _where_plan(query, plan_id)


def _initiatives(plan_id: int | None) -> Select[Any]:
    query = (
        select(
            *_plan_columns(),
            policies.c.number.label("policy_number"),
            measures.c.number.label("measure_number"),
            *_selected(initiatives, InitiativeFields),
        )
        .join(measures, measures.c.id == initiatives.c.measure_id)
        .join(policies, policies.c.id == measures.c.policy_id)
        .join(plans, plans.c.id == initiatives.c.plan_id)
        .order_by(plans.c.id, initiatives.c.code_sort)
    )
    return _where_plan(query, plan_id)


def _evaluations(plan_id: int | None) -> Select[Any]:
    query = (
        select(
            *_plan_columns(),
            initiatives.c.code,
            evaluations.c.fiscal_year,
            *_selected(evaluations, EvaluationFields),
        )
        .join(initiatives, initiatives.c.id == evaluations.c.initiative_id)
        .join(plans, plans.c.id == initiatives.c.plan_id)
        .order_by(plans.c.id, evaluations.c.fiscal_year, initiatives.c.code_sort)
    )
    return _where_plan(query, plan_id)


def _status_derive(row: dict[str, Any], language: HeaderLanguage) -> None:
    if language is HeaderLanguage.ja and row.get("status") is not None:
        row["status"] = STATUS_JA[row["status"]]
    if language is HeaderLanguage.ja:
        row["provenance"] = PROVENANCE_JA[Provenance(row["provenance"])]


def _reports(plan_id: int | None) -> Select[Any]:
    query = (
        select(
            *_plan_columns(),
            reports.c.fiscal_year,
            reports.c.title,
            reports.c.published_on,
            reports.c.source,
            reports.c.provenance.label("report_provenance"),
            policies.c.number.label("policy_number"),
            report_lines.c["items"],
            report_lines.c.achieved,
            report_lines.c.unconfirmed,
            report_lines.c.provenance,
        )
        # A report without lines yet is a row of its own, its line columns empty.
        .outerjoin(report_lines, report_lines.c.report_id == reports.c.id)
        .outerjoin(policies, policies.c.id == report_lines.c.policy_id)
        .join(plans, plans.c.id == reports.c.plan_id)
        .order_by(plans.c.id, reports.c.fiscal_year, policies.c.number)
    )
    return _where_plan(query, plan_id)


def _highlights(plan_id: int | None) -> Select[Any]:
    query = (
        select(
            *_plan_columns(),
            reports.c.fiscal_year,
            initiatives.c.code,
            report_highlights.c.section,
        )
        .join(reports, reports.c.id == report_highlights.c.report_id)
        .join(initiatives, initiatives.c.id == report_highlights.c.initiative_id)
        .join(plans, plans.c.id == reports.c.plan_id)
        .order_by(plans.c.id, reports.c.fiscal_year, initiatives.c.code_sort)
    )
    return _where_plan(query, plan_id)


def _section_derive(row: dict[str, Any], language: HeaderLanguage) -> None:
    if language is HeaderLanguage.ja:
        row["section"] = SECTION_JA[row["section"]]


def _report_derive(row: dict[str, Any], language: HeaderLanguage) -> None:
    # A number with exactly one decimal, as the document writes it: Decimal keeps 100.0 from
    # becoming "100" in the CSV, and is a number in JSON and in the spreadsheet.
    row["report_provenance"] = _facts(REPORT_FACTS, row["report_provenance"])
    if language is HeaderLanguage.ja and row["provenance"] is not None:
        row["provenance"] = PROVENANCE_JA[Provenance(row["provenance"])]
    if row["items"] is None:  # a report without lines
        return
    rate = achievement_rate(row["achieved"], row["items"])
    row["rate"] = None if rate is None else Decimal(f"{rate:.1f}")


EXPORTS: dict[str, Export] = {
    "plans": Export(
        "plans",
        "計画",
        [
            *MUNICIPALITY,
            Column("title", "計画名", "string", "計画の名称", "Name of the plan"),
            Column("philosophy", "基本理念", "string", "基本理念", "Basic philosophy"),
            Column(
                "start_fiscal_year",
                "開始年度",
                "integer",
                "推進期間の最初の年度（西暦）",
                "First fiscal year of the plan's period",
            ),
            Column(
                "end_fiscal_year",
                "終了年度",
                "integer",
                "推進期間の最後の年度（西暦）",
                "Last fiscal year of the plan's period",
            ),
            Column(
                "period_label",
                "推進期間",
                "string",
                "推進期間（和暦）",
                "Plan period in the Japanese era",
            ),
            Column("source", "出典", "string", "出典", "Source"),
            Column(
                "license",
                "ライセンス",
                "string",
                "ライセンス（SPDX 識別子）",
                "Licence (SPDX identifier)",
            ),
            Column("license_url", "ライセンスURL", "string", "ライセンスの URL", "Licence URL"),
            Column(
                "attribution",
                "クレジット表記",
                "string",
                "利用時のクレジット表記",
                "Credit line to show when using the data",
            ),
            Column(
                "provenance",
                "来歴",
                "object",
                "事実ごとの来歴（JSON）: stated＝公表資料に記載、inferred＝公表資料から推定、"
                "external＝公表資料以外（団体コード、ライセンスなど）",
                "Per fact, where it comes from (JSON): stated in the document, inferred from"
                " it, or external (the municipality code, the licence...)",
            ),
        ],
        _plans,
        _plan_derive,
    ),
    "policies": Export(
        "policies",
        "基本方針",
        [
            *MUNICIPALITY,
            Column("policy_number", "基本方針番号", "integer", "基本方針の番号", "Policy number"),
            Column("title", "基本方針", "string", "基本方針の名称", "Name of the policy"),
            Column(
                "focus",
                "重点",
                "string",
                "括弧内に示された重点",
                "Focus written in brackets after the policy",
            ),
        ],
        _policies,
    ),
    "measures": Export(
        "measures",
        "施策",
        [
            *MUNICIPALITY,
            Column("policy_number", "基本方針番号", "integer", "基本方針の番号", "Policy number"),
            Column(
                "measure_number",
                "施策番号",
                "integer",
                "施策の番号（（1）は 1）",
                "Measure number ((1) is 1)",
            ),
            Column("title", "施策", "string", "施策の名称", "Name of the measure"),
        ],
        _measures,
    ),
    "initiatives": Export(
        "initiatives",
        "取組事項",
        [
            *MUNICIPALITY,
            Column("policy_number", "基本方針番号", "integer", "基本方針の番号", "Policy number"),
            Column(
                "measure_number", "施策番号", "integer", "施策の番号", "Measure number ((1) is 1)"
            ),
            *declared_columns(InitiativeFields),
        ],
        _initiatives,
    ),
    "evaluations": Export(
        "evaluations",
        "評価",
        [
            *MUNICIPALITY,
            Column(
                "code",
                "取組番号",
                "string",
                "取組番号",
                "Initiative code (e.g. R6-7), unique in the plan",
            ),
            *YEAR,
            *declared_columns(EvaluationFields),
        ],
        _evaluations,
        _status_derive,
    ),
    "reports": Export(
        "reports",
        "取組状況の公表",
        [
            *MUNICIPALITY,
            *YEAR,
            Column(
                "title", "公表資料", "string", "公表資料の名称", "Name of the published document"
            ),
            Column("published_on", "公表日", "date", "公表日", "Publication date"),
            Column("source", "出典", "string", "出典", "Source"),
            Column(
                "report_provenance",
                "公表資料の来歴",
                "object",
                "年度・名称・公表日の来歴（JSON）: stated＝記載、inferred＝推定、external＝外部",
                "Per fact of the report (fiscal year, title, publication date), where it comes"
                " from (JSON): stated, inferred or external",
            ),
            Column("policy_number", "基本方針番号", "integer", "基本方針の番号", "Policy number"),
            Column("items", "項目数", "integer", "項目数（公表値）", "Items (published)"),
            Column(
                "achieved",
                "達成",
                "integer",
                "達成した項目数（公表値）",
                "Items achieved (published)",
            ),
            Column(
                "unconfirmed",
                "数値未確定",
                "integer",
                "数値未確定の項目数（公表値）",
                "Items whose figures were not final (published)",
            ),
            Column(
                "rate",
                "達成率",
                "number",
                "達成率（％、四捨五入で小数第1位）",
                "Achievement rate in percent, half up to 0.1",
            ),
            Column(
                "provenance",
                "来歴",
                "string",
                "記載（表に記載）/ 推定（表が記さない値、例：※のない行の数値未確定 0）",
                "stated / inferred (記載 / 推定 under Japanese headers): whether the table states"
                " the line's figures, or one was inferred (a 0 unconfirmed the table leaves"
                " unsaid)",
            ),
        ],
        _reports,
        _report_derive,
    ),
    "highlights": Export(
        "highlights",
        "公表資料に掲載の取組事項",
        [
            *MUNICIPALITY,
            *YEAR,
            Column(
                "code",
                "取組番号",
                "string",
                "公表資料が掲げる取組事項の番号",
                "Code of an initiative the report names",
            ),
            Column(
                "section",
                "区分",
                "string",
                "実施（実施した主な取組事項）/ 追加（追加した主な取組事項）",
                "implemented / added (実施 / 追加 under Japanese headers)",
            ),
        ],
        _highlights,
        _section_derive,
    ),
}
