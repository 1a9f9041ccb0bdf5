"""Policy queries."""

from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.listing import PageParams, order_by
from app.models import Plan, Policy, policies
from app.policies.schemas import PolicyCreate, PolicyPublic, PolicyUpdate
from app.writes import check_if_match, committing, delete, load


class PolicySort(StrEnum):
    id = "id"
    number = "number"
    plan_id = "plan_id"
    updated_at = "updated_at"


SORT_COLUMNS = {field.value: policies.c[field.value] for field in PolicySort}
DEFAULT_SORT = "plan_id,number"


def _filtered(query: Select[Any], plan_id: int | None) -> Select[Any]:
    return query if plan_id is None else query.where(policies.c.plan_id == plan_id)


def list_policies(
    *, session: Session, plan_id: int | None, page: PageParams, sort: str | None
) -> tuple[list[PolicyPublic], int]:
    total = session.scalar(_filtered(select(func.count()).select_from(policies), plan_id)) or 0
    default = [policies.c.plan_id, policies.c.number]
    query = (
        _filtered(select(policies), plan_id)
        .order_by(*order_by(sort, SORT_COLUMNS, default, policies.c.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    rows = session.execute(query).mappings()
    return [PolicyPublic.model_validate(row) for row in rows], total


def get_policy(*, session: Session, policy_id: int) -> PolicyPublic:
    row = session.execute(select(policies).where(policies.c.id == policy_id)).mappings().first()
    if row is None:
        raise NotFound(f"policy {policy_id} does not exist")
    return PolicyPublic.model_validate(row)


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
    policy = Policy(**policy_in.model_dump())
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
    with committing(session):
        policy.sqlmodel_update(data)


def delete_policy(*, session: Session, policy_id: int, if_match: str | None, cascade: bool) -> None:
    policy: Policy = load(session, Policy, "policy", policy_id)
    check_if_match(if_match, policy)
    delete(session, policy, cascade=cascade)
