"""Report queries: a report with its lines and highlights, in three queries per page."""

from collections import defaultdict
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import Session
from sqlmodel import select as select_rows

from app.errors import Conflict, ErrorDetail, InvalidInput, NotFound
from app.listing import PageParams, order_by
from app.models import (
    Plan,
    Report,
    ReportHighlight,
    ReportLine,
    initiatives,
    policies,
    report_highlights,
    report_lines,
    reports,
    utcnow,
)
from app.reports.schemas import (
    ReportCreate,
    ReportHighlightIn,
    ReportHighlightPublic,
    ReportLineIn,
    ReportLinePublic,
    ReportPublic,
    ReportUpdate,
)
from app.wareki import fiscal_year_label, period_label
from app.writes import check_if_match, committing, delete, hold_write_lock, load


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


def _plan(session: Session, plan_id: int) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise InvalidInput.at(["body", "plan_id"], f"plan {plan_id} does not exist")
    return plan


def _check_year(plan: Plan, fiscal_year: int) -> None:
    if not plan.start_fiscal_year <= fiscal_year <= plan.end_fiscal_year:
        raise InvalidInput.at(
            ["body", "fiscal_year"],
            f"{fiscal_year_label(fiscal_year)} is outside the plan's period"
            f" {period_label(plan.start_fiscal_year, plan.end_fiscal_year)}",
        )


def _check_free(session: Session, plan_id: int, year: int, report_id: int | None = None) -> None:
    query = select(reports.c.id).where(reports.c.plan_id == plan_id, reports.c.fiscal_year == year)
    if report_id is not None:
        query = query.where(reports.c.id != report_id)
    if session.scalar(query) is not None:
        raise Conflict(
            f"plan {plan_id} has a report for {fiscal_year_label(year)} already; change that one"
        )


def _check_members(
    session: Session, plan_id: int, field: str, ids: list[int], table: Any, noun: str
) -> None:
    """Every id must be a `noun` of the plan, named once: else 422 naming each bad entry."""
    rows = session.execute(select(table.c.id, table.c.plan_id).where(table.c.id.in_(ids)))
    owners = {member_id: plan_id for member_id, plan_id in rows}
    errors = []
    seen: set[int] = set()
    for index, member_id in enumerate(ids):
        if member_id not in owners:
            message = f"{noun} {member_id} does not exist"
        elif owners[member_id] != plan_id:
            message = f"{noun} {member_id} belongs to another plan"
        elif member_id in seen:
            message = f"{noun} {member_id} is named twice"
        else:
            seen.add(member_id)
            continue
        loc: list[str | int] = ["body", field, index, f"{noun}_id"]
        errors.append(ErrorDetail(loc=loc, msg=message, type="value_error"))
    if errors:
        raise InvalidInput(errors[0].msg, errors=errors)


def _replace_parts(
    session: Session,
    report: Report,
    lines: list[ReportLineIn] | None,
    highlights: list[ReportHighlightIn] | None,
) -> bool:
    """Replace the report's lines and highlights that differ; return whether any did."""
    report_id = report.id
    assert report_id is not None
    changed = False
    if lines is not None:
        current = session.exec(
            select_rows(ReportLine).where(ReportLine.report_id == report_id)
        ).all()
        wanted = {(line.policy_id, line.items, line.achieved, line.unconfirmed) for line in lines}
        have = {(row.policy_id, row.items, row.achieved, row.unconfirmed) for row in current}
        if wanted != have:
            for row in current:
                session.delete(row)
            session.flush()
            session.add_all(ReportLine(report_id=report_id, **line.model_dump()) for line in lines)
            changed = True
    if highlights is not None:
        existing = session.exec(
            select_rows(ReportHighlight).where(ReportHighlight.report_id == report_id)
        ).all()
        wanted_h = {(item.initiative_id, item.section.value) for item in highlights}
        have_h = {(row.initiative_id, row.section) for row in existing}
        if wanted_h != have_h:
            for old in existing:
                session.delete(old)
            session.flush()
            session.add_all(
                ReportHighlight(report_id=report_id, **item.model_dump(mode="json"))
                for item in highlights
            )
            changed = True
    return changed


def create_report(*, session: Session, report_in: ReportCreate) -> int:
    """Create a report for a year of its plan's period (checked under the write lock, so a
    narrowing of the period cannot pass it meanwhile)."""
    hold_write_lock(session)
    plan = _plan(session, report_in.plan_id)
    _check_year(plan, report_in.fiscal_year)
    policy_ids = [line.policy_id for line in report_in.lines]
    _check_members(session, plan.id or 0, "lines", policy_ids, policies, "policy")
    initiative_ids = [item.initiative_id for item in report_in.highlights]
    _check_members(session, plan.id or 0, "highlights", initiative_ids, initiatives, "initiative")
    _check_free(session, report_in.plan_id, report_in.fiscal_year)
    report = Report(**report_in.model_dump(exclude={"lines", "highlights"}))
    with committing(session):
        session.add(report)
        session.flush()
        _replace_parts(session, report, report_in.lines, report_in.highlights)
    assert report.id is not None
    return report.id


def update_report(
    *, session: Session, report_id: int, report_in: ReportUpdate, if_match: str | None
) -> None:
    data = report_in.model_dump(exclude_unset=True, exclude={"lines", "highlights"})
    if "fiscal_year" in data:
        hold_write_lock(session)  # the plan's period cannot narrow meanwhile
    report: Report = load(session, Report, "report", report_id)
    check_if_match(if_match, report)
    if "fiscal_year" in data:
        plan = session.get(Plan, report.plan_id)
        assert plan is not None
        _check_year(plan, data["fiscal_year"])
        _check_free(session, report.plan_id, data["fiscal_year"], report_id)
    lines = report_in.lines if "lines" in report_in.model_fields_set else None
    highlights = report_in.highlights if "highlights" in report_in.model_fields_set else None
    if lines is not None:
        ids = [line.policy_id for line in lines]
        _check_members(session, report.plan_id, "lines", ids, policies, "policy")
    if highlights is not None:
        ids = [item.initiative_id for item in highlights]
        _check_members(session, report.plan_id, "highlights", ids, initiatives, "initiative")
    with committing(session):
        report.sqlmodel_update(data)
        if _replace_parts(session, report, lines, highlights):
            report.updated_at = utcnow()  # its parts changed: a new version of the report


def delete_report(*, session: Session, report_id: int, if_match: str | None) -> None:
    report: Report = load(session, Report, "report", report_id)
    check_if_match(if_match, report)
    delete(session, report, cascade=True)
