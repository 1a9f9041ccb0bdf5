"""Load a plan from a seed file (seed/*.toml) into the database.

Seeding only adds what is missing, matched on natural keys, and never overwrites a row that
exists: staff edits made through the API win over the document, and a second run changes
nothing.
"""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, select

from app.evaluations.service import derived_columns as evaluation_columns
from app.initiatives.service import derived_columns as initiative_columns
from app.models import (
    Evaluation,
    Initiative,
    Measure,
    Plan,
    Policy,
    Report,
    ReportHighlight,
    ReportLine,
)
from app.paths import SEED

SEED_DIR = SEED
KANAZAWA = SEED_DIR / "kanazawa-2023-2026.toml"

Row = TypeVar("Row", bound=SQLModel)


@dataclass
class SeedResult:
    created: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)

    def count(self, table: str, created: bool) -> None:
        tally = self.created if created else self.existing
        tally[table] = tally.get(table, 0) + 1


def seed(session: Session, path: Path = KANAZAWA) -> SeedResult:
    """Add the plan in `path` and everything under it; commit once at the end."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    session.info["actor"] = "seed"  # how the change log names these writes
    result = SeedResult()
    Seeder(session, result).plan(data)
    session.commit()
    return result


class Seeder:
    def __init__(self, session: Session, result: SeedResult) -> None:
        self.session = session
        self.result = result

    def ensure(self, model: type[Row], key: dict[str, Any], values: dict[str, Any]) -> Row:
        """Return the row with this natural key, adding it with `values` when missing."""
        query = select(model)
        for name, value in key.items():
            query = query.where(getattr(model, name) == value)
        row = self.session.exec(query).first()
        self.result.count(model.__tablename__, created=row is None)  # type: ignore[arg-type]
        if row is None:
            row = model(**key, **values)
            self.session.add(row)
            self.session.flush()
        return row

    def plan(self, data: dict[str, Any]) -> None:
        fields = dict(data["plan"])
        plan = self.ensure(Plan, {"slug": fields.pop("slug")}, fields)
        assert plan.id is not None
        policies: dict[int, Policy] = {}
        measures: dict[tuple[int, int], Measure] = {}
        for policy_data in data["policies"]:
            policy_fields = dict(policy_data)
            measure_list = policy_fields.pop("measures")
            number = policy_fields.pop("number")
            policy = self.ensure(Policy, {"plan_id": plan.id, "number": number}, policy_fields)
            policies[number] = policy
            for measure_data in measure_list:
                measure = self.ensure(
                    Measure,
                    {"policy_id": policy.id, "number": measure_data["number"]},
                    {"plan_id": plan.id, "title": measure_data["title"]},
                )
                measures[number, measure_data["number"]] = measure
        initiatives = {
            item["code"]: self.initiative(plan.id, measures, item) for item in data["initiatives"]
        }
        if "report" in data:
            self.report(plan.id, policies, initiatives, data["report"])

    def initiative(
        self, plan_id: int, measures: dict[tuple[int, int], Measure], item: dict[str, Any]
    ) -> Initiative:
        fields = dict(item)
        code = fields.pop("code")
        measure = measures[fields.pop("policy"), fields.pop("measure")]
        evaluation = fields.pop("evaluation", None)
        fields |= initiative_columns(
            code=code, title=fields["title"], description=fields.get("description")
        )
        initiative = self.ensure(
            Initiative, {"plan_id": plan_id, "code": code}, {"measure_id": measure.id, **fields}
        )
        if evaluation is not None:
            values = dict(evaluation)
            year = values.pop("fiscal_year")
            values |= evaluation_columns(result=values.get("result"))
            self.ensure(Evaluation, {"initiative_id": initiative.id, "fiscal_year": year}, values)
        return initiative

    def report(
        self,
        plan_id: int,
        policies: dict[int, Policy],
        initiatives: dict[str, Initiative],
        data: dict[str, Any],
    ) -> None:
        fields = dict(data)
        lines = fields.pop("lines", [])
        highlights = fields.pop("highlights", [])
        year = fields.pop("fiscal_year")
        report = self.ensure(Report, {"plan_id": plan_id, "fiscal_year": year}, fields)
        for line in lines:
            values = dict(line)
            policy = policies[values.pop("policy")]
            self.ensure(ReportLine, {"report_id": report.id, "policy_id": policy.id}, values)
        for highlight in highlights:
            initiative = initiatives[highlight["code"]]
            self.ensure(
                ReportHighlight,
                {"report_id": report.id, "initiative_id": initiative.id},
                {"section": highlight["section"]},
            )
