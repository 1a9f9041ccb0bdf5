"""HTTP caching of public reads: ETags, 304, Cache-Control and Vary.

One resource's ETag is its id and version (resource_etag). A collection, an export or a
statistic changes only when data is written, and every write moves `data_version` on
(app/changes/recorder.py), so the ETag of such an answer is a digest of (data version, origin,
path, query, representation): one primary-key read decides a 304.

Reads are sent `Cache-Control: no-cache`: a browser keeps the answer but asks again each
time (a 304 costs one primary-key read), so an app never shows its own write undone. An
operator who puts a shared cache (a CDN) in front may give it a lifetime with
SHARED_CACHE_MAX_AGE (`s-maxage`); browsers still revalidate. A 304 repeats the Cache-Control,
ETag and Vary of the 200 it stands for (RFC 9110 section 15.4.5).
"""

import hashlib

from fastapi import Request, Response

from app.reads import Reader
from app.versions import Versioned, read_version, resource_etag

# What a public read varies on: JSON or CSV (Accept), a gzip copy (Accept-Encoding, see
# app/web/answers.py), and a token, which makes the answer private.
READ_VARY = "Accept, Accept-Encoding, Authorization"
PRIVATE = "private, no-store"
DATA_VERSION_KEY = "data_version"  # request state: the version read for this request


class NotModified(Exception):
    """Raised to answer 304: the client's copy is current."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("not modified")
        self.headers = headers


def known_version(request: Request) -> int | None:
    """The data version read for this request already, by AnswerCacheMiddleware
    (app/web/answers.py), or None."""
    version: int | None = request.scope.get("state", {}).get(DATA_VERSION_KEY)
    return version


def matches_etag(if_none_match: str | None, tag: str) -> bool:
    """Whether If-None-Match names tag (weak comparison: W/"3" matches "3"), or is `*`."""
    if if_none_match is None:
        return False
    candidates = {item.strip().removeprefix("W/") for item in if_none_match.split(",")}
    return "*" in candidates or tag.removeprefix("W/") in candidates


async def read_cache_headers(
    request: Request, reader: Reader, representation: str = ""
) -> dict[str, str]:
    """ETag, Cache-Control and Vary of a public read, or raise NotModified. The data version
    comes through the reader, or from AnswerCacheMiddleware (app/web/answers.py), which read
    it for this request already."""
    version = known_version(request)
    if version is None:
        version = await read_version(reader)
    return headers_at(request, version, representation)


def read_cache_control(shared_max_age: int) -> str:
    """The Cache-Control of a public read: browsers revalidate every time; a shared cache
    may keep it shared_max_age seconds (SHARED_CACHE_MAX_AGE)."""
    if shared_max_age <= 0:
        return "no-cache"
    return f"public, max-age=0, s-maxage={shared_max_age}"


def _cache_control(request: Request) -> str:
    if "authorization" in request.headers:
        return PRIVATE
    control: str = request.app.state.read_cache_control
    return control


def headers_at(request: Request, version: int, representation: str) -> dict[str, str]:
    """ETag, Cache-Control and Vary of a read decided by the data version; raise
    NotModified when If-None-Match already names it.

    The origin is part of the tag: without PUBLIC_BASE_URL, absolute URLs in an answer
    (Link, the catalogue's) come from the request's scheme and host (app/web/origin.py).
    """
    key = "|".join(
        [
            str(version),
            f"{request.url.scheme}://{request.url.netloc}",
            request.scope["path"],
            str(sorted(request.query_params.multi_items())),
            representation,
        ]
    )
    tag = f'W/"{hashlib.sha256(key.encode()).hexdigest()[:24]}"'
    headers = {"ETag": tag, "Cache-Control": _cache_control(request), "Vary": READ_VARY}
    if matches_etag(request.headers.get("if-none-match"), tag):
        raise NotModified(headers)
    return headers


def resource_headers(request: Request, row: Versioned) -> dict[str, str]:
    """ETag, Cache-Control and Vary of a GET of one resource (for its 200 and its 304)."""
    return {"ETag": resource_etag(row), "Cache-Control": _cache_control(request), "Vary": READ_VARY}


async def not_modified_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotModified)
    return Response(status_code=304, headers=exc.headers)
