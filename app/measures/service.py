"""Measure queries."""

from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlmodel import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.listing import PageParams
from app.measures.schemas import MeasureCreate, MeasurePublic, MeasureUpdate
from app.models import Measure, Policy, initiatives, measures, policies
from app.reads import Listing, Prepared, Projection, Reader, fetch
from app.search import match
from app.search.match import Terms, Word
from app.text import search_key
from app.writes import check_if_match, committing, delete, load, touch


class MeasureSort(StrEnum):
    id = "id"
    number = "number"
    policy_number = "policy_number"
    updated_at = "updated_at"


SORT_COLUMNS: dict[str, Any] = {
    "id": measures.c.id,
    "number": measures.c.number,
    "policy_number": policies.c.number,
    "updated_at": measures.c.updated_at,
}
DEFAULT_SORT = "plan_id,policy_number,number"

PUBLIC_COLUMNS = [column for column in measures.c if column.name != "search_text"]
_SELECT = select(*PUBLIC_COLUMNS, policies.c.number.label("policy_number")).join(
    policies, policies.c.id == measures.c.policy_id
)


def has_word(word: Word, dialect: str) -> ColumnElement[bool]:
    """A word of ?q= is in the measure's title."""
    return match.has_word(measures, word, dialect)


_ONE = Prepared(_SELECT.where(measures.c.id == bindparam("measure_id")))
_LIST = Listing(
    rows=_SELECT,
    count=select(func.count()).select_from(measures),
    filters={
        "plan_id": lambda value: measures.c.plan_id == value,
        "policy_id": lambda value: measures.c.policy_id == value,
    },
    sort_columns=SORT_COLUMNS,
    default_sort=[measures.c.plan_id, policies.c.number, measures.c.number],
    tiebreak=measures.c.id,
    search=has_word,
)
_json = Projection(MeasurePublic)


async def read_measures(
    *,
    reader: Reader,
    plan_id: int | None,
    policy_id: int | None,
    q: str | None,
    page: PageParams,
    sort: str | None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of measures as JSON objects, and the number of all that match."""
    filters = {"plan_id": plan_id, "policy_id": policy_id}
    values = {name: value for name, value in filters.items() if value is not None}
    rows, total = await _LIST.page(reader, values, page, sort, Terms.parse(q))
    return [_json(row) for row in rows], total


async def read_measure(*, reader: Reader, measure_id: int) -> dict[str, Any]:
    row = await reader.first(_ONE, measure_id=measure_id)
    if row is None:
        raise NotFound(f"measure {measure_id} does not exist")
    return _json(row)


def get_measure(*, session: Session, measure_id: int) -> MeasurePublic:
    """A measure as written, read back on the write's session."""
    rows = fetch(session, _ONE, measure_id=measure_id)
    if not rows:
        raise NotFound(f"measure {measure_id} does not exist")
    return MeasurePublic.model_validate(_json(rows[0]))


def derived_columns(*, title: str) -> dict[str, str]:
    """Return the columns the code that writes a measure keeps in step with its fields."""
    return {"search_text": search_key(title)}


def _check_number_free(
    session: Session, policy_id: int, number: int, measure_id: int | None = None
) -> None:
    query = select(measures.c.id).where(
        measures.c.policy_id == policy_id, measures.c.number == number
    )
    if measure_id is not None:
        query = query.where(measures.c.id != measure_id)
    if session.scalar(query) is not None:
        raise Conflict(f"policy {policy_id} has a measure numbered {number} already")


def _policy(session: Session, policy_id: int) -> Policy:
    policy = session.get(Policy, policy_id)
    if policy is None:
        raise InvalidInput.at(["body", "policy_id"], f"policy {policy_id} does not exist")
    return policy


def create_measure(*, session: Session, measure_in: MeasureCreate) -> int:
    policy = _policy(session, measure_in.policy_id)
    _check_number_free(session, policy.id or 0, measure_in.number)
    data = measure_in.model_dump() | derived_columns(title=measure_in.title)
    measure = Measure(plan_id=policy.plan_id, **data)
    with committing(session):
        session.add(measure)
    assert measure.id is not None
    return measure.id


def update_measure(
    *, session: Session, measure_id: int, measure_in: MeasureUpdate, if_match: str | None
) -> None:
    measure: Measure = load(session, Measure, "measure", measure_id)
    check_if_match(if_match, measure)
    data = measure_in.model_dump(exclude_unset=True)
    if "policy_id" in data and _policy(session, data["policy_id"]).plan_id != measure.plan_id:
        raise InvalidInput.at(
            ["body", "policy_id"],
            f"policy {data['policy_id']} belongs to another plan; a measure stays in its plan",
        )
    policy_id = data.get("policy_id", measure.policy_id)
    if "policy_id" in data or "number" in data:
        _check_number_free(session, policy_id, data.get("number", measure.number), measure_id)
    data |= derived_columns(title=data.get("title", measure.title))
    shown = (measure.number, measure.policy_id)  # each of its initiatives shows them
    with committing(session):
        measure.sqlmodel_update(data)
        if (measure.number, measure.policy_id) != shown:
            touch(session, (initiatives, initiatives.c.measure_id == measure_id))


def delete_measure(
    *, session: Session, measure_id: int, if_match: str | None, cascade: bool
) -> None:
    measure: Measure = load(session, Measure, "measure", measure_id)
    check_if_match(if_match, measure)
    delete(session, measure, cascade=cascade)
