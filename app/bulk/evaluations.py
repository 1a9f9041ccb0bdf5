"""Bulk upsert of evaluations, keyed by the initiative's code and the fiscal year."""

from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from app.bulk.common import PlanContext, Problems, Writes, diff
from app.bulk.parse import RawRow
from app.bulk.schemas import Action, EvaluationRow, RowOutcome
from app.declare import declared
from app.evaluations.schemas import EvaluationFields
from app.evaluations.service import derived_columns
from app.models import evaluations, initiatives
from app.wareki import fiscal_year_label, period_label

# What an evaluation row can set: the declared fields (its key is the code and the year).
FIELDS = tuple(declared(EvaluationFields))


def plan_evaluations(
    session: Session, plan: PlanContext, raws: list[RawRow], problems: Problems
) -> tuple[list[RowOutcome], Writes, set[int]]:
    """Validate every row and work out what to write; raise 422 listing every bad row.

    Also return the initiatives whose evaluations change: their version moves on too.
    """
    text = problems.text
    initiative_ids: dict[str, int] = {}
    initiative_years: dict[str, int] = {}
    for code, initiative_id, year in session.execute(
        select(initiatives.c.code, initiatives.c.id, initiatives.c.fiscal_year).where(
            initiatives.c.plan_id == plan.id
        )
    ):
        initiative_ids[code] = initiative_id
        initiative_years[code] = year
    existing = {
        (row["code"], row["fiscal_year"]): dict(row)
        for row in session.execute(
            select(evaluations, initiatives.c.code)
            .join(initiatives, initiatives.c.id == evaluations.c.initiative_id)
            .where(initiatives.c.plan_id == plan.id)
        ).mappings()
    }
    rows = [problems.validate(EvaluationRow, raw) for raw in raws]
    problems.duplicates(
        raws, [(row.code, row.fiscal_year) if row else None for row in rows], "code"
    )
    writes = Writes(
        evaluations,
        "evaluation",
        ("initiative_id", "fiscal_year"),
        logged=("initiative_id", "fiscal_year", *FIELDS),
    )
    touched: set[int] = set()
    outcomes: list[RowOutcome] = []
    period = period_label(plan.start_fiscal_year, plan.end_fiscal_year)
    for raw, row in zip(raws, rows, strict=True):
        if row is None:
            continue
        errors_before = len(problems.errors)
        problems.check_plan_columns(raw, row, plan)
        problems.check_label(raw, row.fiscal_year_label, row.fiscal_year)
        initiative_id = initiative_ids.get(row.code)
        if initiative_id is None:
            problems.add(raw, "code", text("no_initiative", code=row.code))
        label = fiscal_year_label(row.fiscal_year)
        if not plan.start_fiscal_year <= row.fiscal_year <= plan.end_fiscal_year:
            problems.add(raw, "fiscal_year", text("outside_period", label=label, period=period))
        elif initiative_id is not None and row.fiscal_year < initiative_years[row.code]:
            # The rule of a single PUT (app/evaluations/service.py, year_refused).
            listed = fiscal_year_label(initiative_years[row.code])
            message = text("before_initiative", label=label, code=row.code, listed=listed)
            problems.add(raw, "fiscal_year", message)
        if len(problems.errors) > errors_before or initiative_id is None:
            continue
        old = existing.get((row.code, row.fiscal_year))
        # A new row starts from the declared defaults (provenance: external), an existing
        # one from what it holds; the row's own fields go over either.
        given = FIELDS if old is None else row.model_fields_set
        new: dict[str, Any] = dict(old) if old else {}
        new |= {name: getattr(row, name) for name in FIELDS if name in given}
        for name in ("status", "provenance"):
            if new[name] is not None:
                new[name] = str(new[name])
        # An empty provenance (a blank CSV cell) keeps the row's, or is the default.
        new["provenance"] = new["provenance"] or (old or {}).get("provenance") or "external"
        new |= {"initiative_id": initiative_id, "fiscal_year": row.fiscal_year}
        new |= derived_columns(result=new["result"])
        outcome = RowOutcome(
            row=raw.index, code=row.code, fiscal_year=row.fiscal_year, action=Action.unchanged
        )
        if old is None:
            keys = ("initiative_id", "fiscal_year", *FIELDS, "search_text")
            writes.creates.append({name: new[name] for name in keys})
            outcome.action = Action.created
            touched.add(initiative_id)
        elif changes := diff(old, new, FIELDS):
            values = {name: new[name] for name in (*FIELDS, "search_text")}
            writes.updates.append((old["id"], old["version"], values, changes))
            outcome.action = Action.updated
            touched.add(initiative_id)
        outcomes.append(outcome)
    problems.raise_if_any()
    return outcomes, writes, touched
