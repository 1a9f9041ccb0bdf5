"""Load a plan from a seed file (seed/*.toml) into the database.

Seeding only adds what is missing, matched on natural keys, and never overwrites a row that
exists: staff edits made through the API win over the document, and a second run changes
nothing.
"""

import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, SQLModel, select

from app import declare
from app.evaluations.schemas import EvaluationFields
from app.evaluations.service import derived_columns as evaluation_columns
from app.evaluations.service import year_refused
from app.fields import Code, FiscalYear, Number
from app.initiatives.schemas import InitiativeFields
from app.initiatives.service import YearRuleBroken, initiative_fiscal_year, outside_period
from app.initiatives.service import derived_columns as initiative_columns
from app.measures.schemas import MeasureFields
from app.measures.service import derived_columns as measure_columns
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
from app.plans.schemas import PlanCreate
from app.policies.schemas import PolicyFields
from app.policies.service import derived_columns as policy_columns
from app.provenance import PLAN_FACTS, REPORT_FACTS, full
from app.reports.schemas import HighlightSection, ReportFields, ReportLineIn, counts_refused

SEED_DIR = SEED
KANAZAWA = SEED_DIR / "kanazawa-2023-2026.toml"
EXAMPLE_TOWN = SEED_DIR / "example-town-2025-2028.toml"

Row = TypeVar("Row", bound=SQLModel)
Loc = tuple[str | int, ...]


# --- The file's schema: each resource's declared fields, its parent named by number ----------
#
# A plan file (seed/README.md) holds what the API's create schemas hold, with the same types
# and limits, except that a child names its parent the way the document does (policy 1,
# measure 2, code R6-7) rather than by a database id the file cannot know.


@declare.part(parent=None)
class FileEvaluation(EvaluationFields):
    """An evaluation, keyed by its year within its initiative."""

    model_config = ConfigDict(extra="forbid")

    fiscal_year: FiscalYear


@declare.part(parent="policy_id")
class FileMeasure(MeasureFields):
    """A measure, within its policy."""

    model_config = ConfigDict(extra="forbid")


@declare.part(parent="plan_id")
class FilePolicy(PolicyFields):
    """A policy, with its measures."""

    model_config = ConfigDict(extra="forbid")

    measures: list[FileMeasure] = []


@declare.part(parent="measure_id")
class FileInitiative(InitiativeFields):
    """An initiative, naming its measure by the policy's and the measure's numbers."""

    model_config = ConfigDict(extra="forbid")

    policy: Number
    measure: Number
    evaluation: FileEvaluation | None = None
    evaluations: list[FileEvaluation] = []


@declare.part(parent="policy_id")
class FileLine(ReportLineIn):
    """A published line, naming its policy by number."""

    model_config = ConfigDict(extra="forbid")

    policy: Number


class FileHighlight(BaseModel):
    """An initiative a report names, by code."""

    model_config = ConfigDict(extra="forbid")

    code: Code
    section: HighlightSection


@declare.part(parent="plan_id")
class FileReport(ReportFields):
    """A published report of one year, its lines and highlights naming policies and codes."""

    model_config = ConfigDict(extra="forbid")

    lines: list[FileLine] = []  # type: ignore[assignment]  # by number, not by id
    highlights: list[FileHighlight] = []  # type: ignore[assignment]  # by code, not by id


class PlanFile(BaseModel):
    """A plan file: the plan, its policies and measures, initiatives, evaluations, reports."""

    model_config = ConfigDict(extra="forbid")

    plan: PlanCreate
    policies: list[FilePolicy] = Field(min_length=1)
    initiatives: list[FileInitiative] = []
    report: FileReport | None = None
    reports: list[FileReport] = []


# --- Reading a file: every problem at once, each at its key path and line -------------------


class PlanFileError(ValueError):
    """A plan file (or bundle) that cannot be loaded; `problems` are lines of
    `place: key path: why`, the place a file's line (`file:line`) or a bundle's CSV row."""

    def __init__(self, source: Path | str, problems: list[str]) -> None:
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{source}: {len(problems)} {noun}, nothing was loaded")


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def key_lines(text: str) -> dict[Loc, int]:
    """The line (1-based) where each table, array item and key of a TOML text starts, by its
    key path: ("initiatives", 3, "evaluation", "status"). Inline tables and arrays are not
    entered: a path inside one maps to the line of the key that holds it."""
    lines: dict[Loc, int] = {}
    items: dict[Loc, int] = {}  # arrays of tables: how many items so far
    table: Loc = ()
    for number, line in enumerate(text.splitlines(), start=1):
        if header := _HEADER.match(line):
            names = [part.strip().strip("\"'") for part in header[2].split(".")]
            path: Loc = ()
            for name in names[:-1]:
                path += (name,)
                if path in items:
                    path += (items[path] - 1,)
            path += (names[-1],)
            if header[1] == "[[":
                items[path] = items.get(path, 0) + 1
                path += (items[path] - 1,)
            table = path
            lines.setdefault(table, number)
        elif key := _KEY.match(line):
            names = [part.strip().strip("\"'") for part in key[1].split(".")]
            lines.setdefault((*table, *names), number)
    return lines


def _where(loc: Loc) -> str:
    """A key path as a person reads it: initiatives[3].evaluation.status."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text or "(the file)"


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line a key path (or the nearest part it is in) was read from, if known."""
    for end in range(len(loc), 0, -1):
        if (found := lines.get(loc[:end])) is not None:
            return found
    return None


def read_plan_file(path: Path) -> PlanFile:
    """The plan file at path, validated whole; PlanFileError lists every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PlanFileError(path, [f"{path}: cannot be read: {error}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib's message ends "(at line N, column M)": the place goes first, as compilers do.
        message = str(error)
        if at := re.search(r"\(at line (\d+), column \d+\)$", message):
            message = f"{path}:{at[1]}: {message[: at.start()].strip()} (not TOML)"
        else:
            message = f"{path}: {message} (not TOML)"
        raise PlanFileError(path, [message]) from None
    lines = key_lines(text)

    def place(loc: Loc) -> str:
        line = line_of(lines, loc)
        return f"{path}:{line}" if line is not None else str(path)

    return check_plan_file(data, path, place)


def check_plan_file(data: Any, source: Path | str, place: Callable[[Loc], str]) -> PlanFile:
    """The plan file `data` holds, validated whole (its schema, then the rules between its
    parts); PlanFileError lists every problem, each at place(its key path)."""
    found: list[tuple[Loc, str]] = []
    try:
        plan_file = PlanFile.model_validate(data)
    except ValidationError as error:
        found = [(tuple(detail["loc"]), detail["msg"]) for detail in error.errors()]
    else:
        found = list(_cross_checks(plan_file))
    if found:
        problems = [f"{place(loc)}: {_where(loc)}: {message}" for loc, message in found]
        raise PlanFileError(source, problems)
    return plan_file


def _reports(plan_file: PlanFile) -> list[tuple[Loc, FileReport]]:
    single = [(("report",), plan_file.report)] if plan_file.report is not None else []
    return single + [(("reports", index), report) for index, report in enumerate(plan_file.reports)]


def _evaluations(item: FileInitiative) -> list[tuple[Loc, FileEvaluation]]:
    single = [(("evaluation",), item.evaluation)] if item.evaluation is not None else []
    return single + [(("evaluations", index), one) for index, one in enumerate(item.evaluations)]


def _cross_checks(plan_file: PlanFile) -> Iterator[tuple[Loc, str]]:
    """What one item cannot say alone: numbers and codes that name each other, the period."""
    plan = plan_file.plan
    start, end = plan.start_fiscal_year, plan.end_fiscal_year
    measures: set[tuple[int, int]] = set()
    policies: set[int] = set()
    for index, policy in enumerate(plan_file.policies):
        if policy.number in policies:
            yield ("policies", index, "number"), f"policy {policy.number} is written twice"
        policies.add(policy.number)
        seen: set[int] = set()
        for position, measure in enumerate(policy.measures):
            if measure.number in seen:
                yield (
                    ("policies", index, "measures", position, "number"),
                    f"measure {measure.number} of policy {policy.number} is written twice",
                )
            seen.add(measure.number)
            measures.add((policy.number, measure.number))
    codes: set[str] = set()
    for index, item in enumerate(plan_file.initiatives):
        at: Loc = ("initiatives", index)
        if item.code in codes:
            yield (*at, "code"), f"initiative {item.code} is written twice"
        codes.add(item.code)
        if (item.policy, item.measure) not in measures:
            yield (
                (*at, "measure"),
                f"policy {item.policy} has no measure {item.measure} in this file",
            )
        try:
            year = initiative_fiscal_year(item.code, item.fiscal_year)
        except YearRuleBroken as broken:
            yield (*at, broken.field), str(broken)
            continue
        if reason := outside_period(year, start, end):
            yield (*at, "fiscal_year"), reason
        if item.evaluation is not None and item.evaluations:
            yield (*at, "evaluation"), "write `evaluation` or `evaluations`, not both"
        years: set[int] = set()
        for where, evaluation in _evaluations(item):
            if evaluation.fiscal_year in years:
                yield (*at, *where, "fiscal_year"), "an initiative has one evaluation a year"
            years.add(evaluation.fiscal_year)
            if reason := year_refused(evaluation.fiscal_year, year, start, end):
                yield (*at, *where, "fiscal_year"), reason
    if plan_file.report is not None and plan_file.reports:
        yield ("report",), "write `report` or `reports`, not both"
    report_years: set[int] = set()
    for at, report in _reports(plan_file):
        if report.fiscal_year in report_years:
            yield (*at, "fiscal_year"), "a plan has one report a year"
        report_years.add(report.fiscal_year)
        if reason := outside_period(report.fiscal_year, start, end):
            yield (*at, "fiscal_year"), reason
        lined: set[int] = set()
        for position, line in enumerate(report.lines):
            if reason := counts_refused(line.items, line.achieved, line.unconfirmed):
                yield (*at, "lines", position, "achieved"), reason
            if line.policy not in policies:
                yield (*at, "lines", position, "policy"), f"no policy {line.policy} in this file"
            elif line.policy in lined:
                yield (*at, "lines", position, "policy"), f"policy {line.policy} has two lines"
            lined.add(line.policy)
        named: set[str] = set()
        for position, highlight in enumerate(report.highlights):
            where = (*at, "highlights", position, "code")
            if highlight.code not in codes:
                yield where, f"no initiative {highlight.code} in this file"
            elif highlight.code in named:
                yield where, f"initiative {highlight.code} is named twice"
            named.add(highlight.code)


# --- Loading ----------------------------------------------------------------------------------


@dataclass
class SeedResult:
    created: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    # What was added or changed, a line each ("add initiative R6-7", "change ...: a → b").
    lines: list[str] = field(default_factory=list)

    def count(self, table: str, created: bool) -> None:
        tally = self.created if created else self.existing
        tally[table] = tally.get(table, 0) + 1


def seed(session: Session, path: Path = KANAZAWA) -> SeedResult:
    """Add the plan in `path` and everything under it; commit once at the end. The whole file
    is checked first: a file with any problem raises PlanFileError and writes nothing."""
    return load_plan(session, read_plan_file(path), actor="seed")


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else "null" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _follow(row: SQLModel, derived: dict[str, str]) -> None:
    """Keep a row's derived columns (search keys, sort keys) in step with the row as it now
    stands: an owned title may have changed, and a field the file does not give stays."""
    for name, value in derived.items():
        if getattr(row, name) != value:
            setattr(row, name, value)


def load_plan(session: Session, plan_file: PlanFile, *, actor: str) -> SeedResult:
    """Add a checked plan file's rows that are missing, in one transaction, committed; the
    change log names `actor` as their writer."""
    session.info["actor"] = actor
    result = SeedResult()
    Seeder(session, result).plan(plan_file)
    session.commit()
    return result


class Seeder:
    """Writes a plan file's rows, matched on their natural keys.

    A row that is missing is added. A row that exists keeps its values, except the fields
    `owned` names for its table: those the file's source states and may correct (an ingested
    report's titles and figures, app/ingest.py); a seed file owns none.
    """

    def __init__(
        self,
        session: Session,
        result: SeedResult,
        owned: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.session = session
        self.result = result
        self.owned = owned or {}

    def ensure(
        self, model: type[Row], key: dict[str, Any], values: dict[str, Any], *, label: str
    ) -> Row:
        """Return the row with this natural key, adding it with `values` when missing, and
        bringing its owned fields to `values` when not."""
        query = select(model)
        for name, value in key.items():
            query = query.where(getattr(model, name) == value)
        row = self.session.exec(query).first()
        table: str = model.__tablename__  # type: ignore[assignment]
        self.result.count(table, created=row is None)
        if row is None:
            row = model(**key, **values)
            self.session.add(row)
            self.session.flush()
            self.result.lines.append(f"add {label}")
            return row
        owned = self.owned.get(table, frozenset())
        changes = [
            f"{name} {_shown(getattr(row, name))} → {_shown(value)}"
            for name, value in values.items()
            if name in owned and getattr(row, name) != value
        ]
        if changes:
            for name in owned & values.keys():
                setattr(row, name, values[name])
            self.session.flush()
            self.result.changed[table] = self.result.changed.get(table, 0) + 1
            self.result.lines.append(f"change {label}: {'; '.join(changes)}")
        return row

    def plan(self, plan_file: PlanFile) -> None:
        fields = plan_file.plan.model_dump(exclude_unset=True)
        fields["provenance"] = full(PLAN_FACTS, fields.get("provenance"))
        slug = fields.pop("slug")
        plan = self.ensure(Plan, {"slug": slug}, fields, label=f"plan {slug}")
        assert plan.id is not None
        policies: dict[int, Policy] = {}
        measures: dict[tuple[int, int], Measure] = {}
        for policy_in in plan_file.policies:
            policy_fields = policy_in.model_dump(exclude_unset=True, exclude={"measures"})
            number = policy_fields.pop("number")
            policy_fields |= policy_columns(title=policy_in.title, focus=policy_in.focus)
            policy = self.ensure(
                Policy,
                {"plan_id": plan.id, "number": number},
                policy_fields,
                label=f"policy {number} {policy_in.title}",
            )
            _follow(policy, policy_columns(title=policy.title, focus=policy.focus))
            policies[number] = policy
            for measure_in in policy_in.measures:
                measure = self.ensure(
                    Measure,
                    {"policy_id": policy.id, "number": measure_in.number},
                    {"plan_id": plan.id, "title": measure_in.title}
                    | measure_columns(title=measure_in.title),
                    label=f"measure {number}-{measure_in.number} {measure_in.title}",
                )
                _follow(measure, measure_columns(title=measure.title))
                measures[number, measure_in.number] = measure
        initiatives = {
            item.code: self.initiative(plan.id, measures, item) for item in plan_file.initiatives
        }
        for _, report in _reports(plan_file):
            self.report(plan.id, policies, initiatives, report)

    def initiative(
        self, plan_id: int, measures: dict[tuple[int, int], Measure], item: FileInitiative
    ) -> Initiative:
        fields = item.model_dump(
            exclude_unset=True, exclude={"code", "policy", "measure", "evaluation", "evaluations"}
        )
        measure = measures[item.policy, item.measure]
        fields["fiscal_year"] = initiative_fiscal_year(item.code, item.fiscal_year)
        fields |= initiative_columns(code=item.code, title=item.title, description=item.description)
        initiative = self.ensure(
            Initiative,
            {"plan_id": plan_id, "code": item.code},
            {"measure_id": measure.id, **fields},
            label=f"initiative {item.code} {item.title}",
        )
        _follow(
            initiative,
            initiative_columns(
                code=initiative.code, title=initiative.title, description=initiative.description
            ),
        )
        for _, evaluation in _evaluations(item):
            values = evaluation.model_dump(mode="json", exclude_unset=True, exclude={"fiscal_year"})
            values |= evaluation_columns(result=evaluation.result)
            row = self.ensure(
                Evaluation,
                {"initiative_id": initiative.id, "fiscal_year": evaluation.fiscal_year},
                values,
                label=f"evaluation {item.code} {evaluation.fiscal_year}",
            )
            _follow(row, evaluation_columns(result=row.result))
        return initiative

    def report(
        self,
        plan_id: int,
        policies: dict[int, Policy],
        initiatives: dict[str, Initiative],
        report_in: FileReport,
    ) -> None:
        fields = report_in.model_dump(
            exclude_unset=True, exclude={"fiscal_year", "lines", "highlights"}
        )
        fields["provenance"] = full(REPORT_FACTS, fields.get("provenance"))
        year = report_in.fiscal_year
        report = self.ensure(
            Report,
            {"plan_id": plan_id, "fiscal_year": year},
            fields,
            label=f"report {year} {report_in.title}",
        )
        for line in report_in.lines:
            values = line.model_dump(mode="json", exclude_unset=True, exclude={"policy"})
            policy = policies[line.policy]
            self.ensure(
                ReportLine,
                {"report_id": report.id, "policy_id": policy.id},
                values,
                label=f"report {year} line of policy {line.policy}",
            )
        for highlight in report_in.highlights:
            initiative = initiatives[highlight.code]
            self.ensure(
                ReportHighlight,
                {"report_id": report.id, "initiative_id": initiative.id},
                {"section": highlight.section},
                label=f"report {year} highlight {highlight.code} ({highlight.section})",
            )
