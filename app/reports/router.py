from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.tokens import EditorSession
from app.fields import FiscalYear
from app.listing import Page
from app.reads import reader_of
from app.reports import service
from app.reports.schemas import ReportCreate, ReportPublic, ReportUpdate
from app.web.caching import read_with_cache_headers
from app.web.http import (
    IdFilter,
    IdPath,
    IfMatchHeader,
    PageDep,
    page_response,
    read_responses,
    resource_response,
    sort_description,
    sort_pattern,
    write_responses,
    written,
)
from app.web.jsonbody import StrictJsonRoute

router = APIRouter(prefix="/reports", tags=["reports"], route_class=StrictJsonRoute)

SortQuery = Annotated[
    str | None,
    Query(
        pattern=sort_pattern(service.ReportSort),
        description=sort_description(service.ReportSort, service.DEFAULT_SORT),
    ),
]


@router.get(
    "",
    operation_id="list_reports",
    response_model=Page[ReportPublic],
    responses=read_responses(422),
)
async def list_reports(
    request: Request,
    page: PageDep,
    plan_id: IdFilter = None,
    fiscal_year: Annotated[FiscalYear | None, Query()] = None,
    sort: SortQuery = None,
) -> Response:
    """List the figures cities published (取組状況の公表), per plan and fiscal year."""
    (items, total), headers = await read_with_cache_headers(
        request,
        lambda reader: service.read_reports(
            reader=reader, plan_id=plan_id, fiscal_year=fiscal_year, page=page, sort=sort
        ),
    )
    return page_response(request, items, total, page, headers)


@router.get(
    "/{report_id}",
    operation_id="get_report",
    response_model=ReportPublic,
    responses=read_responses(404, 422),
)
async def get_report(request: Request, report_id: IdPath) -> Response:
    """Get one published report with its lines per policy and highlighted initiatives."""
    reader = reader_of(request)
    report = await service.read_report(reader=reader, report_id=report_id)
    return resource_response(request, report)


@router.post(
    "",
    operation_id="create_report",
    status_code=201,
    response_model=ReportPublic,
    responses=write_responses(409),
)
def create_report(
    request: Request, response: Response, session: EditorSession, report_in: ReportCreate
) -> ReportPublic:
    """Record the figures a city published for a fiscal year, per policy."""
    report_id = service.create_report(session=session, report_in=report_in)
    report = service.get_report(session=session, report_id=report_id)
    written(response, report, str(request.url_for("get_report", report_id=report_id)))
    return report


@router.patch(
    "/{report_id}",
    operation_id="update_report",
    response_model=ReportPublic,
    responses=write_responses(404, 409, 412),
)
def update_report(
    response: Response,
    session: EditorSession,
    report_id: IdPath,
    report_in: ReportUpdate,
    if_match: IfMatchHeader = None,
) -> ReportPublic:
    """Change a report; `lines` and `highlights`, when given, replace the whole list."""
    service.update_report(
        session=session, report_id=report_id, report_in=report_in, if_match=if_match
    )
    report = service.get_report(session=session, report_id=report_id)
    written(response, report)
    return report


@router.delete(
    "/{report_id}",
    operation_id="delete_report",
    status_code=204,
    responses=write_responses(404, 412),
)
def delete_report(
    session: EditorSession, report_id: IdPath, if_match: IfMatchHeader = None
) -> None:
    """Delete a report with its lines and highlights."""
    service.delete_report(session=session, report_id=report_id, if_match=if_match)
