"""Initiative queries."""

from enum import StrEnum
from typing import Any

from pydantic_core import to_json
from sqlalchemy import ColumnElement, bindparam, func, select
from sqlmodel import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.evaluations.schemas import EvaluationPublic, StatusFilter
from app.initiatives.schemas import (
    InitiativeCreate,
    InitiativeFilters,
    InitiativePublic,
    InitiativeUpdate,
)
from app.kept_rows import NOTHING_KEPT, KeptRows, Key
from app.listing import PageParams
from app.models import (
    Initiative,
    Measure,
    Plan,
    evaluations,
    initiatives,
    measures,
    policies,
    report_highlights,
    reports,
)
from app.reads import Listing, Prepared, Projection, Reader, Row
from app.search import match
from app.search.match import Terms, Word
from app.text import code_fiscal_year, natural_sort_key, search_key
from app.wareki import FiscalYearError, fiscal_year_label, parse_fiscal_year, period_label
from app.writes import check_if_match, committing, delete, hold_write_lock, load, touch


class InitiativeSort(StrEnum):
    id = "id"
    code = "code"
    fiscal_year = "fiscal_year"
    plan_page = "plan_page"
    title_ = "title"  # `title` would shadow str.title
    policy_number = "policy_number"
    measure_number = "measure_number"
    updated_at = "updated_at"


SORT_COLUMNS: dict[str, Any] = {
    "id": initiatives.c.id,
    "code": initiatives.c.code_sort,
    "fiscal_year": initiatives.c.fiscal_year,
    "plan_page": initiatives.c.plan_page,
    "title": initiatives.c.title,
    "policy_number": policies.c.number,
    "measure_number": measures.c.number,
    "updated_at": initiatives.c.updated_at,
}
DEFAULT_SORT = "plan_id,code (natural order: R6-7 before R6-10)"

PUBLIC_COLUMNS = [
    column for column in initiatives.c if column.name not in ("search_text", "code_sort")
]
# Each initiative comes with its latest evaluation, joined in the same query.
_LATEST = evaluations.alias("latest")
_LATEST_PREFIX = "latest__"
_LATEST_YEAR = (
    select(func.max(evaluations.c.fiscal_year))
    .where(evaluations.c.initiative_id == initiatives.c.id)
    .correlate(initiatives)
    .scalar_subquery()
)
_SELECT = (
    select(
        *PUBLIC_COLUMNS,
        measures.c.policy_id,
        measures.c.number.label("measure_number"),
        policies.c.number.label("policy_number"),
        *[
            column.label(_LATEST_PREFIX + column.name)
            for column in _LATEST.c
            if column.name != "search_text"
        ],
    )
    .join(measures, measures.c.id == initiatives.c.measure_id)
    .join(policies, policies.c.id == measures.c.policy_id)
    .outerjoin(
        _LATEST,
        (_LATEST.c.initiative_id == initiatives.c.id) & (_LATEST.c.fiscal_year == _LATEST_YEAR),
    )
)
# Every filter is a condition on initiatives alone, so the count joins nothing: unfiltered,
# SQLite counts the table's pages (bench/README.md: a count with a join read every row).
_COUNT = select(func.count()).select_from(initiatives)
_ONE = Prepared(_SELECT.where(initiatives.c.id == bindparam("initiative_id")))
# The same rows' ids and versions alone, which name each one's JSON object (app/kept_rows.py):
# joined to what a sort may name, not to the latest evaluation, which a version counts.
_KEY = select(initiatives.c.id, initiatives.c.version)
_KEYS = _KEY.join(measures, measures.c.id == initiatives.c.measure_id).join(
    policies, policies.c.id == measures.c.policy_id
)
_ONE_KEY = Prepared(_KEY.where(initiatives.c.id == bindparam("initiative_id")))


def _latest_status() -> Any:
    """The status of an initiative's latest evaluation (NULL when it has none)."""
    return (
        select(evaluations.c.status)
        .where(evaluations.c.initiative_id == initiatives.c.id)
        .order_by(evaluations.c.fiscal_year.desc())
        .limit(1)
        .correlate(initiatives)
        .scalar_subquery()
    )


_OWN = initiatives.alias("own")


def has_word(word: Word, dialect: str) -> ColumnElement[bool]:
    """A word of ?q= is in the initiative's code, title or description, or in one of its
    evaluations' results. Each word on its own: one may be in the title, the next in a
    result. A union of the two indexed searches, so each uses its own index."""
    own = select(_OWN.c.id).where(match.has_word(_OWN, word, dialect))
    in_results = select(evaluations.c.initiative_id).where(
        match.has_word(evaluations, word, dialect)
    )
    return initiatives.c.id.in_(own.union(in_results))


_LIST = Listing(
    rows=_SELECT,
    count=_COUNT,
    filters={
        "plan_id": lambda value: initiatives.c.plan_id == value,
        "policy_id": lambda value: initiatives.c.measure_id.in_(
            select(measures.c.id).where(measures.c.policy_id == value)
        ),
        "measure_id": lambda value: initiatives.c.measure_id == value,
        "code": lambda value: initiatives.c.code == value,
        "fiscal_year": lambda value: initiatives.c.fiscal_year == value,
        "numeric_target": lambda value: initiatives.c.numeric_target == value,
        "status": lambda value: _latest_status() == value,
        # Set by status=none; its value goes unused.
        "no_status": lambda _value: _latest_status().is_(None),
    },
    sort_columns=SORT_COLUMNS,
    default_sort=[initiatives.c.plan_id, initiatives.c.code_sort],
    tiebreak=initiatives.c.id,
    search=has_word,
    keys=_KEYS,
)


def _values(filters: InitiativeFilters) -> dict[str, Any]:
    values = filters.model_dump(exclude_none=True, exclude={"q", "status"})
    if filters.status is StatusFilter.none:
        values["no_status"] = True
    elif filters.status is not None:
        values["status"] = filters.status.value
    return values


def _public(row: Any) -> InitiativePublic:
    return InitiativePublic.model_validate(_json(row))


def _latest_json(row: Row) -> dict[str, Any] | None:
    return None if row[_LATEST_PREFIX + "id"] is None else _LATEST_JSON(row)


_LATEST_JSON = Projection(
    EvaluationPublic,
    {
        "code": lambda row: row["code"],
        "fiscal_year_label": lambda row: fiscal_year_label(row[_LATEST_PREFIX + "fiscal_year"]),
    },
    prefix=_LATEST_PREFIX,
)
_json = Projection(
    InitiativePublic,
    {
        "fiscal_year_label": lambda row: fiscal_year_label(row["fiscal_year"]),
        "latest_evaluation": _latest_json,
    },
)


async def read_initiatives(
    *,
    reader: Reader,
    filters: InitiativeFilters,
    page: PageParams,
    sort: str | None,
    kept: KeptRows = NOTHING_KEPT,
) -> tuple[list[bytes], int]:
    """A page of initiatives as encoded JSON objects, and the number of all that match.

    With rows kept (app/kept_rows.py), the page's ids and versions are read first, and its
    whole rows only when one of their objects is not kept."""
    terms = Terms.parse(filters.q)
    if not kept:
        rows, total = await _LIST.page(reader, _values(filters), page, sort, terms)
        return [to_json(_json(row)) for row in rows], total
    keys, total, whole_rows = await _LIST.page_keys(reader, _values(filters), page, sort, terms)
    found = kept.all_of([(key["id"], key["version"]) for key in keys])
    if found is None:
        found = kept.keep(await whole_rows(), _json)
    return found, total


async def read_initiative(
    *, reader: Reader, initiative_id: int, kept: KeptRows = NOTHING_KEPT
) -> tuple[Key, bytes]:
    """One initiative's id and version, and its encoded JSON object (see read_initiatives)."""
    if kept:
        key = await reader.first(_ONE_KEY, initiative_id=initiative_id)
        if key is None:
            raise NotFound(f"initiative {initiative_id} does not exist")
        found = kept.all_of([(key["id"], key["version"])])
        if found is not None:
            return (key["id"], key["version"]), found[0]
    row = await reader.first(_ONE, initiative_id=initiative_id)
    if row is None:
        raise NotFound(f"initiative {initiative_id} does not exist")
    encoded = kept.keep([row], _json)[0] if kept else to_json(_json(row))
    return (row["id"], row["version"]), encoded


def get_initiative(*, session: Session, initiative_id: int) -> InitiativePublic:
    """The initiative as a write route answers it, read in the writer's own transaction."""
    statement = _SELECT.where(initiatives.c.id == initiative_id)
    row = session.execute(statement).mappings().first()
    if row is None:
        raise NotFound(f"initiative {initiative_id} does not exist")
    return _public(row)


def derived_columns(*, code: str, title: str, description: str | None) -> dict[str, str]:
    """Return the columns the code that writes an initiative keeps in step with its fields."""
    return {
        "code_sort": natural_sort_key(code),
        # The title first: a search ranks a word in it above one elsewhere (app/search/).
        "search_text": search_key(title, code, description),
    }


def _measure(session: Session, measure_id: int) -> Measure:
    measure = session.get(Measure, measure_id)
    if measure is None:
        raise InvalidInput.at(["body", "measure_id"], f"measure {measure_id} does not exist")
    return measure


def _check_code_free(
    session: Session, plan_id: int, code: str, initiative_id: int | None = None
) -> None:
    query = select(initiatives.c.id).where(
        initiatives.c.plan_id == plan_id, initiatives.c.code == code
    )
    if initiative_id is not None:
        query = query.where(initiatives.c.id != initiative_id)
    if session.scalar(query) is not None:
        raise Conflict(f"an initiative with code {code!r} exists in plan {plan_id} already")


class YearRuleBroken(ValueError):
    """An initiative's code and fiscal year do not fit together (field, reason, values)."""

    def __init__(self, field: str, reason: str, message: str, **values: Any) -> None:
        super().__init__(message)
        self.field, self.reason, self.values = field, reason, values


def initiative_fiscal_year(code: str, given: int | None, current: int | None = None) -> int:
    """Return an initiative's fiscal year: a code R<n>-… names it (within the accepted
    range), a given year must agree with it, and without either the current one stays."""
    from_code = code_fiscal_year(code)
    if from_code is not None:
        try:
            parse_fiscal_year(from_code)
        except FiscalYearError as error:
            raise YearRuleBroken("code", "code_year", f"code {code}: {error}") from None
    if from_code is not None and given is not None and given != from_code:
        raise YearRuleBroken(
            "fiscal_year",
            "year_disagree",
            f"code {code} is of {fiscal_year_label(from_code)} ({from_code}),"
            f" not {fiscal_year_label(given)} ({given})",
            code=code,
            from_code=from_code,
            given=given,
        )
    year = from_code or given or current
    if year is None:
        raise YearRuleBroken(
            "fiscal_year",
            "year_missing",
            f"code {code} does not name a fiscal year (as R6-… does): give fiscal_year",
            code=code,
        )
    return year


def _fiscal_year(code: str, given: int | None, current: int | None = None) -> int:
    try:
        return initiative_fiscal_year(code, given, current)
    except YearRuleBroken as broken:
        raise InvalidInput.at(["body", broken.field], str(broken)) from None


def outside_period(year: int, start: int, end: int) -> str | None:
    """Why an initiative may not be listed for year in a plan running start..end, or None.

    An initiative belongs to one year of its plan: listed outside the period, it would count
    as not evaluated in no year the statistics show (they list the period's years). Bulk
    uploads check the same as row errors (app/bulk/initiatives.py).
    """
    if start <= year <= end:
        return None
    return f"{fiscal_year_label(year)} is outside the plan's period {period_label(start, end)}"


def _check_in_period(session: Session, plan_id: int, year: int, field: str) -> None:
    """422 at field: a value of the request that its plan does not allow (as for a report)."""
    plan = session.get(Plan, plan_id)
    assert plan is not None
    reason = outside_period(year, plan.start_fiscal_year, plan.end_fiscal_year)
    if reason is not None:
        raise InvalidInput.at(["body", field], reason)


def _check_evaluations_from(session: Session, initiative_id: int, year: int) -> None:
    """Refuse (409) to move an initiative's fiscal year past evaluations it already has.

    An evaluation is never for a year before its initiative's (app/evaluations/service.py).
    409, not 422: the year sent is valid in itself; the initiative's existing evaluations are
    what stands in the way, and the detail counts them.
    """
    before = session.scalar(
        select(func.count()).where(
            evaluations.c.initiative_id == initiative_id, evaluations.c.fiscal_year < year
        )
    )
    if before:
        noun = "evaluation" if before == 1 else "evaluations"
        raise Conflict(
            f"initiative {initiative_id} has {before} {noun} for years before"
            f" {fiscal_year_label(year)}: its fiscal year cannot move past them;"
            " delete them first"
        )


def _year_field(data: dict[str, Any]) -> str:
    """Where a fiscal year came from: the field sent, else the code that names it."""
    return "fiscal_year" if data.get("fiscal_year") is not None else "code"


def create_initiative(*, session: Session, initiative_in: InitiativeCreate) -> int:
    """Create an initiative in its measure's plan, listed for a year of the plan's period."""
    hold_write_lock(session)  # the plan's period cannot narrow meanwhile
    measure = _measure(session, initiative_in.measure_id)
    data = initiative_in.model_dump()
    field = _year_field(data)
    data["fiscal_year"] = _fiscal_year(data["code"], data["fiscal_year"])
    _check_in_period(session, measure.plan_id, data["fiscal_year"], field)
    _check_code_free(session, measure.plan_id, data["code"])
    data |= derived_columns(code=data["code"], title=data["title"], description=data["description"])
    initiative = Initiative(plan_id=measure.plan_id, **data)
    with committing(session):
        session.add(initiative)
    assert initiative.id is not None
    return initiative.id


def update_initiative(
    *,
    session: Session,
    initiative_id: int,
    initiative_in: InitiativeUpdate,
    if_match: str | None,
) -> None:
    """Change the fields sent. A new fiscal year must lie in the plan's period (422) and not
    after a year the initiative has an evaluation for (409)."""
    data = initiative_in.model_dump(exclude_unset=True)
    if "code" in data or "fiscal_year" in data:
        hold_write_lock(session)  # no evaluation may be written meanwhile
    initiative: Initiative = load(session, Initiative, "initiative", initiative_id)
    check_if_match(if_match, initiative)
    if "measure_id" in data and _measure(session, data["measure_id"]).plan_id != initiative.plan_id:
        raise InvalidInput.at(
            ["body", "measure_id"],
            f"measure {data['measure_id']} belongs to another plan;"
            " an initiative stays in its plan",
        )
    code = data.get("code", initiative.code)
    if "code" in data or "fiscal_year" in data:
        field = _year_field(data)
        data["fiscal_year"] = _fiscal_year(code, data.get("fiscal_year"), initiative.fiscal_year)
        if data["fiscal_year"] != initiative.fiscal_year:
            _check_in_period(session, initiative.plan_id, data["fiscal_year"], field)
    if "code" in data:
        _check_code_free(session, initiative.plan_id, code, initiative_id)
    if data.get("fiscal_year", initiative.fiscal_year) > initiative.fiscal_year:
        _check_evaluations_from(session, initiative_id, data["fiscal_year"])
    data |= derived_columns(
        code=code,
        title=data.get("title", initiative.title),
        description=data.get("description", initiative.description),
    )
    shown = initiative.code  # each of its evaluations shows it
    with committing(session):
        initiative.sqlmodel_update(data)
        if initiative.code != shown:
            naming = select(report_highlights.c.report_id).where(
                report_highlights.c.initiative_id == initiative_id
            )
            touch(
                session,
                (evaluations, evaluations.c.initiative_id == initiative_id),
                (reports, reports.c.id.in_(naming)),  # a report's highlight shows it
            )


def delete_initiative(
    *, session: Session, initiative_id: int, if_match: str | None, cascade: bool
) -> None:
    initiative: Initiative = load(session, Initiative, "initiative", initiative_id)
    check_if_match(if_match, initiative)
    delete(session, initiative, cascade=cascade)
