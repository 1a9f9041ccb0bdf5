"""Interactive API docs served with the app's own copy of Swagger UI (no CDN, works offline)."""

import json
from importlib.resources import files

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.web.caching import FixedAnswer

STATIC_URL = "/docs-static"


def install_docs(app: FastAPI) -> None:
    assets = files("fastapi_offline") / "static"
    app.mount(STATIC_URL, StaticFiles(directory=str(assets)), name="docs-static")

    # The OpenAPI document, with an ETag (FastAPI's own route, turned off in app/main.py,
    # sends none): client generators and Swagger UI revalidate it with If-None-Match.
    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document(request: Request) -> Response:
        state = request.app.state
        if getattr(state, "openapi_answer", None) is None:
            document = json.dumps(request.app.openapi()).encode()
            state.openapi_answer = FixedAnswer.of(document, "application/json")
        answer: FixedAnswer = state.openapi_answer
        return answer.to(request)

    # The endpoints read the app from the request, never from this scope: FastAPI keeps
    # endpoint functions in a module-level cache, and a closure over `app` would keep every
    # app ever built alive (the tests build hundreds: gigabytes freed only at exit).
    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{request.app.title} docs",
            swagger_js_url=f"{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_URL}/favicon.png",
        )
