"""Report queries: a report with its lines and highlights, in three queries per page."""

from collections import defaultdict
from enum import StrEnum
from typing import Any

from sqlalchemy import BindParameter, Integer, Select, bindparam, func, select
from sqlmodel import Session
from sqlmodel import select as select_rows

from app.errors import Conflict, ErrorDetail, InvalidInput, NotFound
from app.listing import PageParams
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
from app.provenance import REPORT_FACTS, full, merged
from app.reads import Listing, Prepared, Projection, Reader, Row, Shapes, fetch
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


_LINES = select(report_lines, policies.c.number.label("policy_number")).join(
    policies, policies.c.id == report_lines.c.policy_id
)
_HIGHLIGHTS = select(report_highlights, initiatives.c.code).join(
    initiatives, initiatives.c.id == report_highlights.c.initiative_id
)
_LINES_ORDER = [policies.c.number]
_HIGHLIGHTS_ORDER = [report_highlights.c.section.desc(), initiatives.c.code_sort]
_LIST = Listing(
    rows=select(reports),
    count=select(func.count()).select_from(reports),
    filters={
        "plan_id": lambda value: reports.c.plan_id == value,
        "fiscal_year": lambda value: reports.c.fiscal_year == value,
    },
    sort_columns=SORT_COLUMNS,
    default_sort=[reports.c.plan_id, reports.c.fiscal_year],
    tiebreak=reports.c.id,
)
_SHAPES = Shapes()
REPORT: BindParameter[int] = bindparam("report_id", type_=Integer)
_ONE = Prepared(select(reports).where(reports.c.id == REPORT))
_ONE_LINES = Prepared(_LINES.where(report_lines.c.report_id == REPORT).order_by(*_LINES_ORDER))
_ONE_HIGHLIGHTS = Prepared(
    _HIGHLIGHTS.where(report_highlights.c.report_id == REPORT).order_by(*_HIGHLIGHTS_ORDER)
)
_line = Projection(ReportLinePublic)
_highlight = Projection(ReportHighlightPublic)
_report = Projection(
    ReportPublic,
    {
        "fiscal_year_label": lambda row: fiscal_year_label(row["fiscal_year"]),
        "lines": lambda row: row["lines"],
        "highlights": lambda row: row["highlights"],
        "provenance": lambda row: full(REPORT_FACTS, row["provenance"]),
    },
)


def _json(rows: list[Row], lines: list[Row], highlights: list[Row]) -> list[dict[str, Any]]:
    """Reports as JSON objects, each with its lines and highlights."""
    by_report: dict[int, dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: {"lines": [], "highlights": []}
    )
    for line in lines:
        by_report[line["report_id"]]["lines"].append(_line(line))
    for highlight in highlights:
        by_report[highlight["report_id"]]["highlights"].append(_highlight(highlight))
    return [_report({**row, **by_report[row["id"]]}) for row in rows]


def _page_parts(names: tuple[str, ...], sort: str | None) -> tuple[Prepared, Prepared]:
    """The lines and highlights of a page's reports, chosen by the page's own query."""

    def of_page(query: Select[Any], column: Any, order: list[Any]) -> Select[Any]:
        page = _LIST.page_query(names, sort).subquery()
        return query.where(column.in_(select(page.c.id))).order_by(*order)

    return (
        _SHAPES.get(
            ("lines", names, sort),
            lambda: of_page(_LINES, report_lines.c.report_id, _LINES_ORDER),
        ),
        _SHAPES.get(
            ("highlights", names, sort),
            lambda: of_page(_HIGHLIGHTS, report_highlights.c.report_id, _HIGHLIGHTS_ORDER),
        ),
    )


async def read_reports(
    *,
    reader: Reader,
    plan_id: int | None,
    fiscal_year: int | None,
    page: PageParams,
    sort: str | None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of reports as JSON objects, and the number of all that match."""
    filters = {"plan_id": plan_id, "fiscal_year": fiscal_year}
    values = {name: value for name, value in filters.items() if value is not None}
    rows, total = await _LIST.page(reader, values, page, sort)
    if not rows:
        return [], total
    lines, highlights = _page_parts(tuple(sorted(values)), sort)
    paged = {**values, "limit": page.limit, "offset": page.offset}
    line_rows, highlight_rows = await reader.batch((lines, paged), (highlights, paged))
    return _json(rows, line_rows, highlight_rows), total


async def read_report(*, reader: Reader, report_id: int) -> dict[str, Any]:
    values = {"report_id": report_id}
    rows, lines, highlights = await reader.batch(
        (_ONE, values), (_ONE_LINES, values), (_ONE_HIGHLIGHTS, values)
    )
    if not rows:
        raise NotFound(f"report {report_id} does not exist")
    return _json(rows, lines, highlights)[0]


def get_report(*, session: Session, report_id: int) -> ReportPublic:
    """A report as written, read back on the write's session."""
    rows = fetch(session, _ONE, report_id=report_id)
    if not rows:
        raise NotFound(f"report {report_id} does not exist")
    lines = fetch(session, _ONE_LINES, report_id=report_id)
    highlights = fetch(session, _ONE_HIGHLIGHTS, report_id=report_id)
    return ReportPublic.model_validate(_json(rows, lines, highlights)[0])


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
        wanted = {
            (line.policy_id, line.items, line.achieved, line.unconfirmed, str(line.provenance))
            for line in lines
        }
        have = {
            (row.policy_id, row.items, row.achieved, row.unconfirmed, row.provenance)
            for row in current
        }
        if wanted != have:
            for row in current:
                session.delete(row)
            session.flush()
            session.add_all(
                ReportLine(report_id=report_id, **line.model_dump(mode="json")) for line in lines
            )
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
    data = report_in.model_dump(exclude={"lines", "highlights"})
    report = Report(**data | {"provenance": full(REPORT_FACTS, data["provenance"])})
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
    if "provenance" in data:
        data["provenance"] = merged(REPORT_FACTS, report.provenance, data["provenance"])
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
