"""Report queries: a report with its lines and highlights, in three queries per page."""

from collections import defaultdict
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import Session

from app.errors import NotFound
from app.http import PageParams, order_by
from app.models import initiatives, policies, report_highlights, report_lines, reports
from app.reports.schemas import ReportHighlightPublic, ReportLinePublic, ReportPublic
from app.wareki import fiscal_year_label


class ReportSort(StrEnum):
    id = "id"
    fiscal_year = "fiscal_year"
    plan_id = "plan_id"
    updated_at = "updated_at"


SORT_COLUMNS = {field.value: reports.c[field.value] for field in ReportSort}
DEFAULT_SORT = "plan_id,fiscal_year"


def _filtered(query: Select[Any], plan_id: int | None, fiscal_year: int | None) -> Select[Any]:
    if plan_id is not None:
        query = query.where(reports.c.plan_id == plan_id)
    if fiscal_year is not None:
        query = query.where(reports.c.fiscal_year == fiscal_year)
    return query


def _public(session: Session, rows: list[Any]) -> list[ReportPublic]:
    ids = [row["id"] for row in rows]
    lines: dict[int, list[ReportLinePublic]] = defaultdict(list)
    line_rows = session.execute(
        select(report_lines, policies.c.number.label("policy_number"))
        .join(policies, policies.c.id == report_lines.c.policy_id)
        .where(report_lines.c.report_id.in_(ids))
        .order_by(policies.c.number)
    ).mappings()
    for line in line_rows:
        lines[line["report_id"]].append(ReportLinePublic.model_validate(line))
    highlights: dict[int, list[ReportHighlightPublic]] = defaultdict(list)
    highlight_rows = session.execute(
        select(report_highlights, initiatives.c.code)
        .join(initiatives, initiatives.c.id == report_highlights.c.initiative_id)
        .where(report_highlights.c.report_id.in_(ids))
        .order_by(report_highlights.c.section.desc(), initiatives.c.code_sort)
    ).mappings()
    for highlight in highlight_rows:
        highlights[highlight["report_id"]].append(ReportHighlightPublic.model_validate(highlight))
    return [
        ReportPublic.model_validate(
            {
                **row,
                "fiscal_year_label": fiscal_year_label(row["fiscal_year"]),
                "lines": lines[row["id"]],
                "highlights": highlights[row["id"]],
            }
        )
        for row in rows
    ]


def list_reports(
    *,
    session: Session,
    plan_id: int | None,
    fiscal_year: int | None,
    page: PageParams,
    sort: str | None,
) -> tuple[list[ReportPublic], int]:
    count = _filtered(select(func.count()).select_from(reports), plan_id, fiscal_year)
    default = [reports.c.plan_id, reports.c.fiscal_year]
    query = (
        _filtered(select(reports), plan_id, fiscal_year)
        .order_by(*order_by(sort, SORT_COLUMNS, default, reports.c.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    rows = list(session.execute(query).mappings())
    return _public(session, rows), session.scalar(count) or 0


def get_report(*, session: Session, report_id: int) -> ReportPublic:
    row = session.execute(select(reports).where(reports.c.id == report_id)).mappings().first()
    if row is None:
        raise NotFound(f"report {report_id} does not exist")
    return _public(session, [row])[0]
