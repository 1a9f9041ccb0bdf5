"""Statistics are cached in each process, keyed on the database's data version.

Why this design: the answer to a stats request depends only on the committed data and the
request, and every write transaction moves `data_version` on (app/changes/recorder.py).
So a key of (data version, request) can never serve a stale answer, in any worker or
process, without any cross-process invalidation: a write simply makes new keys. The cost of
a warm request is one primary-key read of that row. Summary tables kept in step by every
writer (the alternative) would make each write slower and every write path a place to forget.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Cached:
    body: bytes
    media_type: str
    headers: dict[str, str]


class AnswerCache:
    """A small thread-safe LRU of rendered answers."""

    def __init__(self, size: int = 512) -> None:
        self._items: OrderedDict[str, Cached] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._size > 0

    def get(self, key: str) -> Cached | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, answer: Cached) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._items[key] = answer
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
