"""Policy queries."""

from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlmodel import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.listing import PageParams
from app.models import Plan, Policy, initiatives, measures, policies, report_lines, reports
from app.policies.schemas import PolicyCreate, PolicyPublic, PolicyUpdate
from app.reads import Listing, Prepared, Projection, Reader, fetch
from app.search import match
from app.search.match import Terms, Word
from app.text import search_key
from app.writes import check_if_match, committing, delete, load, touch


class PolicySort(StrEnum):
    id = "id"
    number = "number"
    plan_id = "plan_id"
    updated_at = "updated_at"


SORT_COLUMNS = {field.value: policies.c[field.value] for field in PolicySort}
DEFAULT_SORT = "plan_id,number"


PUBLIC_COLUMNS = [column for column in policies.c if column.name != "search_text"]


def has_word(word: Word, dialect: str) -> ColumnElement[bool]:
    """A word of ?q= is in the policy's title or focus."""
    return match.has_word(policies, word, dialect)


_ONE = Prepared(select(*PUBLIC_COLUMNS).where(policies.c.id == bindparam("policy_id")))
_LIST = Listing(
    rows=select(*PUBLIC_COLUMNS),
    count=select(func.count()).select_from(policies),
    filters={"plan_id": lambda value: policies.c.plan_id == value},
    sort_columns=SORT_COLUMNS,
    default_sort=[policies.c.plan_id, policies.c.number],
    tiebreak=policies.c.id,
    search=has_word,
)
_json = Projection(PolicyPublic)


async def read_policies(
    *, reader: Reader, plan_id: int | None, q: str | None, page: PageParams, sort: str | None
) -> tuple[list[dict[str, Any]], int]:
    """A page of policies as JSON objects, and the number of all that match."""
    values = {} if plan_id is None else {"plan_id": plan_id}
    rows, total = await _LIST.page(reader, values, page, sort, Terms.parse(q))
    return [_json(row) for row in rows], total


async def read_policy(*, reader: Reader, policy_id: int) -> dict[str, Any]:
    row = await reader.first(_ONE, policy_id=policy_id)
    if row is None:
        raise NotFound(f"policy {policy_id} does not exist")
    return _json(row)


def get_policy(*, session: Session, policy_id: int) -> PolicyPublic:
    """A policy as written, read back on the write's session."""
    rows = fetch(session, _ONE, policy_id=policy_id)
    if not rows:
        raise NotFound(f"policy {policy_id} does not exist")
    return PolicyPublic.model_validate(_json(rows[0]))


def derived_columns(*, title: str, focus: str | None) -> dict[str, str]:
    """Return the columns the code that writes a policy keeps in step with its fields."""
    return {"search_text": search_key(title, focus)}


def _check_number_free(
    session: Session, plan_id: int, number: int, policy_id: int | None = None
) -> None:
    query = select(policies.c.id).where(policies.c.plan_id == plan_id, policies.c.number == number)
    if policy_id is not None:
        query = query.where(policies.c.id != policy_id)
    if session.scalar(query) is not None:
        raise Conflict(f"plan {plan_id} has a policy numbered {number} already")


def create_policy(*, session: Session, policy_in: PolicyCreate) -> int:
    if session.get(Plan, policy_in.plan_id) is None:
        raise InvalidInput.at(["body", "plan_id"], f"plan {policy_in.plan_id} does not exist")
    _check_number_free(session, policy_in.plan_id, policy_in.number)
    data = policy_in.model_dump() | derived_columns(title=policy_in.title, focus=policy_in.focus)
    policy = Policy(**data)
    with committing(session):
        session.add(policy)
    assert policy.id is not None
    return policy.id


def update_policy(
    *, session: Session, policy_id: int, policy_in: PolicyUpdate, if_match: str | None
) -> None:
    policy: Policy = load(session, Policy, "policy", policy_id)
    check_if_match(if_match, policy)
    data = policy_in.model_dump(exclude_unset=True)
    if "number" in data:
        _check_number_free(session, policy.plan_id, data["number"], policy_id)
    data |= derived_columns(
        title=data.get("title", policy.title), focus=data.get("focus", policy.focus)
    )
    shown = policy.number  # each of its measures and their initiatives shows it
    with committing(session):
        policy.sqlmodel_update(data)
        if policy.number != shown:
            its_measures = select(measures.c.id).where(measures.c.policy_id == policy_id)
            its_reports = select(report_lines.c.report_id).where(
                report_lines.c.policy_id == policy_id
            )
            touch(
                session,
                (measures, measures.c.policy_id == policy_id),
                (initiatives, initiatives.c.measure_id.in_(its_measures)),
                (reports, reports.c.id.in_(its_reports)),  # a report's line shows it
            )


def delete_policy(*, session: Session, policy_id: int, if_match: str | None, cascade: bool) -> None:
    policy: Policy = load(session, Policy, "policy", policy_id)
    check_if_match(if_match, policy)
    delete(session, policy, cascade=cascade)
