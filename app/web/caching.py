"""HTTP caching of public reads: ETags, 304, Cache-Control and Vary, and the answers kept per
data version.

Every write transaction moves `data_version` on (app/changes/recorder.py), so the answer to
a public read is decided by the data version and the request: its ETag is a digest of them,
a 304 costs one primary-key read, and a whole answer can be kept under them and never be
served stale (AnswerCacheMiddleware, below).
"""

import gzip
import hashlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.lru import LRU
from app.reads import Reader, reader_of
from app.versions import Versioned, VersionFirst, read_version, resource_etag
from app.web.monitoring import ROUTE_TEMPLATE, count_kept_answer, route_template

# --- ETags, 304, Cache-Control and Vary ---------------------------------------------------
#
# One resource's ETag is its id and version (resource_etag). A collection, an export or a
# statistic changes only when data is written, so its ETag is a digest of (data version,
# origin, path, query, representation): one primary-key read decides a 304.
#
# Reads are sent `Cache-Control: no-cache`: a browser keeps the answer but asks again each
# time (a 304 costs one primary-key read), so an app never shows its own write undone. An
# operator who puts a shared cache (a CDN) in front may give it a lifetime with
# SHARED_CACHE_MAX_AGE (`s-maxage`); browsers still revalidate. A 304 repeats the
# Cache-Control, ETag and Vary of the 200 it stands for (RFC 9110 section 15.4.5).

# What a public read varies on: JSON or CSV (Accept), a gzip copy (Accept-Encoding, see
# AnswerCacheMiddleware), and a token, which makes the answer private.
READ_VARY = "Accept, Accept-Encoding, Authorization"
PRIVATE = "private, no-store"
DATA_VERSION_KEY = "data_version"  # request state: the version read for this request
T = TypeVar("T")


class NotModified(Exception):
    """Raised to answer 304: the client's copy is current."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("not modified")
        self.headers = headers


def known_version(request: Request) -> int | None:
    """The data version read for this request already, by AnswerCacheMiddleware
    (app/web/caching.py), or None."""
    version: int | None = request.scope.get("state", {}).get(DATA_VERSION_KEY)
    return version


def matches_etag(if_none_match: str | None, tag: str) -> bool:
    """Whether If-None-Match names tag (weak comparison: W/"3" matches "3"), or is `*`."""
    if if_none_match is None:
        return False
    candidates = {item.strip().removeprefix("W/") for item in if_none_match.split(",")}
    return "*" in candidates or tag.removeprefix("W/") in candidates


@dataclass(frozen=True)
class FixedAnswer:
    """An answer whose bytes stay the same while the process runs (the dashboard's page, the
    OpenAPI document), with a strong ETag of its bytes, made once: a browser or a client
    generator asks again with If-None-Match and gets a 304 until a new release changes them."""

    body: bytes
    media_type: str
    tag: str

    @classmethod
    def of(cls, body: bytes, media_type: str) -> "FixedAnswer":
        return cls(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:24]}"')

    def to(self, request: Request) -> Response:
        headers = {"ETag": self.tag, "Cache-Control": "no-cache"}
        if matches_etag(request.headers.get("if-none-match"), self.tag):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


async def read_cache_headers(
    request: Request, reader: Reader, representation: str = "", *, strong: bool = False
) -> dict[str, str]:
    """ETag, Cache-Control and Vary of a public read, or raise NotModified. The data version
    comes through the reader, or from AnswerCacheMiddleware (app/web/caching.py), which read
    it for this request already.

    For a read whose answer is the rows of the reader, read_with_cache_headers (below) takes
    the version in the same round trip; this one is for answers made otherwise (a resource
    read whole, the exports, the printed report, the catalogue) and for a route that checks
    something before its read (a 404 before the list of an initiative's evaluations)."""
    version = known_version(request)
    if version is None:
        version = await read_version(reader)
    return headers_at(request, version, representation, strong=strong)


async def read_with_cache_headers(
    request: Request, read: Callable[[Reader], Awaitable[T]], representation: str = ""
) -> tuple[T, dict[str, str]]:
    """The answer of a public read, `read` run on the app's reader, and its ETag,
    Cache-Control and Vary (as read_cache_headers gives them); or raise NotModified.

    The data version is read in the same round trip as the read's first statements, before
    them (VersionFirst, app/versions.py): one round trip fewer than reading it first on its
    own. Except when the request names an ETag: then the version is read first, alone, as
    the answer is most likely a 304, which then costs that read and no more; and when
    AnswerCacheMiddleware read it for this request already."""
    reader = reader_of(request)
    if known_version(request) is not None or "if-none-match" in request.headers:
        headers = await read_cache_headers(request, reader, representation)
        return await read(reader), headers
    versioned = VersionFirst(reader)
    answer = await read(versioned)
    version = versioned.version
    if version is None:  # the read ran no statement
        version = await read_version(reader)
    return answer, headers_at(request, version, representation)


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


def headers_at(
    request: Request, version: int, representation: str, *, strong: bool = False
) -> dict[str, str]:
    """ETag, Cache-Control and Vary of a read decided by the data version; raise
    NotModified when If-None-Match already names it.

    The origin is part of the tag: without PUBLIC_BASE_URL, absolute URLs in an answer
    (Link, the catalogue's) come from the request's scheme and host (app/web/edge.py).

    The tag is weak (the same data may be written in other bytes: a workbook holds the
    time it was made), unless `strong`: for an answer whose bytes are decided by the data
    and by what `representation` names (the plan's bundle), so that a range of it may be
    resumed with If-Range.
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
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    tag = f'"{digest}"' if strong else f'W/"{digest}"'
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


# --- Answers kept per data version: a warm read costs one primary-key read ------------------
#
# The answer to an anonymous GET is decided by (data version, origin, path, query, Accept)
# alone. The origin (scheme and Host) is in the key because absolute URLs in an answer (Link,
# the catalogue's) are written with it, unless PUBLIC_BASE_URL fixes it (app/web/edge.py): an
# answer kept for one host is never given to a request made to another. An answer kept under
# that key can never be served stale, in any worker or process, and no write
# has to invalidate anything: it simply makes new keys. A version read before the route runs
# can only be older than the data the route reads, so an answer is never kept under a version
# newer than its data.
#
# What is kept: complete `200` answers to GETs under the API prefix without `Authorization`,
# each at most `max_item_bytes`, up to `max_bytes` in all per process (least recently used
# first out). Conditional requests (`If-None-Match`) go to the route, which answers 304 itself.
# The headers that depend on the request rather than the data (CORS, security headers) are
# added outside this middleware, on every answer, as before.
#
# Large answers are also kept gzip-compressed, made once when the answer is kept, and a client
# that accepts gzip (browsers, curl --compressed, Python's requests and httpx) gets those
# bytes: a statistic of every municipality's plan is half a megabyte of JSON, and sending it is
# most of what a warm answer costs (bench/README.md). The copy is made once, when the answer
# is kept: the first answer of a data version to a client that accepts gzip waits for it and
# goes out compressed too, the others as the route wrote them. Answers not kept (too large,
# streamed exports, authorized or conditional requests) are never compressed. Every answer
# that may have a compressed variant says `Vary: Accept-Encoding`.

_BYPASS = frozenset({b"authorization", b"if-none-match", b"if-modified-since", b"range"})
Key = tuple[int, str, bytes, str, bytes, bytes]
Headers = tuple[tuple[bytes, bytes], ...]
GZIP_MIN_BYTES = 4096  # below this, a compressed copy saves too little to be worth keeping
GZIP_LEVEL = 6
GZIP_THREAD_MIN_BYTES = 128 * 1024  # from this size, compressed in a worker thread
_COMPRESSIBLE = (b"application/json", b"text/csv")


class Answer(NamedTuple):
    # Tuples of bytes only: once kept, the garbage collector stops tracking them, so thousands
    # of kept answers do not slow its passes down.
    headers: Headers
    body: bytes
    gzip_headers: Headers = ()  # with the gzip body: its Content-Encoding and Content-Length
    gzip_body: bytes = b""  # empty when the answer is not worth compressing
    route: str = ""  # the route template that made it, for the access log (app/web/monitoring.py)

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzip_body)


def accepts_gzip(accept_encoding: bytes) -> bool:
    """Whether an Accept-Encoding value accepts gzip (`gzip`, `*`, not with q=0)."""
    accepted = False
    for item in accept_encoding.lower().split(b","):
        coding, _, params = item.strip().partition(b";")
        if coding.strip() not in (b"gzip", b"x-gzip", b"*"):
            continue
        quality = params.strip().removeprefix(b"q=").strip() if b"q=" in params else b"1"
        try:
            accepted = float(quality) > 0
        except ValueError:
            accepted = False
        if coding.strip() != b"*":
            return accepted
    return accepted


def worth_compressing(headers: Headers | list[tuple[bytes, bytes]]) -> bool:
    """Whether an answer with these headers gets a gzip copy: JSON or CSV, not already
    encoded, of a declared length of at least GZIP_MIN_BYTES."""
    found = dict(headers)
    length = found.get(b"content-length", b"0")
    return (
        b"content-encoding" not in found
        and found.get(b"content-type", b"").startswith(_COMPRESSIBLE)
        and length.isdigit()
        and int(length) >= GZIP_MIN_BYTES
    )


def _vary_accept_encoding(headers: list[tuple[bytes, bytes]]) -> None:
    """Add Accept-Encoding to the Vary of headers (in place), unless it is there already."""
    for index, (name, value) in enumerate(headers):
        if name == b"vary":
            if b"accept-encoding" not in value.lower():
                headers[index] = (name, value + b", Accept-Encoding")
            return
    headers.append((b"vary", b"Accept-Encoding"))


def compressed(headers: Headers, body: bytes, route: str) -> Answer:
    """The answer to keep, with its gzip copy (made once, here)."""
    packed = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    gzip_headers = tuple((name, value) for name, value in headers if name != b"content-length") + (
        (b"content-encoding", b"gzip"),
        (b"content-length", str(len(packed)).encode()),
    )
    return Answer(headers, body, gzip_headers, packed, route)


def _answer_size(answer: Answer) -> int:
    return answer.size


class AnswerCacheMiddleware:
    def __init__(self, app: ASGIApp, *, prefix: str, max_bytes: int, max_item_bytes: int) -> None:
        self.app = app
        self.prefix = prefix
        self.max_item_bytes = min(max_item_bytes, max_bytes)
        # One process's kept answers, bounded by their bytes; used only on the event loop.
        self.store: LRU[Key, Answer] = LRU(max_bytes, weigh=_answer_size)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function for what it passes by, as app/web/edge.py's HttpMiddleware says why.
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or self.max_item_bytes <= 0
            or not scope["path"].startswith(self.prefix)
        ):
            return self.app(scope, receive, send)
        return self.kept(scope, receive, send)

    async def kept(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A public GET: its kept answer, or the route's, kept for the next."""
        accept = encodings = host = b""
        for name, value in scope["headers"]:
            if name in _BYPASS:
                await self.app(scope, receive, send)
                return
            if name == b"accept":
                accept = value
            elif name == b"accept-encoding":
                encodings = value
            elif name == b"host":
                host = value
        version = await read_version(scope["app"].state.reader)
        # The route's ETag is made from this same read (app/web/caching.py): one read a request.
        scope.setdefault("state", {})[DATA_VERSION_KEY] = version
        key: Key = (version, scope["scheme"], host, scope["path"], scope["query_string"], accept)
        answer = self.store.get(key)
        count_kept_answer(answer is not None)
        if answer is not None:
            scope["state"][ROUTE_TEMPLATE] = answer.route
            if answer.gzip_body and accepts_gzip(encodings):
                headers, body = answer.gzip_headers, answer.gzip_body
            else:
                headers, body = answer.headers, answer.body
            # A copy: the middlewares outside add their headers to the list they are given.
            start = {"type": "http.response.start", "status": 200, "headers": list(headers)}
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, self._keeping(key, scope, send, accepts_gzip(encodings)))

    def _keeping(self, key: Key, scope: Scope, send: Send, gzip_wanted: bool) -> Send:
        """Pass the route's answer on, and keep it if it is a complete 200 small enough;
        compressed, if gzip_wanted and the answer will have a gzip copy."""
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        size = 0
        keep = compress = True
        held: Message | None = None  # the start, held until the body is known whole

        async def keeping(message: Message) -> None:
            nonlocal size, keep, compress, held
            if message["type"] == "http.response.start":
                keep = message["status"] == 200
                headers.extend(message.get("headers", ()))
                compress = keep and worth_compressing(headers)
                if compress:
                    # Kept, later requests may get it compressed: say so from the first.
                    _vary_accept_encoding(headers)
                    message = {**message, "headers": list(headers)}
                    if gzip_wanted:
                        held = message
                        return
            elif held is not None:
                start, held = held, None
                chunk = message.get("body", b"")
                if message.get("more_body") or len(chunk) > self.max_item_bytes:
                    await send(start)  # streamed, or too large to keep: as the route wrote it
                else:
                    answer = await self._compressed(headers, chunk, scope)
                    self.store.put(key, answer)
                    await send({**start, "headers": list(answer.gzip_headers)})
                    await send({**message, "body": answer.gzip_body})
                    return
            if message["type"] == "http.response.body" and keep:
                chunk = message.get("body", b"")
                size += len(chunk)
                keep = size <= self.max_item_bytes
                chunks.append(chunk)
            await send(message)
            if message["type"] == "http.response.body" and keep and not message.get("more_body"):
                # The client has its answer; now keep it (and its gzip copy, made in a worker
                # thread when large, so the event loop never waits on it).
                body = b"".join(chunks)
                if not compress:
                    kept = tuple((bytes(name), bytes(value)) for name, value in headers)
                    route = route_template(scope, self.prefix) or ""
                    self.store.put(key, Answer(kept, body, route=route))
                else:
                    self.store.put(key, await self._compressed(headers, body, scope))

        return keeping

    async def _compressed(
        self, headers: list[tuple[bytes, bytes]], body: bytes, scope: Scope
    ) -> Answer:
        """The answer to keep with its gzip copy, made in a worker thread when large, so the
        event loop never waits on it."""
        kept = tuple((bytes(name), bytes(value)) for name, value in headers)
        route = route_template(scope, self.prefix) or ""
        if len(body) < GZIP_THREAD_MIN_BYTES:
            return compressed(kept, body, route)
        return await run_in_threadpool(compressed, kept, body, route)


# --- Statistics kept for the requests kept answers do not serve ----------------------------
#
# A request with a token and an answer over ANSWER_CACHE_ITEM_BYTES run the route; for the
# statistics that is a GROUP BY over every evaluation, so they keep their rendered answers
# too (STATS_CACHE_SIZE), under the same kind of key: (data version, request). Why not fold
# them into the kept answers, and why not summary tables kept in step by every writer (which
# would slow every write and make each write path a place to forget): bench/README.md.


@dataclass(frozen=True)
class Cached:
    body: bytes
    media_type: str
    headers: dict[str, str]


class StatsCache:
    """Rendered statistics, at most `size` of them, shared by the threads that compute them."""

    def __init__(self, size: int = 512) -> None:
        self._items: LRU[str, Cached] = LRU(size)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._items.limit > 0

    def get(self, key: str) -> Cached | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: str, answer: Cached) -> None:
        if self.enabled:
            with self._lock:
                self._items.put(key, answer)
