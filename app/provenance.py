"""Where a fact comes from, as data: read from the document, derived from it, or from elsewhere.

Evaluations and published report lines carry one `provenance` each. A plan and a report
carry one per fact (a map from the fact's field to its provenance), since one row mixes
them: Kanazawa's title and period are in the city's document, its 団体コード and licence are
not. `source` stays beside it, in words: what the document says, or what was inferred from
what.

What a write leaves out: an evaluation is `external` (a status recorded by the city's staff
comes from their own records, not from a published document, unless the writer says so); a
report line is `stated` (it is a published table's figure); a plan's or a report's fact is
`external` until someone says otherwise.
"""

import json
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema


class Provenance(StrEnum):
    stated = "stated"  # 記載: the document states it
    inferred = "inferred"  # 推定: derived from the document (source says from what)
    external = "external"  # 外部: not from the document


PROVENANCE_JA = {
    Provenance.stated: "記載",
    Provenance.inferred: "推定",
    Provenance.external: "外部",
}
_FROM_JA = {ja: value for value, ja in PROVENANCE_JA.items()}
VALUES = tuple(value.value for value in Provenance)
CHECK = "provenance IN ('stated', 'inferred', 'external')"

# The facts of a plan and of a report that a provenance map covers, in the order shown.
PLAN_FACTS = (
    "title",
    "municipality_code",
    "municipality_name",
    "philosophy",
    "start_fiscal_year",
    "end_fiscal_year",
    "license",
)
REPORT_FACTS = ("fiscal_year", "title", "published_on")
DESCRIPTION = (
    "stated (記載: the document states it), inferred (推定: derived from the document; source"
    " says from what) or external (外部: from elsewhere)."
)


def _one(value: Any) -> Any:
    """A provenance as English or as its Japanese label (the exports' Japanese headers)."""
    if isinstance(value, str):
        return _FROM_JA.get(value.strip(), value.strip())
    return value


OneProvenance = Annotated[
    Provenance,
    BeforeValidator(_one),
    WithJsonSchema({"type": "string", "enum": [*VALUES, *_FROM_JA], "description": DESCRIPTION}),
]


def _only(facts: tuple[str, ...]) -> Any:
    """A validator refusing a map with a key that is not one of the facts."""

    def known(value: Any) -> Any:
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(facts))
            if unknown:
                raise ValueError(
                    f"no fact named {', '.join(unknown)}; the facts are {', '.join(facts)}"
                )
        return value

    return BeforeValidator(known)


def _described(facts: tuple[str, ...]) -> str:
    return (
        f"Per fact ({', '.join(facts)}): {DESCRIPTION} A fact left out is external on create;"
        " a change names the facts it changes and keeps the others."
    )


PLAN_FACTS_EXAMPLE: dict[str, str] = {
    "title": "stated",
    "municipality_code": "external",
    "municipality_name": "stated",
    "philosophy": "stated",
    "start_fiscal_year": "stated",
    "end_fiscal_year": "stated",
    "license": "external",
}
REPORT_FACTS_EXAMPLE: dict[str, str] = {
    "fiscal_year": "inferred",
    "title": "stated",
    "published_on": "stated",
}
# What a write gives: some or all of the facts.
PlanFacts = Annotated[
    dict[str, OneProvenance],
    _only(PLAN_FACTS),
    Field(description=_described(PLAN_FACTS), examples=[PLAN_FACTS_EXAMPLE]),
]
ReportFacts = Annotated[
    dict[str, OneProvenance],
    _only(REPORT_FACTS),
    Field(description=_described(REPORT_FACTS), examples=[REPORT_FACTS_EXAMPLE]),
]


def full(facts: tuple[str, ...], stored: dict[str, Any] | str | None) -> dict[str, str]:
    """Every fact's provenance, in the facts' order: the stored ones, the rest external.
    `stored` may be the JSON text a driver hands back unparsed (the readers' raw rows)."""
    given: dict[str, Any] = (json.loads(stored) if isinstance(stored, str) else stored) or {}
    return {fact: str(given.get(fact, Provenance.external)) for fact in facts}


def merged(
    facts: tuple[str, ...], stored: dict[str, Any] | None, given: dict[str, Any]
) -> dict[str, str]:
    """The stored map with the given facts changed, every fact named (as stored)."""
    return full(facts, {**(stored or {}), **{key: str(value) for key, value in given.items()}})
