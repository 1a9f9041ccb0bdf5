"""Evaluation queries."""

from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import Session
from sqlmodel import select as select_rows

from app.errors import InvalidInput, NotFound, PreconditionFailed
from app.evaluations.schemas import (
    EvaluationFilters,
    EvaluationPublic,
    EvaluationPut,
    StatusFilter,
)
from app.listing import PageParams
from app.models import (
    Evaluation,
    Initiative,
    Plan,
    evaluations,
    initiatives,
    measures,
    utcnow,
)
from app.reads import Listing, Prepared, Projection, Reader, fetch
from app.text import search_key
from app.wareki import fiscal_year_label, period_label
from app.writes import check_if_match, committing, hold_write_lock, load


class EvaluationSort(StrEnum):
    id = "id"
    fiscal_year = "fiscal_year"
    code = "code"
    status = "status"
    updated_at = "updated_at"


SORT_COLUMNS: dict[str, Any] = {
    "id": evaluations.c.id,
    "fiscal_year": evaluations.c.fiscal_year,
    "code": initiatives.c.code_sort,
    "status": evaluations.c.status,
    "updated_at": evaluations.c.updated_at,
}
DEFAULT_SORT = "plan_id,fiscal_year,code"

PUBLIC_COLUMNS = [column for column in evaluations.c if column.name != "search_text"]
_SELECT = select(*PUBLIC_COLUMNS, initiatives.c.code).join(
    initiatives, initiatives.c.id == evaluations.c.initiative_id
)


_ONE = Prepared(
    _SELECT.where(
        evaluations.c.initiative_id == bindparam("initiative_id"),
        evaluations.c.fiscal_year == bindparam("fiscal_year"),
    )
)
_INITIATIVE = Prepared(
    select(initiatives.c.id).where(initiatives.c.id == bindparam("initiative_id"))
)
_LIST = Listing(
    rows=_SELECT,
    count=select(func.count())
    .select_from(evaluations)
    .join(initiatives, initiatives.c.id == evaluations.c.initiative_id),
    filters={
        "plan_id": lambda value: initiatives.c.plan_id == value,
        "policy_id": lambda value: initiatives.c.measure_id.in_(
            select(measures.c.id).where(measures.c.policy_id == value)
        ),
        "measure_id": lambda value: initiatives.c.measure_id == value,
        "initiative_id": lambda value: evaluations.c.initiative_id == value,
        "fiscal_year": lambda value: evaluations.c.fiscal_year == value,
        "status": lambda value: evaluations.c.status == value,
        "provenance": lambda value: evaluations.c.provenance == value,
        # Set by status=none; its value goes unused.
        "no_status": lambda _value: evaluations.c.status.is_(None),
    },
    sort_columns=SORT_COLUMNS,
    default_sort=[initiatives.c.plan_id, evaluations.c.fiscal_year, initiatives.c.code_sort],
    tiebreak=evaluations.c.id,
)
_json = Projection(
    EvaluationPublic, {"fiscal_year_label": lambda row: fiscal_year_label(row["fiscal_year"])}
)


def _values(filters: EvaluationFilters) -> dict[str, Any]:
    values = filters.model_dump(mode="json", exclude_none=True, exclude={"status"})
    if filters.status is StatusFilter.none:
        values["no_status"] = True
    elif filters.status is not None:
        values["status"] = filters.status.value
    return values


async def read_evaluations(
    *, reader: Reader, filters: EvaluationFilters, page: PageParams, sort: str | None
) -> tuple[list[dict[str, Any]], int]:
    """A page of evaluations as JSON objects, and the number of all that match."""
    rows, total = await _LIST.page(reader, _values(filters), page, sort)
    return [_json(row) for row in rows], total


async def ensure_initiative(*, reader: Reader, initiative_id: int) -> None:
    if await reader.first(_INITIATIVE, initiative_id=initiative_id) is None:
        raise NotFound(f"initiative {initiative_id} does not exist")


def _missing(initiative_id: int, fiscal_year: int) -> NotFound:
    return NotFound(
        f"initiative {initiative_id} has no evaluation for {fiscal_year_label(fiscal_year)}"
    )


async def read_evaluation(
    *, reader: Reader, initiative_id: int, fiscal_year: int
) -> dict[str, Any]:
    found, rows = await reader.batch(
        (_INITIATIVE, {"initiative_id": initiative_id}),
        (_ONE, {"initiative_id": initiative_id, "fiscal_year": fiscal_year}),
    )
    if not found:
        raise NotFound(f"initiative {initiative_id} does not exist")
    if not rows:
        raise _missing(initiative_id, fiscal_year)
    return _json(rows[0])


def get_evaluation(*, session: Session, initiative_id: int, fiscal_year: int) -> EvaluationPublic:
    """An evaluation as written, read back on the write's session."""
    rows = fetch(session, _ONE, initiative_id=initiative_id, fiscal_year=fiscal_year)
    if not rows:
        raise _missing(initiative_id, fiscal_year)
    return EvaluationPublic.model_validate(_json(rows[0]))


def derived_columns(*, result: str | None) -> dict[str, str]:
    """Return the columns the code that writes an evaluation keeps in step with its fields."""
    return {"search_text": search_key(result)}


def year_refused(year: int, initiative_year: int, start: int, end: int) -> str | None:
    """Why an evaluation may not be for year (its initiative's year and its plan's period
    given), or None. Bulk uploads check the same as row errors, in the client's language
    (app/bulk/evaluations.py)."""
    if not start <= year <= end:
        return f"{fiscal_year_label(year)} is outside the plan's period {period_label(start, end)}"
    if year < initiative_year:
        return (
            f"{fiscal_year_label(year)} is before {fiscal_year_label(initiative_year)},"
            " the initiative's fiscal year: it has no evaluation for an earlier year"
        )
    return None


def _find(session: Session, initiative_id: int, fiscal_year: int) -> Evaluation | None:
    return session.exec(
        select_rows(Evaluation).where(
            Evaluation.initiative_id == initiative_id, Evaluation.fiscal_year == fiscal_year
        )
    ).first()


def _if_none_match_star(if_none_match: str | None) -> bool:
    return if_none_match is not None and if_none_match.strip() == "*"


def put_evaluation(
    *,
    session: Session,
    initiative_id: int,
    fiscal_year: int,
    evaluation_in: EvaluationPut,
    if_match: str | None,
    if_none_match: str | None,
) -> bool:
    """Create or replace the evaluation; return True when it was created.

    The fiscal year must lie in the plan's period and not before the initiative's own year
    (an initiative listed for 令和7年度 has nothing to evaluate for 令和6年度). Both are 422
    at the path's fiscal_year, not 409: the year is a value of this request that its
    parents' fields (the plan's period, the initiative's year) do not allow, as with a
    reference to a missing parent. The 409s are for a valid change that rows already stored
    stand in the way of, counted in the detail (a plan's period narrowed past them).
    """
    hold_write_lock(session)  # neither the period nor the initiative's year moves meanwhile
    initiative: Initiative = load(session, Initiative, "initiative", initiative_id)
    plan = session.get(Plan, initiative.plan_id)
    assert plan is not None
    reason = year_refused(
        fiscal_year, initiative.fiscal_year, plan.start_fiscal_year, plan.end_fiscal_year
    )
    if reason is not None:
        raise InvalidInput.at(["path", "fiscal_year"], reason)
    evaluation = _find(session, initiative_id, fiscal_year)
    data = evaluation_in.model_dump() | derived_columns(result=evaluation_in.result)
    if evaluation is None:
        if if_match is not None:  # RFC 9110: If-Match fails when there is nothing to match
            raise PreconditionFailed(
                f"there is no evaluation for {fiscal_year_label(fiscal_year)} to match If-Match"
            )
        evaluation = Evaluation(initiative_id=initiative_id, fiscal_year=fiscal_year, **data)
        session.add(evaluation)
        created = True
    else:
        if _if_none_match_star(if_none_match):
            raise PreconditionFailed(
                f"an evaluation for {fiscal_year_label(fiscal_year)} exists already"
            )
        check_if_match(if_match, evaluation)
        evaluation.sqlmodel_update(data)
        created = False
    with committing(session):
        if created or session.is_modified(evaluation):
            initiative.updated_at = utcnow()  # the initiative shows latest_evaluation
    return created


def delete_evaluation(
    *, session: Session, initiative_id: int, fiscal_year: int, if_match: str | None
) -> None:
    initiative: Initiative = load(session, Initiative, "initiative", initiative_id)
    evaluation = _find(session, initiative_id, fiscal_year)
    if evaluation is None:
        raise NotFound(
            f"initiative {initiative_id} has no evaluation for {fiscal_year_label(fiscal_year)}"
        )
    check_if_match(if_match, evaluation)
    with committing(session):
        session.delete(evaluation)
        initiative.updated_at = utcnow()
