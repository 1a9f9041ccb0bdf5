"""Answers to public reads, kept per data version: a warm read costs one primary-key read.

The reasoning is the statistics cache's (app/stats/cache.py), applied to every public read of
the API: every write transaction moves `data_version` on (app/changes/recorder.py), so the
answer to an anonymous GET is decided by (data version, origin, path, query, Accept) alone.
The origin (scheme and Host) is in the key because absolute URLs in an answer (Link, the
catalogue's) are written with it, unless PUBLIC_BASE_URL fixes it (app/web/origin.py): an answer
kept for one host is never given to a request made to another. An
answer kept under that key can never be served stale, in any worker or process, and no write
has to invalidate anything: it simply makes new keys. A version read before the route runs
can only be older than the data the route reads, so an answer is never kept under a version
newer than its data.

What is kept: complete `200` answers to GETs under the API prefix without `Authorization`,
each at most `max_item_bytes`, up to `max_bytes` in all per process (least recently used
first out). Conditional requests (`If-None-Match`) go to the route, which answers 304 itself.
The headers that depend on the request rather than the data (CORS, security headers) are
added outside this middleware, on every answer, as before.

Large answers are also kept gzip-compressed, made once when the answer is kept, and a client
that accepts gzip (browsers, curl --compressed, Python's requests and httpx) gets those
bytes: a statistic of every municipality's plan is half a megabyte of JSON, and sending it is
most of what a warm answer costs (bench/README.md). Nothing is compressed per request: the
first answer of a data version goes out as the route wrote it, and answers not kept (too
large, streamed exports, authorized or conditional requests) are never compressed. Every
answer that may have a compressed variant says `Vary: Accept-Encoding`.
"""

import gzip
from typing import NamedTuple

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.lru import LRU
from app.versions import read_version
from app.web.caching import DATA_VERSION_KEY
from app.web.logs import ROUTE_TEMPLATE, route_template
from app.web.metrics import count_kept_answer

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
    route: str = ""  # the route template that made it, for the access log (app/web/logs.py)

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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or self.max_item_bytes <= 0
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
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
        await self.app(scope, receive, self._keeping(key, scope, send))

    def _keeping(self, key: Key, scope: Scope, send: Send) -> Send:
        """Pass the route's answer on, and keep it if it is a complete 200 small enough."""
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        size = 0
        keep = compress = True

        async def keeping(message: Message) -> None:
            nonlocal size, keep, compress
            if message["type"] == "http.response.start":
                keep = message["status"] == 200
                headers.extend(message.get("headers", ()))
                compress = keep and worth_compressing(headers)
                if compress:
                    # Kept, later requests may get it compressed: say so from the first.
                    _vary_accept_encoding(headers)
                    message = {**message, "headers": list(headers)}
            elif message["type"] == "http.response.body" and keep:
                chunk = message.get("body", b"")
                size += len(chunk)
                keep = size <= self.max_item_bytes
                chunks.append(chunk)
            await send(message)
            if message["type"] == "http.response.body" and keep and not message.get("more_body"):
                # The client has its answer; now keep it (and its gzip copy, made in a worker
                # thread when large, so the event loop never waits on it).
                kept = tuple((bytes(name), bytes(value)) for name, value in headers)
                body = b"".join(chunks)
                route = route_template(scope, self.prefix) or ""
                if not compress:
                    self.store.put(key, Answer(kept, body, route=route))
                elif len(body) < GZIP_THREAD_MIN_BYTES:
                    self.store.put(key, compressed(kept, body, route))
                else:
                    self.store.put(key, await run_in_threadpool(compressed, kept, body, route))

        return keeping
