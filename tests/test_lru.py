"""The one LRU (app/lru.py) behind the statement shapes, the kept answers and the statistics."""

from app.lru import LRU


def test_the_least_recently_used_goes_first() -> None:
    items: LRU[str, int] = LRU(2)
    items.put("a", 1)
    items.put("b", 2)
    assert items.get("a") == 1  # "b" is now the least recently used
    items.put("c", 3)
    assert (items.get("a"), items.get("b"), items.get("c")) == (1, None, 3)
    assert len(items) == 2 and items.weight == 2


def test_a_weight_bounds_the_total_and_a_replaced_item_is_weighed_once() -> None:
    items: LRU[str, bytes] = LRU(10, weigh=len)
    items.put("a", b"12345")
    items.put("a", b"1234")
    assert items.weight == 4
    items.put("b", b"123456")
    assert items.weight == 10 and len(items) == 2
    items.put("c", b"1")
    assert items.get("a") is None and items.weight == 7
    items.put("d", b"12345678901")  # heavier than the bound: kept nowhere, drops the rest
    assert len(items) == 0 and items.weight == 0


def test_a_limit_of_zero_keeps_nothing() -> None:
    items: LRU[str, int] = LRU(0)
    items.put("a", 1)
    assert items.get("a") is None and items.weight == 0
