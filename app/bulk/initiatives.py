"""Bulk upsert of initiatives, keyed by code inside the plan."""

from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from app.bulk.common import PlanContext, Problems, Writes, diff
from app.bulk.parse import RawRow
from app.bulk.schemas import NOT_NULL, Action, InitiativeRow, RowOutcome
from app.declare import declared
from app.initiatives.schemas import InitiativeFields
from app.initiatives.service import YearRuleBroken, derived_columns, initiative_fiscal_year
from app.models import evaluations, initiatives, measures, policies
from app.wareki import fiscal_year_label, period_label

# What an initiative row can set (the declared fields but its key, the code), and what the
# change log records of it; a new initiative starts from their defaults on create.
FIELDS = tuple(name for name in declared(InitiativeFields) if name != "code")
DEFAULTS: dict[str, Any] = {
    name: field.default
    for name, field in InitiativeFields.model_fields.items()
    if not field.is_required()
}


def plan_initiatives(
    session: Session, plan: PlanContext, raws: list[RawRow], problems: Problems
) -> tuple[list[RowOutcome], Writes, set[int]]:
    """Validate every row and work out what to write; raise 422 listing every bad row.

    (The empty set is for the same shape as evaluations: no other rows change with these.)
    """
    text = problems.text
    by_numbers = {
        (row.policy_number, row.number): row.id
        for row in session.execute(
            select(measures.c.id, measures.c.number, policies.c.number.label("policy_number"))
            .join(policies, policies.c.id == measures.c.policy_id)
            .where(measures.c.plan_id == plan.id)
        )
    }
    plan_measures = set(by_numbers.values())
    existing = {
        row["code"]: dict(row)
        for row in session.execute(
            select(initiatives).where(initiatives.c.plan_id == plan.id)
        ).mappings()
    }
    evaluated: dict[int, list[int]] = {}  # each initiative's evaluated years
    for initiative_id, year in session.execute(
        select(evaluations.c.initiative_id, evaluations.c.fiscal_year).where(
            evaluations.c.initiative_id.in_(
                select(initiatives.c.id).where(initiatives.c.plan_id == plan.id)
            )
        )
    ):
        evaluated.setdefault(initiative_id, []).append(year)
    rows = [problems.validate(InitiativeRow, raw) for raw in raws]
    problems.duplicates(raws, [row.code if row else None for row in rows], "code")
    writes = Writes(initiatives, "initiative", ("plan_id", "code"), logged=("code", *FIELDS))
    outcomes: list[RowOutcome] = []
    for raw, row in zip(raws, rows, strict=True):
        if row is None:
            continue
        errors_before = len(problems.errors)
        problems.check_plan_columns(raw, row, plan)
        sent = row.model_fields_set
        old = existing.get(row.code)
        new: dict[str, Any] = dict(old) if old else {"code": row.code, **DEFAULTS}
        for name in FIELDS:
            if name in sent and name not in ("measure_id", "fiscal_year"):
                if getattr(row, name) is None and name in NOT_NULL:
                    problems.add(raw, name, text("not_null", field=name))
                new[name] = getattr(row, name)
        measure_id = _measure(raw, row, by_numbers, plan_measures, problems)
        if measure_id is not None:
            new["measure_id"] = measure_id
        year = _fiscal_year(raw, row, old, problems)
        new["fiscal_year"] = year
        problems.check_label(raw, row.fiscal_year_label, year)
        if year is not None and (old is None or year != old["fiscal_year"]):
            _check_year(raw, row, plan, year, evaluated.get(old["id"], []) if old else [], problems)
        if old is None:
            missing = [name for name in ("measure_id", "title") if new.get(name) is None]
            if missing:
                problems.add(raw, missing[0], text("new_needs", fields=", ".join(missing)))
        if len(problems.errors) > errors_before:
            continue
        new |= derived_columns(code=row.code, title=new["title"], description=new["description"])
        if old is None:
            values = {name: new[name] for name in ("code", *FIELDS, "code_sort", "search_text")}
            writes.creates.append({"plan_id": plan.id, **values})
            outcomes.append(RowOutcome(row=raw.index, code=row.code, action=Action.created))
            continue
        changes = diff(old, new, ("code", *FIELDS))
        if changes:
            values = {name: new[name] for name in (*FIELDS, "code_sort", "search_text")}
            writes.updates.append((old["id"], old["version"], values, changes))
            outcomes.append(RowOutcome(row=raw.index, code=row.code, action=Action.updated))
        else:
            outcomes.append(RowOutcome(row=raw.index, code=row.code, action=Action.unchanged))
    problems.raise_if_any()
    return outcomes, writes, set()


def _measure(
    raw: RawRow,
    row: InitiativeRow,
    by_numbers: dict[tuple[int, int], int],
    plan_measures: set[int],
    problems: Problems,
) -> int | None:
    """The row's measure: by policy and measure number, or by id (import only); both agree."""
    text = problems.text
    sent = row.model_fields_set
    found = None
    if "policy_number" in sent or "measure_number" in sent:
        if row.policy_number is None or row.measure_number is None:
            problems.add(raw, "measure_number", text("measure_numbers_pair"))
            return None
        found = by_numbers.get((row.policy_number, row.measure_number))
        if found is None:
            message = text("no_measure", policy=row.policy_number, measure=row.measure_number)
            problems.add(raw, "measure_number", message)
            return None
    if row.measure_id is None:
        if "measure_id" in sent and found is None:
            problems.add(raw, "measure_id", text("not_null", field="measure_id"))
        return found
    if row.measure_id not in plan_measures:
        problems.add(raw, "measure_id", text("measure_other_plan", measure_id=row.measure_id))
    elif found is not None and found != row.measure_id:
        message = text(
            "measure_disagree",
            measure_id=row.measure_id,
            policy=row.policy_number,
            measure=row.measure_number,
        )
        problems.add(raw, "measure_id", message)
    return row.measure_id


def _check_year(
    raw: RawRow,
    row: InitiativeRow,
    plan: PlanContext,
    year: int,
    evaluated_years: list[int],
    problems: Problems,
) -> None:
    """The rules of a single write (app/initiatives/service.py), as row errors, for a new or
    changed year: it lies in the plan's period, and not after a year the initiative has an
    evaluation for."""
    field = "fiscal_year" if row.fiscal_year is not None else "code"
    if not plan.start_fiscal_year <= year <= plan.end_fiscal_year:
        period = period_label(plan.start_fiscal_year, plan.end_fiscal_year)
        label = fiscal_year_label(year)
        problems.add(raw, field, problems.text("outside_period", label=label, period=period))
        return
    before = sum(1 for evaluated in evaluated_years if evaluated < year)
    if before:
        message = problems.text(
            "evaluations_before", code=row.code, count=before, label=fiscal_year_label(year)
        )
        problems.add(raw, field, message)


def _fiscal_year(
    raw: RawRow, row: InitiativeRow, old: dict[str, Any] | None, problems: Problems
) -> int | None:
    """The row's fiscal year, by the same rule as a single write (initiative_fiscal_year)."""
    given = row.fiscal_year if "fiscal_year" in row.model_fields_set else None
    try:
        return initiative_fiscal_year(row.code, given, old["fiscal_year"] if old else None)
    except YearRuleBroken as broken:
        message = (
            str(broken)
            if broken.reason == "code_year"
            else problems.text(broken.reason, **broken.values)
        )
        problems.add(raw, broken.field, message)
        return None
