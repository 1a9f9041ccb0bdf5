"""Open data downloads: CSV (streamed), JSON, typed .xlsx, a plan's zip bundle, the catalogue."""

import os
import re
from datetime import UTC
from email.utils import format_datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from sqlalchemy import Engine
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from app.config import Settings
from app.errors import RANGE_NOT_SATISFIABLE, problem_response
from app.exports import writers
from app.exports.bundle import (
    BUNDLE_CSV,
    BUNDLE_FORMAT,
    datapackage,
    licence_link,
    licence_of,
    write_bundle,
)
from app.exports.csv import (
    CsvOptionsDep,
    Encoding,
    content_disposition,
    media_type,
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
    is ignored (RFC 9110 14.2 allows it): the answer is the whole file, 200. Nor is there a
    Last-Modified: the file's own time is the request's, which says nothing of the data.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.headers["accept-ranges"]

    def set_stat_headers(self, stat_result: os.stat_result) -> None:
        super().set_stat_headers(stat_result)
        del self.headers["last-modified"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(_without_range(scope), receive, send)


def _without_range(scope: Scope) -> Scope:
    """The request as if it had asked for no range: the answer is the whole file, 200."""
    return {**scope, "headers": [(n, v) for n, v in scope["headers"] if n != b"range"]}


_BYTE_RANGE = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


def satisfiable(header: str, size: int) -> bool | None:
    """Whether each range of a Range header falls in a file of `size` bytes; None when the
    header is not a valid `bytes=` range set (RFC 9110 14.1.2), which is then ignored."""
    unit, _, ranges = header.partition("=")
    if unit.strip().lower() != "bytes" or not ranges.strip():
        return None
    each = []
    for part in ranges.split(","):
        found = _BYTE_RANGE.fullmatch(part)
        if found is None or not (found[1] or found[2]):
            return None
        first, last = found[1], found[2]
        if first and last and int(first) > int(last):
            return None
        each.append(int(first) < size if first else int(last) > 0)
    return all(each)


class ResumableFileResponse(FileResponse):
    """A file whose bytes are decided by its strong ETag (the plan's bundle): a download of it
    may be resumed, and is, by the rules of RFC 9110 (14.2, 13.1.5):

    - If-Range resumes only when it names this ETag; a date, or another tag, gets the whole
      file (200): a Last-Modified of a second's precision cannot tell two writes apart.
    - A Range that is not a valid `bytes=` range set is ignored: the whole file (200).
    - A range that starts past the end is 416, as problem+json with `Content-Range: */size`.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked = Headers(scope=scope)
        wanted = asked.get("range")
        if wanted is None:
            await super().__call__(scope, receive, send)
            return
        if_range = asked.get("if-range")
        size = os.stat(self.path).st_size
        fits = satisfiable(wanted, size)
        if fits is False and (if_range is None or if_range == self.headers["etag"]):
            problem = problem_response(
                416,
                f"the range {wanted!r} starts past the end of the file, which has {size} bytes",
                slug=RANGE_NOT_SATISFIABLE,
                headers={"Content-Range": f"bytes */{size}"},
            )
            await problem(scope, receive, send)
            if self.background is not None:
                await self.background()
            return
        if fits is None or (if_range is not None and if_range != self.headers["etag"]):
            scope = _without_range(scope)
        await super().__call__(scope, receive, send)


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
    bulk import reads back. In CP932 a character it cannot hold is refused (422, naming it,
    its row and its column) before the first byte: download UTF-8 instead.
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
        path = await run_in_threadpool(writers.write_csv, engine, export, plan_id, options)
        return FileResponse(
            path,
            media_type=media_type(options),
            headers=headers,
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
        206: {
            "description": "The ranges asked (Range, and If-Range naming the ETag if sent).",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        },
        **read_responses(404, 416, 422),
    },
)
async def export_bundle(request: Request, plan_id: IdPath) -> Response:
    """Download a plan's whole open data: every CSV, a data dictionary, the licence, and a
    Frictionless datapackage.json."""
    reader = reader_of(request)
    [plan] = await plans_in(reader, plan_id)
    headers = await read_cache_headers(request, reader, f"zip {BUNDLE_FORMAT}", strong=True)
    headers["Link"] = _links(request, [plan])
    headers["Content-Disposition"] = content_disposition(f"{plan['slug']}.zip")
    settings: Settings = request.app.state.settings
    licence = licence_of(plan, settings.default_license, settings.default_license_url)
    # The bundle is dated by its data, so it is the same bytes until the data changes: a
    # range of it (Accept-Ranges, from FileResponse) joins another download's.
    made = await last_write(reader) or plan["updated_at"]
    headers["Last-Modified"] = format_datetime(made.astimezone(UTC), usegmt=True)
    path = await run_in_threadpool(write_bundle, request.app.state.engine, plan, licence, made)
    return ResumableFileResponse(
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
