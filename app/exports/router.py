"""Open data downloads: CSV (streamed), JSON, typed .xlsx, a plan's zip bundle, the catalogue."""

import os
from datetime import UTC
from email.utils import format_datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from sqlalchemy import Engine
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from app.config import Settings
from app.exports import writers
from app.exports.bundle import BUNDLE_CSV, datapackage, licence_link, licence_of, write_bundle
from app.exports.csv import (
    REPLACED_DOC,
    CsvOptionsDep,
    Encoding,
    content_disposition,
    media_type,
    replaced_header,
)
from app.exports.service import last_write, plans_in
from app.exports.tables import EXPORTS, Export
from app.reads import reader_of
from app.web.caching import read_cache_headers
from app.web.http import IdFilter, IdPath, read_responses
from app.web.jsonbody import StrictJsonRoute

router = APIRouter(prefix="/export", tags=["exports"], route_class=StrictJsonRoute)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ExportName(StrEnum):
    plans = "plans"
    policies = "policies"
    measures = "measures"
    initiatives = "initiatives"
    evaluations = "evaluations"
    reports = "reports"
    highlights = "highlights"


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"
    xlsx = "xlsx"


class WholeFileResponse(FileResponse):
    """A workbook made for this request, sent whole.

    Each request writes the workbook again, and not byte for byte the same (its zip entries
    hold the time they were written), so a range of one download cannot be joined to another:
    `curl -C -` would build a corrupt file. So no Accept-Ranges is offered and a Range header
    is ignored (RFC 9110 14.2 allows it): the answer is the whole file, 200.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.headers["accept-ranges"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(name, value) for name, value in scope["headers"] if name != b"range"]
        await super().__call__({**scope, "headers": headers}, receive, send)


def _links(request: Request, found: list[dict[str, Any]]) -> str:
    """The licence and the description of each plan in the download, as Link headers."""
    settings: Settings = request.app.state.settings
    links = []
    for plan in found:
        if link := licence_link(plan, settings.default_license, settings.default_license_url):
            links.append(link)
        described = request.url_for("get_datapackage", plan_id=plan["id"])
        links.append(f'<{described}>; rel="describedby"; type="application/json"')
    return ", ".join(dict.fromkeys(links))


@router.get(
    "/{name}.{format}",
    operation_id="export_table",
    responses={
        200: {
            "description": "The rows as CSV, JSON or a spreadsheet.",
            "headers": REPLACED_DOC,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **read_responses(404, 422),
    },
)
async def export_table(
    request: Request,
    options: CsvOptionsDep,
    name: Annotated[ExportName, Path(description="Which table.")],
    format: Annotated[ExportFormat, Path(description="csv, json or xlsx.")],
    plan_id: IdFilter = None,
) -> Response:
    """Download every row of a table (filtered by plan) as CSV, JSON or .xlsx.

    CSV: Japanese headers by default (`header=en` for English), UTF-8 with a BOM by default
    (`bom=false` for none) or `encoding=cp932`, CRLF line ends. The columns are those the
    bulk import reads back. In CP932 a character it cannot hold is written 〓 (U+3013), and
    `X-Replaced-Characters` says how many were.
    """
    reader = reader_of(request)
    found = await plans_in(reader, plan_id)
    headers = await read_cache_headers(request, reader, format.value)
    headers["Link"] = _links(request, found)
    export = EXPORTS[name.value]
    engine: Engine = request.app.state.engine
    filename = f"{name.value}{'-' + found[0]['slug'] if plan_id else ''}.{format.value}"
    headers["Content-Disposition"] = content_disposition(filename)
    if format is ExportFormat.csv and options.encoding is Encoding.cp932:
        path, tally = await run_in_threadpool(writers.write_csv, engine, export, plan_id, options)
        return FileResponse(
            path,
            media_type=media_type(options),
            headers=headers | replaced_header(options, tally),
            background=BackgroundTask(os.unlink, path),
        )
    if format is ExportFormat.csv:
        return StreamingResponse(
            writers.stream_csv(engine, export, plan_id, options),
            media_type=media_type(options),
            headers=headers,
        )
    if format is ExportFormat.json:
        return StreamingResponse(
            writers.stream_json(engine, export, plan_id),
            media_type="application/json",
            headers=headers,
        )
    path = await run_in_threadpool(writers.write_xlsx, engine, export, plan_id, options.header)
    return WholeFileResponse(
        path, media_type=XLSX, headers=headers, background=BackgroundTask(os.unlink, path)
    )


@router.get(
    "/plans/{plan_id}.zip",
    operation_id="export_bundle",
    responses={
        200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
        **read_responses(404, 422),
    },
)
async def export_bundle(request: Request, plan_id: IdPath) -> Response:
    """Download a plan's whole open data: every CSV, a data dictionary, the licence, and a
    Frictionless datapackage.json."""
    reader = reader_of(request)
    [plan] = await plans_in(reader, plan_id)
    headers = await read_cache_headers(request, reader, "zip")
    headers["Link"] = _links(request, [plan])
    headers["Content-Disposition"] = content_disposition(f"{plan['slug']}.zip")
    settings: Settings = request.app.state.settings
    licence = licence_of(plan, settings.default_license, settings.default_license_url)
    # The bundle is dated by its data, so it is the same bytes until the data changes: a
    # range of it (Accept-Ranges, from FileResponse) joins another download's.
    made = await last_write(reader) or plan["updated_at"]
    headers["Last-Modified"] = format_datetime(made.astimezone(UTC), usegmt=True)
    path = await run_in_threadpool(write_bundle, request.app.state.engine, plan, licence, made)
    return FileResponse(
        path,
        media_type="application/zip",
        headers=headers,
        background=BackgroundTask(os.unlink, path),
    )


@router.get(
    "/plans/{plan_id}/datapackage.json",
    operation_id="get_datapackage",
    responses=read_responses(404, 422),
)
async def get_datapackage(request: Request, plan_id: IdPath) -> JSONResponse:
    """The Frictionless data package descriptor of a plan's bundle, usable as published: each
    resource's path is the URL of the CSV export that gives exactly the bundle's file."""
    reader = reader_of(request)
    [plan] = await plans_in(reader, plan_id)
    headers = await read_cache_headers(request, reader)
    settings: Settings = request.app.state.settings
    licence = licence_of(plan, settings.default_license, settings.default_license_url)

    def online(export: Export) -> str:
        url = request.url_for("export_table", name=export.name, format=ExportFormat.csv.value)
        return str(
            url.include_query_params(
                plan_id=plan["id"],
                bom=str(BUNDLE_CSV.bom).lower(),
                encoding=BUNDLE_CSV.encoding.value,
                header=BUNDLE_CSV.header.value,
            )
        )

    return JSONResponse(datapackage(plan, licence, online), headers=headers)
