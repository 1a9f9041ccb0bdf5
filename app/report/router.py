"""GET /plans/{id}/report/{year}: the progress report of a fiscal year as a page to read and
print, and GET /plans/{id}/report/{year}.pdf: the same printed to PDF by Chromium.

Pages for people, outside /api/v1 and its schema; their errors are problem+json all the
same: 404 for an unknown plan or a year with no report, 422 for a year that is not one, 503
when there is no Chromium to print the PDF with.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse

from app.config import Settings
from app.dashboard.router import STATIC, STATIC_URL
from app.exports.csv import content_disposition
from app.fields import FiscalYear
from app.lru import LRU
from app.reads import reader_of
from app.report.pdf import find_chromium, print_pdf
from app.report.render import render_report
from app.report.service import read_progress_report
from app.web.caching import read_cache_headers
from app.web.http import IdPath
from app.web.jsonbody import StrictJsonRoute

router = APIRouter(route_class=StrictJsonRoute)  # as every router (tests/test_body_once.py)

YearPath = Annotated[FiscalYear, Path(description="2024, R6, 令和6年度 …")]
STYLESHEET = f"{STATIC_URL}/report.css"
CSS = (STATIC / "report.css").read_text(encoding="utf-8")
PRINTED_BYTES = 16 * 1024 * 1024  # the PDFs an app keeps: a report's is some hundred kB


def _printed(request: Request) -> LRU[tuple[str, int, int], bytes]:
    """The app's PDFs by (the data version's ETag, plan, year); used on the event loop only."""
    state = request.app.state
    if not hasattr(state, "printed_reports"):
        state.printed_reports = LRU(PRINTED_BYTES, weigh=len)
    printed: LRU[tuple[str, int, int], bytes] = state.printed_reports
    return printed


# The .pdf route first: the page's {fiscal_year} would otherwise take "2024.pdf" (a 422).
@router.get("/plans/{plan_id}/report/{fiscal_year}.pdf", include_in_schema=False)
async def progress_report_pdf(request: Request, plan_id: IdPath, fiscal_year: YearPath) -> Response:
    """The report printed on A4 by headless Chromium.

    Printing takes Chromium seconds: a PDF is kept per data version (it changes only when the
    data does), so a repeated download, or a crowd of them, prints once; and it has the data
    version's ETag, so a browser that has it gets a 304 without any printing at all."""
    reader = reader_of(request)
    headers = await read_cache_headers(request, reader, "pdf")  # 304 when still current
    doc = await read_progress_report(reader=reader, plan_id=plan_id, fiscal_year=fiscal_year)
    name = f"report-{doc.plan['slug']}-{fiscal_year}.pdf"
    headers |= {"Content-Disposition": content_disposition(name)}
    key = (headers["ETag"], plan_id, fiscal_year)
    pdf = _printed(request).get(key)
    if pdf is None:
        settings: Settings = request.app.state.settings
        chromium = find_chromium(settings.chromium)
        html = render_report(doc, stylesheet=None, inline_css=CSS)
        pdf = await print_pdf(html, chromium=chromium, timeout=settings.pdf_timeout)
        _printed(request).put(key, pdf)
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.get("/plans/{plan_id}/report/{fiscal_year}", include_in_schema=False)
async def progress_report(request: Request, plan_id: IdPath, fiscal_year: YearPath) -> Response:
    """The report as the city writes it, regenerated from the data (ETag: the data version)."""
    reader = reader_of(request)
    headers = await read_cache_headers(request, reader, "html")  # 304 when still current
    doc = await read_progress_report(reader=reader, plan_id=plan_id, fiscal_year=fiscal_year)
    return HTMLResponse(render_report(doc, stylesheet=STYLESHEET), headers=headers)
