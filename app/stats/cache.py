"""Statistics are cached in each process, keyed on the database's data version.

Why this design: the answer to a stats request depends only on the committed data and the
request, and every write transaction moves `data_version` on (app/changes/recorder.py).
So a key of (data version, request) can never serve a stale answer, in any worker or
process, without any cross-process invalidation: a write simply makes new keys. The cost of
a warm request is one primary-key read of that row. Summary tables kept in step by every
writer (the alternative) would make each write slower and every write path a place to forget.
"""

import threading
from dataclasses import dataclass

from app.lru import LRU


@dataclass(frozen=True)
class Cached:
    body: bytes
    media_type: str
    headers: dict[str, str]


class AnswerCache:
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
