"""GET /plans/{id}/report/{year}: the progress report of a fiscal year as a page to read and
print.

Pages for people, outside /api/v1 and its schema; their errors are problem+json all the
same: 404 for an unknown plan or a year with no report, 422 for a year that is not one.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse

from app.dashboard.router import STATIC_URL
from app.fields import FiscalYear
from app.reads import reader_of
from app.report.render import render_report
from app.report.service import read_progress_report
from app.web.http import IdPath

router = APIRouter()

YearPath = Annotated[FiscalYear, Path(description="2024, R6, 令和6年度 …")]
STYLESHEET = f"{STATIC_URL}/report.css"


@router.get("/plans/{plan_id}/report/{fiscal_year}", include_in_schema=False)
async def progress_report(request: Request, plan_id: IdPath, fiscal_year: YearPath) -> Response:
    """The report as the city writes it, regenerated from the data."""
    doc = await read_progress_report(
        reader=reader_of(request), plan_id=plan_id, fiscal_year=fiscal_year
    )
    html = render_report(doc, stylesheet=STYLESHEET)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})
