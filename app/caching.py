"""HTTP caching of public reads: ETags from the data version, 304, Cache-Control.

A collection, an export or a statistic changes only when data is written, and every write
moves `data_version` on (app/changes/recorder.py). So the ETag of such an answer is a digest
of (data version, path, query, representation): one primary-key read decides a 304.
"""

import hashlib

from fastapi import Depends, Request, Response
from sqlalchemy import select
from sqlmodel import Session

from app.models import data_version
from app.reads import Prepared, Reader, ReaderDep

PUBLIC_MAX_AGE = 60
DATA_VERSION_KEY = "data_version"  # request state: the version read for this request
_VERSION = select(data_version.c.version).where(data_version.c.id == 1)
VERSION = Prepared(_VERSION)  # the data version, for a batch of reads (app/reads.py)


class NotModified(Exception):
    """Raised to answer 304: the client's copy is current."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("not modified")
        self.headers = headers


def current_version(session: Session) -> int:
    return session.scalar(_VERSION) or 0


async def read_version(reader: Reader) -> int:
    return await reader.scalar(VERSION) or 0


def known_version(request: Request) -> int | None:
    """The data version read for this request already, by AnswerCacheMiddleware
    (app/answers.py), or None."""
    version: int | None = request.scope.get("state", {}).get(DATA_VERSION_KEY)
    return version


def matches_etag(if_none_match: str | None, tag: str) -> bool:
    """Whether If-None-Match names tag (weak comparison: W/"3" matches "3"), or is `*`."""
    if if_none_match is None:
        return False
    candidates = {item.strip().removeprefix("W/") for item in if_none_match.split(",")}
    return "*" in candidates or tag.removeprefix("W/") in candidates


def cache_headers(request: Request, session: Session, representation: str = "") -> dict[str, str]:
    """Return ETag and Cache-Control for a public read, or raise NotModified."""
    return headers_at(request, current_version(session), representation)


async def read_cache_headers(
    request: Request, reader: Reader, representation: str = ""
) -> dict[str, str]:
    """cache_headers for async routes: the data version comes through the reader, or from
    AnswerCacheMiddleware (app/answers.py), which read it for this request already."""
    version = known_version(request)
    if version is None:
        version = await read_version(reader)
    return headers_at(request, version, representation)


def headers_at(request: Request, version: int, representation: str) -> dict[str, str]:
    key = "|".join(
        [
            str(version),
            request.scope["path"],
            str(sorted(request.query_params.multi_items())),
            representation,
        ]
    )
    tag = f'W/"{hashlib.sha256(key.encode()).hexdigest()[:24]}"'
    private = "authorization" in request.headers
    headers = {
        "ETag": tag,
        "Cache-Control": "private, no-store" if private else f"public, max-age={PUBLIC_MAX_AGE}",
        "Vary": "Accept, Authorization",
    }
    if matches_etag(request.headers.get("if-none-match"), tag):
        raise NotModified(headers)
    return headers


async def cached_collection(request: Request, response: Response, reader: ReaderDep) -> None:
    """Dependency of list routes: 304 when the client's copy is current, else the headers."""
    response.headers.update(await read_cache_headers(request, reader))


CACHED = Depends(cached_collection)  # for a list route's `dependencies=[...]`


async def not_modified_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotModified)
    return Response(status_code=304, headers=exc.headers)
