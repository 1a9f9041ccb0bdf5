"""The dashboard at `/`: one HTML page and its scripts and stylesheets, served from the
package (app/dashboard/static/, carried by the wheel), so it works offline and needs no build.

The page reads only the public API (/api/v1) from the browser; nothing here reads the
database. Its CSP (app/web/headers.py: PAGE_CSP) allows scripts, styles and requests to
this origin only.
"""

from importlib.resources import files

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from app.web.caching import FixedAnswer

STATIC_URL = "/dashboard-static"
STATIC = files("app.dashboard") / "static"


def install_dashboard(app: FastAPI) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=str(STATIC)), name="dashboard-static")
    page = FixedAnswer.of((STATIC / "index.html").read_bytes(), "text/html; charset=utf-8")

    @app.get("/", include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        """The dashboard: the plan, its rates, their trend, search and downloads."""
        return page.to(request)
