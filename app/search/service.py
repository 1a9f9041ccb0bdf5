"""GET /search: policies, measures, initiatives and evaluation results in one ranked list.

One statement, a UNION ALL of a SELECT per kind, each with a condition per word (every word
must be found, as in each list's ?q=: app/search/match.py), gives a page in rank order;
a second counts them. The snippets are cut from the page's texts in Python
(app/search/snippet.py): only the initiatives found through an evaluation's result alone
need one more query, for those results.

Rank: 0 when a word is in the code, 1 when a word is in the title (the first line of a key:
app/text.py), 2 otherwise; then policies, measures, initiatives, evaluations, each in its
natural order.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)

from app.initiatives.service import has_word as initiative_has_word
from app.listing import PageParams
from app.models import evaluations, initiatives, measures, policies
from app.reads import Prepared, Reader, Row, Shapes
from app.search import match, snippet
from app.search.match import Terms
from app.search.schemas import HitKind
from app.wareki import fiscal_year_label

KIND_ORDER = {kind: order for order, kind in enumerate(HitKind)}
_PLAN: BindParameter[int] = bindparam("plan_id")
_shapes = Shapes()


def _constant(value: int | str) -> ColumnElement[Any]:
    """A constant column, typed so that PostgreSQL can unite the SELECTs."""
    if isinstance(value, int):
        return literal_column(str(value), Integer)
    return literal_column(f"'{value}'", Text)


def _rank(
    terms: Terms, dialect: str, key: ColumnElement[str], code: ColumnElement[str] | None = None
) -> ColumnElement[int]:
    """0: a word in the code; 1: a word in the title (the key's first line); else 2."""
    whens: list[tuple[ColumnElement[bool], int]] = []
    if code is not None:
        in_code = [func.lower(code).like(word.pattern(), escape="\\") for word in terms.words]
        whens.append((or_(*in_code), 0))
    in_title = [match.in_first_line(dialect, key, word) for word in terms.words]
    whens.append((or_(*in_title), 1))
    return case(*whens, else_=2)


def _hits(
    kind: HitKind,
    *,
    id_: ColumnElement[int],
    plan_id: ColumnElement[int],
    code: ColumnElement[Any],
    title: ColumnElement[str],
    text: ColumnElement[Any],
    rank: ColumnElement[int],
    order: Sequence[ColumnElement[Any]],
    initiative_id: ColumnElement[Any],
    fiscal_year: ColumnElement[Any],
) -> Select[Any]:
    """The columns every kind's SELECT gives, in the same order. `order` is the natural
    order inside the kind: a number, a number, a code key."""
    return select(
        _constant(kind.value).label("kind"),
        id_.label("id"),
        plan_id.label("plan_id"),
        code.label("code"),
        title.label("title"),
        text.label("text"),
        initiative_id.label("initiative_id"),
        fiscal_year.label("fiscal_year"),
        rank.label("rank"),
        _constant(KIND_ORDER[kind]).label("kind_order"),
        order[0].label("order_1"),
        order[1].label("order_2"),
        order[2].label("order_3"),
    )


def _policies(terms: Terms, dialect: str) -> Select[Any]:
    return _hits(
        HitKind.policy,
        id_=policies.c.id,
        plan_id=policies.c.plan_id,
        code=cast(null(), Text),
        title=policies.c.title,
        text=policies.c.focus,
        rank=_rank(terms, dialect, policies.c.search_text),
        order=[policies.c.number, _constant(0), _constant("")],
        initiative_id=cast(null(), Integer),
        fiscal_year=cast(null(), Integer),
    ).where(*match.has_words(policies, terms.words, dialect))


def _measures(terms: Terms, dialect: str) -> Select[Any]:
    return (
        _hits(
            HitKind.measure,
            id_=measures.c.id,
            plan_id=measures.c.plan_id,
            code=cast(null(), Text),
            title=measures.c.title,
            text=cast(null(), Text),
            rank=_rank(terms, dialect, measures.c.search_text),
            order=[policies.c.number, measures.c.number, _constant("")],
            initiative_id=cast(null(), Integer),
            fiscal_year=cast(null(), Integer),
        )
        .join(policies, policies.c.id == measures.c.policy_id)
        .where(*match.has_words(measures, terms.words, dialect))
    )


def _initiatives(terms: Terms, dialect: str) -> Select[Any]:
    return _hits(
        HitKind.initiative,
        id_=initiatives.c.id,
        plan_id=initiatives.c.plan_id,
        code=initiatives.c.code,
        title=initiatives.c.title,
        text=initiatives.c.description,
        rank=_rank(terms, dialect, initiatives.c.search_text, initiatives.c.code),
        order=[_constant(0), _constant(0), initiatives.c.code_sort],
        initiative_id=initiatives.c.id,
        fiscal_year=cast(null(), Integer),
    ).where(*[initiative_has_word(word, dialect) for word in terms.words])


def _evaluations(terms: Terms, dialect: str) -> Select[Any]:
    return (
        _hits(
            HitKind.evaluation,
            id_=evaluations.c.id,
            plan_id=initiatives.c.plan_id,
            code=initiatives.c.code,
            title=initiatives.c.title,
            text=evaluations.c.result,
            rank=_constant(2),  # a result has neither code nor title
            order=[evaluations.c.fiscal_year, _constant(0), initiatives.c.code_sort],
            initiative_id=initiatives.c.id,
            fiscal_year=evaluations.c.fiscal_year,
        )
        .join(initiatives, initiatives.c.id == evaluations.c.initiative_id)
        .where(*match.has_words(evaluations, terms.words, dialect))
    )


_KINDS = {
    HitKind.policy: (_policies, policies.c.plan_id),
    HitKind.measure: (_measures, measures.c.plan_id),
    HitKind.initiative: (_initiatives, initiatives.c.plan_id),
    HitKind.evaluation: (_evaluations, initiatives.c.plan_id),
}


def _union(terms: Terms, dialect: str, kinds: Sequence[HitKind], by_plan: bool) -> Any:
    parts = []
    for kind in kinds:
        build, plan_id = _KINDS[kind]
        part = build(terms, dialect)
        parts.append(part.where(plan_id == _PLAN) if by_plan else part)
    return union_all(*parts).subquery("hits")


def _statements(
    terms: Terms, dialect: str, kinds: Sequence[HitKind], by_plan: bool
) -> tuple[Prepared, Prepared]:
    """The page's statement and the count's, built once per shape."""
    key = (terms.shape(dialect), tuple(kinds), by_plan)

    def page() -> Any:
        hits = _union(terms, dialect, kinds, by_plan)
        order = ("rank", "kind_order", "plan_id", "order_1", "order_2", "order_3", "id")
        return (
            select(hits)
            .order_by(*[hits.c[name] for name in order])
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )

    def count() -> Any:
        return select(func.count()).select_from(_union(terms, dialect, kinds, by_plan))

    return _shapes.get(("page", key), page), _shapes.get(("count", key), count)


def _results(count: int) -> Prepared:
    """The results of `count` initiatives (binds id_0...), latest year first."""

    def build() -> Any:
        ids: list[BindParameter[int]] = [bindparam(f"id_{index}") for index in range(count)]
        return (
            select(evaluations.c.initiative_id, evaluations.c.result)
            .where(evaluations.c.initiative_id.in_(ids))
            .order_by(evaluations.c.initiative_id, evaluations.c.fiscal_year.desc())
        )

    return _shapes.get(("results", count), build)


def _texts(row: Row) -> list[str | None]:
    """The texts of a hit a snippet may come from, in order of preference."""
    if row["kind"] == HitKind.initiative:
        return [row["title"], row["text"]]
    if row["kind"] == HitKind.evaluation:
        return [row["text"]]
    return [row["title"], row["text"]]


async def _snippets(reader: Reader, rows: list[Row], words: list[str]) -> list[str]:
    found = [snippet.snippet(_texts(row), words) for row in rows]
    # Initiatives found through a result (no word in the code either): their snippet
    # comes from their results.
    missing = [
        row["id"]
        for row, text in zip(rows, found, strict=True)
        if text is None and row["kind"] == HitKind.initiative and row["rank"] == 2
    ]
    if missing:
        results: dict[int, list[str | None]] = {}
        values = {f"id_{index}": id_ for index, id_ in enumerate(missing)}
        for result in await reader.all(_results(len(missing)), **values):
            results.setdefault(result["initiative_id"], []).append(result["result"])
        found = [
            snippet.snippet(results.get(row["id"], []), words)
            if row["id"] in missing and row["kind"] == HitKind.initiative
            else text
            for row, text in zip(rows, found, strict=True)
        ]
    return [
        text if text is not None else snippet.opening(_texts(row))
        for row, text in zip(rows, found, strict=True)
    ]


def _json(row: Row, text: str) -> dict[str, Any]:
    year = row["fiscal_year"]
    return {
        "kind": row["kind"],
        "id": row["id"],
        "plan_id": row["plan_id"],
        "code": row["code"],
        "title": row["title"],
        "snippet": text,
        "initiative_id": row["initiative_id"],
        "fiscal_year": year,
        "fiscal_year_label": None if year is None else fiscal_year_label(year),
    }


async def search(
    *,
    reader: Reader,
    terms: Terms,
    plan_id: int | None,
    kind: HitKind | None,
    page: PageParams,
) -> tuple[list[dict[str, Any]], int]:
    """A page of hits as JSON objects (SearchHit), and the number of all."""
    kinds = list(HitKind) if kind is None else [kind]
    rows_sql, count_sql = _statements(terms, reader.dialect.name, kinds, plan_id is not None)
    values: dict[str, Any] = terms.values()
    if plan_id is not None:
        values["plan_id"] = plan_id
    rows, counted = await reader.batch(
        (rows_sql, {**values, "limit": page.limit, "offset": page.offset}), (count_sql, values)
    )
    words = [word.text for word in terms.words]
    texts = await _snippets(reader, rows, words)
    total = int(next(iter(counted[0].values())))
    return [_json(row, text) for row, text in zip(rows, texts, strict=True)], total
