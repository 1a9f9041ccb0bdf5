"""The achievement rate, exactly as the city computes it."""

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

METHOD = (
    "rate: achieved / items x 100, half up to 0.1, where items are the evaluations of the year"
    " with a status (unconfirmed stay in the denominator; no_status and not_evaluated do not);"
    " rate_all_items: achieved / (items + no_status + not_evaluated), every registered"
    " initiative the year counts, as the city's own table divides by all its items"
)
_TENTH = Decimal("0.1")


@lru_cache(maxsize=65536)  # a pure function of two counts, asked for again and again
def achievement_rate(achieved: int, items: int) -> float | None:
    """Return achieved ÷ items × 100 rounded half up (四捨五入) to 0.1, or None for no items.

    Decimal, never float rounding: 1 of 16 is 6.25 %, which must become 6.3 (round() on the
    float would give 6.2).
    """
    if items == 0:
        return None
    return float((Decimal(achieved) * 100 / Decimal(items)).quantize(_TENTH, ROUND_HALF_UP))


def percent_of(actual: float | None, target: float | None) -> float | None:
    """Return actual as a percentage of target (may exceed 100), or None when undefined."""
    if actual is None or target is None or target == 0:
        return None
    ratio = Decimal(repr(actual)) * 100 / Decimal(repr(target))
    return float(ratio.quantize(_TENTH, ROUND_HALF_UP))
