"""The one least-recently-used store the service keeps things in: statements by shape
(app/reads.py), answers kept per data version (app/web/caching.py), statistics
(app/web/caching.py).

Bounded by a total weight: each item's `weigh(item)` (1 by default, so the bound is a
count; the answers weigh their bytes). Not thread-safe by itself: a user shared between
threads holds a lock around it (the statistics cache does).
"""

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def _one(_item: object) -> int:
    return 1


class LRU(Generic[K, V]):
    def __init__(self, limit: int, weigh: Callable[[V], int] = _one) -> None:
        self.limit = limit
        self.weight = 0  # the items' total weight, at most limit
        self._weigh = weigh
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: K, item: V) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.weight -= self._weigh(old)
        self._items[key] = item
        self.weight += self._weigh(item)
        while self.weight > self.limit and self._items:
            _, dropped = self._items.popitem(last=False)
            self.weight -= self._weigh(dropped)

    def __len__(self) -> int:
        return len(self._items)
