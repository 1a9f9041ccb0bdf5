"""What computed figures rest on, said in sentences a page can show beside them.

The service counts only the initiatives registered in it, and the seed registers 18 of the
items Kanazawa's table counts (124 in 令和6年度), with statuses inferred from the document:
a frontend that shows our 100.0 as it comes must not pass it off as the city's 87.1. These
sentences travel with every achievement and summary answer (JSON and CSV).
"""

from collections.abc import Mapping
from typing import Any


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1f}％"


def selection(registered: int, published_items: int, published_rate: float | None) -> str:
    return (
        f"この集計は登録済みの取組事項{registered}件に基づきます。公表資料の表は"
        f"{published_items}項目を数えており、登録済みの取組事項はその一部です。"
        f"市が公表した達成率は{_percent(published_rate)}です。"
    )


def inferred(count: int) -> str:
    return f"評価{count}件は公表資料の記載から推定したものです（provenance: inferred）。"


def without_status(count: int, rate: float | None, rate_all: float | None) -> str:
    return (
        f"評価のない取組事項が{count}件あります。達成率{_percent(rate)}はこれを分母から除いた"
        f"値で、含めると{_percent(rate_all)}です。"
    )


def of_counts(counts: Mapping[str, Any], published: Mapping[str, Any] | None) -> list[str]:
    """The caveats of one year's counts (a total), beside the published total if any."""
    found: list[str] = []
    registered = counts["items"] + counts["no_status"] + counts["not_evaluated"]
    if published is not None and registered < published["items"]:
        found.append(selection(registered, published["items"], published["rate"]))
    if counts["inferred"]:
        found.append(inferred(counts["inferred"]))
    missing = counts["no_status"] + counts["not_evaluated"]
    if missing:
        found.append(without_status(missing, counts["rate"], counts["rate_all_items"]))
    return found
