"""HTTP conventions every resource shares: list envelopes and Link headers, sort, ETags."""

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request, Response
from pydantic import BeforeValidator

from app.errors import BUSY, problem_responses
from app.listing import MAX_ID, MAX_LIMIT, PageParams
from app.reads import json_response
from app.versions import Versioned, resource_etag
from app.web.caching import matches_etag, resource_headers

JSON = "application/json"


def _plain_digits(value: Any) -> Any:
    """An integer in a path or query is written in plain ASCII digits: Python's int() would
    also read 1_0, +1, ' 1' and full-width １, all of which we refuse."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("write a whole number in the digits 0-9, without sign or separators")
    return value


Digits = BeforeValidator(_plain_digits)
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="The resource's id."), Digits]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID), Digits]


async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Page size (at most 500)."), Digits
    ] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Rows to skip."), Digits] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


def page_response(
    request: Request,
    items: Sequence[Any],
    total: int,
    page: PageParams,
    headers: Mapping[str, str],
) -> Response:
    """A page's JSON envelope (its items are JSON objects already) with its Link header."""
    content = {"items": items, "total": total, "limit": page.limit, "offset": page.offset}
    return json_response(content, _with_links(request, total, page, headers))


def encoded_page_response(
    request: Request,
    items: Sequence[bytes],
    total: int,
    page: PageParams,
    headers: Mapping[str, str],
) -> Response:
    """page_response of items encoded already (app/kept_rows.py): the same bytes, the
    envelope written around them."""
    body = b'{"items":[%s],"total":%d,"limit":%d,"offset":%d}' % (
        b",".join(items),
        total,
        page.limit,
        page.offset,
    )
    return Response(body, media_type=JSON, headers=_with_links(request, total, page, headers))


def _with_links(
    request: Request, total: int, page: PageParams, headers: Mapping[str, str]
) -> Mapping[str, str]:
    links = page_links(request, total, page)
    return {**headers, "Link": links} if links else headers


def page_links(request: Request, total: int, page: PageParams) -> str | None:
    """The Link header of a page: rel="next" and rel="prev" where they exist. From past the
    end, prev is the page of the last items."""
    links = []
    if page.offset + page.limit < total:
        url = request.url.include_query_params(offset=page.offset + page.limit, limit=page.limit)
        links.append(f'<{url}>; rel="next"')
    if page.offset > 0:
        before = max(min(page.offset, total) - page.limit, 0)
        url = request.url.include_query_params(offset=before, limit=page.limit)
        links.append(f'<{url}>; rel="prev"')
    return ", ".join(links) or None


def sort_pattern(fields: type[StrEnum]) -> str:
    name = "|".join(re.escape(field.value) for field in fields)
    return rf"^-?({name})(,-?({name}))*$"


def sort_description(fields: type[StrEnum], default: str) -> str:
    names = ", ".join(f"`{field.value}`" for field in fields)
    return f"Comma-separated fields, `-` for descending. One of {names}. Default: {default}."


class _Row:
    """id and version of a resource (app/versions.py)."""

    def __init__(self, row_id: int, version: int) -> None:
        self.id: int | None = row_id
        self.version: int = version


def resource_response(request: Request, content: Mapping[str, Any]) -> Response:
    """The answer to a GET of one resource: its JSON with ETag, Cache-Control and Vary, or
    304 with those headers when If-None-Match already names that ETag. The route declares
    the model as its response_model for the docs; content is the model's JSON object."""
    headers, unchanged = _resource_headers(request, content["id"], content["version"])
    return unchanged or json_response(content, headers)


def encoded_resource_response(request: Request, key: tuple[int, int], body: bytes) -> Response:
    """resource_response of a JSON object encoded already, given its id and version."""
    headers, unchanged = _resource_headers(request, *key)
    return unchanged or Response(body, media_type=JSON, headers=headers)


def _resource_headers(
    request: Request, row_id: int, version: int
) -> tuple[dict[str, str], Response | None]:
    """The headers of a resource's answer, and its 304 when If-None-Match names it."""
    headers = resource_headers(request, _Row(row_id, version))
    if matches_etag(request.headers.get("if-none-match"), headers["ETag"]):
        return headers, Response(status_code=304, headers=headers)
    return headers, None


IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The ETag you read (e.g. "12.3"): the write fails with 412 if the resource'
        " changed since. `*` matches any existing version.",
        pattern=r'^\s*(\*|(W/)?"[^"]*"(\s*,\s*(W/)?"[^"]*")*)\s*$',
        max_length=1000,
    ),
]
CascadeQuery = Annotated[
    bool, Query(description="Also delete everything under the resource (otherwise 409).")
]

WORDS_RULES = (
    " Separated by spaces (half- or full-width), every word must be found, each anywhere in"
    " that text; full- and half-width, upper and lower case, katakana and hiragana alike;"
    " `%` and `_` are plain characters."
)

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "Not Modified"}}


def read_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Responses of a read route: 304, a database that cannot be reached or did not answer
    in time (503, app/web/faults.py), plus those given."""
    return {
        **NOT_MODIFIED,
        **problem_responses(*statuses, 503, slugs={503: "database-unavailable"}),
    }


def write_responses(
    *statuses: int, slugs: dict[int, str] | None = None, details: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """Responses of a write route: auth, size, rate and validation problems, a database
    that stayed busy through the retries (503, app/web/faults.py), plus those given (with
    the examples of their type and detail in slugs and details, where not the usual)."""
    return problem_responses(
        401, 413, 422, 429, 503, *statuses, slugs={503: BUSY} | (slugs or {}), details=details
    )


def written(response: Response, row: Versioned, location: str | None = None) -> None:
    """Set the headers of a successful write: the new ETag, and Location when created."""
    response.headers["ETag"] = resource_etag(row)
    if location is not None:
        response.headers["Location"] = location
