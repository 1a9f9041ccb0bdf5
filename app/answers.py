"""Answers to public reads, kept per data version: a warm read costs one primary-key read.

The reasoning is the statistics cache's (app/stats/cache.py), applied to every public read of
the API: every write transaction moves `data_version` on (app/changes/recorder.py), so the
answer to an anonymous GET is decided by (data version, path, query, Accept) alone. An
answer kept under that key can never be served stale, in any worker or process, and no write
has to invalidate anything: it simply makes new keys. A version read before the route runs
can only be older than the data the route reads, so an answer is never kept under a version
newer than its data.

What is kept: complete `200` answers to GETs under the API prefix without `Authorization`,
each at most `max_item_bytes`, up to `max_bytes` in all per process (least recently used
first out). Conditional requests (`If-None-Match`) go to the route, which answers 304 itself.
The headers that depend on the request rather than the data (CORS, security headers) are
added outside this middleware, on every answer, as before.
"""

from collections import OrderedDict
from typing import NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.caching import DATA_VERSION_KEY, read_version

_BYPASS = frozenset({b"authorization", b"if-none-match", b"if-modified-since", b"range"})
Key = tuple[int, str, bytes, bytes]


class Answer(NamedTuple):
    # Tuples of bytes only: once kept, the garbage collector stops tracking them, so thousands
    # of kept answers do not slow its passes down.
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


class AnswerStore:
    """An LRU of answers bounded by their total size in bytes (one per process, used only
    on the event loop, so it needs no lock)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[Key, Answer] = OrderedDict()

    def get(self, key: Key) -> Answer | None:
        answer = self._items.get(key)
        if answer is not None:
            self._items.move_to_end(key)
        return answer

    def put(self, key: Key, answer: Answer) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old.body)
        self._items[key] = answer
        self.size += len(answer.body)
        while self.size > self.max_bytes and self._items:
            _, dropped = self._items.popitem(last=False)
            self.size -= len(dropped.body)


class AnswerCacheMiddleware:
    def __init__(self, app: ASGIApp, *, prefix: str, max_bytes: int, max_item_bytes: int) -> None:
        self.app = app
        self.prefix = prefix
        self.max_item_bytes = min(max_item_bytes, max_bytes)
        self.store = AnswerStore(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or self.max_item_bytes <= 0
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        accept = b""
        for name, value in scope["headers"]:
            if name in _BYPASS:
                await self.app(scope, receive, send)
                return
            if name == b"accept":
                accept = value
        version = await read_version(scope["app"].state.reader)
        # The route's ETag is made from this same read (app/caching.py): one read a request.
        scope.setdefault("state", {})[DATA_VERSION_KEY] = version
        key: Key = (version, scope["path"], scope["query_string"], accept)
        answer = self.store.get(key)
        if answer is not None:
            # A copy: the middlewares outside add their headers to the list they are given.
            headers = list(answer.headers)
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": answer.body})
            return
        await self.app(scope, receive, self._keeping(key, send))

    def _keeping(self, key: Key, send: Send) -> Send:
        """Pass the route's answer on, and keep it if it is a complete 200 small enough."""
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        size = 0
        keep = True

        async def keeping(message: Message) -> None:
            nonlocal size, keep
            if message["type"] == "http.response.start":
                keep = message["status"] == 200
                headers.extend(message.get("headers", ()))
            elif message["type"] == "http.response.body" and keep:
                chunk = message.get("body", b"")
                size += len(chunk)
                keep = size <= self.max_item_bytes
                chunks.append(chunk)
                if keep and not message.get("more_body", False):
                    kept = tuple((bytes(name), bytes(value)) for name, value in headers)
                    self.store.put(key, Answer(kept, b"".join(chunks)))
            await send(message)

        return keeping
