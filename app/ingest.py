"""Read a progress report in the city's format into the database (`python -m app ingest`).

The format is Kanazawa's 「行政経営プランの取組状況等について」 (seed/source/ holds the 令和6年度
one), four numbered sections:

    1. <plan>の概要        (1) 基本理念, (2) 推進期間, (3) 基本方針: "- 1 <title>（<focus>）"
    2. 取組事項の達成率    the table: "<n> <policy>  <A> 項目[※]  <B> 項目  <rate>%", 合計,
                           and "※うち <n> 項目は数値未確定" for the line marked ※
    3. <year>に実施した主な取組事項   policy headings, "（1）<measure>", then items:
                           "- ・ <title>[【数値目標】] [P<page>, №.<code>]" and the result
    4. <year>に追加した主な取組事項   the same, each item followed by its description

The report becomes a plan file (app/seed.py), so it passes the checks a seed file passes, and
is written by the same Seeder. What the document states is data; what the report does not
state is either given on the command line (the municipality code, the licence) or inferred
by the rules below, and each inference is written into the row's `source`:

- an item of section 3 was carried out that year: its evaluation for that year is "achieved"
  (the document does not say 達成 item by item), except an item with a numeric target
  (【数値目標】), whose achievement needs figures the document does not give: no status;
- the achievement table is that of section 3's year (the table does not name its year);
- a policy line with no ※ has no unconfirmed items.

Run again with the same text, nothing changes. On rows that exist, the text's own facts
(titles, pages, results, the table's figures) are brought to what it says; an evaluation's
status, once set, is staff's to change and is never overwritten.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from app.models import Plan
from app.rates import achievement_rate
from app.seed import (
    Loc,
    PlanFile,
    PlanFileError,
    Seeder,
    SeedResult,
    check_plan_file,
    line_of,
)
from app.text import code_fiscal_year
from app.wareki import FiscalYearError, fiscal_year_label, parse_fiscal_year

# The fields a report states, which a later ingest of a corrected text may change (by table).
DOCUMENT_OWNS: dict[str, frozenset[str]] = {
    "plans": frozenset({"title", "philosophy", "start_fiscal_year", "end_fiscal_year"}),
    "policies": frozenset({"title", "focus"}),
    "measures": frozenset({"title"}),
    "initiatives": frozenset({"title", "plan_page", "numeric_target", "description"}),
    "evaluations": frozenset({"result"}),
    "reports": frozenset({"title"}),
    "report_lines": frozenset({"items", "achieved", "unconfirmed", "provenance"}),
    "report_highlights": frozenset({"section"}),
}

NUMERIC_TARGET = "【数値目標】"

_SECTION = re.compile(r"^([1-4])[.．]\s*(.+)$")
_SUBSECTION = re.compile(r"^[（(]\s*([0-9０-９]+)\s*[）)]\s*(.+)$")
_TITLED = re.compile(r"^(.+?)\s*[（(](.+)[）)]$")
_POLICY_LINE = re.compile(r"^[-・]\s*([0-9０-９]+)\s+(.+)$")
_PERIOD = re.compile(r"^(.+?年度)\s*[～〜~\-－]\s*(.+?年度)")
_YEAR_SECTION = re.compile(r"^(.+?年度)に(実施|追加)した")
_SUMMARY = re.compile(r"^達成率\s*([0-9.]+)\s*%.*?([0-9]+)\s*項目中\s*([0-9]+)\s*項目")
_COUNT = re.compile(r"^([0-9]+)\s*項目\s*(※)?$")
_RATE = re.compile(r"^([0-9.]+)\s*%$")
_NOTE = re.compile(r"^※\s*うち\s*([0-9]+)\s*項目は数値未確定")
_ITEM = re.compile(
    r"^(?P<title>.+?)\s*(?P<target>【数値目標】)?\s*"
    r"\[\s*P\.?\s*(?P<page>[0-9]+)\s*[,，、]\s*(?:№|No)\.?\s*(?P<code>[^\]\s]+)\s*\]$"
)


@dataclass
class Item:
    line: int
    policy: int
    measure: int
    code: str
    title: str
    page: int
    numeric_target: bool
    text: list[str] = field(default_factory=list)


@dataclass
class Section:
    """Section 3 (kind "implemented") or 4 ("added"): a year and its items."""

    line: int
    heading: str
    year: int
    kind: str
    items: list[Item] = field(default_factory=list)


@dataclass
class TableLine:
    line: int
    policy: int
    items: int
    achieved: int
    marked: bool  # ※: its unconfirmed count is the note's


@dataclass
class ProgressReport:
    """What a progress report's text says, each fact with its line."""

    title: str = ""
    plan_title: str = ""
    philosophy: str = ""
    period: tuple[int, int] | None = None
    policies: dict[int, tuple[str, str | None, int]] = field(default_factory=dict)
    measures: dict[tuple[int, int], tuple[str, int]] = field(default_factory=dict)
    table_title: str = ""
    table: list[TableLine] = field(default_factory=list)
    unconfirmed: int = 0
    sections: list[Section] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # where each plan-level fact is


class Reader:
    """Reads a report's lines in order, collecting problems as `file:line: why`."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self.report = ProgressReport()
        self.summary: tuple[float, int, int] | None = None  # 達成率 …% (… 項目中 … 項目)
        # The text as a person typed it; headings are matched after NFKC (full and half
        # width alike), facts are kept as written.
        self.rows = [
            (number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)
        ]

    def problem(self, line: int, why: str) -> None:
        self.problems.append(f"{self.source}:{line}: {why}")

    def read(self) -> ProgressReport:
        report = self.report
        section = 0
        part = ""  # the subsection of section 1
        pending: int | None = None  # a policy number written on a line of its own
        policy = measure = 0
        item: Item | None = None
        unread = False
        for number, line in self.rows:
            if not line:
                continue
            if not report.title:
                report.title = line
                report.lines["title"] = number
                continue
            bare = unicodedata.normalize("NFKC", line)
            if heading := _SECTION.match(bare):
                section, part, item, policy, measure = int(heading[1]), "", None, 0, 0
                self.section(
                    number,
                    section,
                    line[line.index(".") + 1 :].strip() if "." in line else heading[2],
                )
                continue
            if section == 1:
                if sub := _SUBSECTION.match(bare):
                    part = sub[2].strip()
                else:
                    self.overview(number, part, line, bare)
            elif section == 2:
                self.table_row(number, bare)
            elif section in (3, 4):
                if bare == "方針":
                    continue
                if bare.isdigit():
                    pending = int(bare)
                    continue
                if (found := self.policy_heading(bare, pending)) is not None:
                    policy, measure, item, pending, unread = found, 0, None, None, False
                    continue
                if sub := _SUBSECTION.match(bare):
                    measure, item, unread = int(sub[1]), None, False
                    self.measure(number, policy, measure, line)
                    continue
                if bare.startswith(("-", "・")):
                    item = self.item(number, policy, measure, line)
                    unread = item is None  # its problem is named; its text is not another
                    continue
                if item is not None:
                    item.text.append(line)
                elif not unread:
                    self.problem(number, "text outside an item: an item starts with '- '")
            else:
                self.problem(number, f"text before section 1: {line[:40]}")
        self.finish()
        return report

    def section(self, line: int, number: int, heading: str) -> None:
        report = self.report
        if number == 1:
            if not heading.endswith("の概要"):
                self.problem(line, "section 1 is headed '1. <plan>の概要'")
            report.plan_title = heading.removesuffix("の概要")
            report.lines["plan_title"] = line
        elif number == 2:
            report.table_title = heading
            report.lines["table"] = line
        else:
            found = _YEAR_SECTION.match(heading)
            kind = "implemented" if number == 3 else "added"
            if found is None or (found[2] == "実施") != (number == 3):
                verb = "実施" if number == 3 else "追加"
                self.problem(line, f"section {number} is headed '{number}. <年度>に{verb}した…'")
                return
            try:
                year = parse_fiscal_year(found[1])
            except FiscalYearError as error:
                self.problem(line, f"{found[1]}: {error}")
                return
            heading_text = f"{number}. {heading}"
            report.sections.append(Section(line, heading_text, year, kind))

    def overview(self, line: int, part: str, text: str, bare: str) -> None:
        report = self.report
        if part == "基本理念":
            report.philosophy = f"{report.philosophy}\n{text}" if report.philosophy else text
            report.lines.setdefault("philosophy", line)
        elif part == "推進期間":
            report.lines["period"] = line
            found = _PERIOD.match(bare)
            if found is None:
                self.problem(line, "the period is written '令和5年度～令和8年度'")
                return
            try:
                report.period = (parse_fiscal_year(found[1]), parse_fiscal_year(found[2]))
            except FiscalYearError as error:
                self.problem(line, f"the period: {error}")
        elif part == "基本方針":
            found = _POLICY_LINE.match(bare)
            if found is None:
                self.problem(line, "a policy is written '- 1 <title>（<focus>）'")
                return
            title, focus = _title_and_focus(text.lstrip("-・ ").split(None, 1)[1])
            report.policies[int(found[1])] = (title, focus, line)
        else:
            self.problem(line, "section 1 holds (1) 基本理念, (2) 推進期間 and (3) 基本方針")

    def table_row(self, line: int, bare: str) -> None:
        report = self.report
        if found := _SUMMARY.match(bare):
            report.lines["summary"] = line
            self.summary = (float(found[1]), int(found[2]), int(found[3]))
            return
        if note := _NOTE.match(bare):
            report.unconfirmed = int(note[1])
            report.lines["note"] = line
            return
        cells = [cell.strip() for cell in re.split(r"\t+| {2,}", bare) if cell.strip()]
        if "項目数" in bare:
            return  # the header
        if len(cells) != 4:
            self.problem(line, "a table line is '<policy>  <A> 項目  <B> 項目  <rate>%'")
            return
        name, items, achieved, rate = cells
        counts = [_COUNT.match(items), _COUNT.match(achieved)]
        percent = _RATE.match(rate)
        if counts[0] is None or counts[1] is None or percent is None:
            self.problem(line, "a table line is '<policy>  <A> 項目  <B> 項目  <rate>%'")
            return
        a, b = int(counts[0][1]), int(counts[1][1])
        if (computed := achievement_rate(b, a)) is not None and computed != float(percent[1]):
            self.problem(line, f"{rate} is not {b} of {a} ({computed}%, rounded half up)")
        if name == "合計":
            total = (
                sum(one.items for one in report.table),
                sum(one.achieved for one in report.table),
            )
            if (a, b) != total:
                self.problem(
                    line, f"合計 {a} and {b} are not the lines' sums {total[0]} and {total[1]}"
                )
            if self.summary is not None and self.summary != (float(percent[1]), a, b):
                self.problem(
                    report.lines["summary"], "the summary line does not say what 合計 says"
                )
            return
        policy = re.match(r"^([0-9]+)\s*(.*)$", name)
        if policy is None:
            self.problem(line, "a table line starts with its policy's number")
            return
        report.table.append(TableLine(line, int(policy[1]), a, b, counts[0][2] is not None))

    def policy_heading(self, bare: str, pending: int | None) -> int | None:
        """The policy a heading of section 3 or 4 names ("2 共創の質を高める（…）", or its
        number on the line before), or None when the line is not one."""
        found = re.match(r"^([0-9]+)\s+(.+)$", bare)
        number, title = (int(found[1]), found[2]) if found else (pending, bare)
        if number is None or number not in self.report.policies:
            return None
        known, _, _ = self.report.policies[number]
        written, _ = _title_and_focus(title)
        same = unicodedata.normalize("NFKC", known) == unicodedata.normalize("NFKC", written)
        return number if same else None

    def measure(self, line: int, policy: int, number: int, title: str) -> None:
        if policy == 0:
            self.problem(line, "a measure before its policy's heading")
            return
        title = re.sub(r"^[（(]\s*[0-9０-９]+\s*[）)]\s*", "", title)
        known = self.report.measures.get((policy, number))
        if known is not None and known[0] != title:
            self.problem(
                line, f"measure ({number}) of policy {policy} is '{known[0]}' on line {known[1]}"
            )
        self.report.measures.setdefault((policy, number), (title, line))

    def item(self, line: int, policy: int, measure: int, text: str) -> Item | None:
        if not self.report.sections:
            self.problem(line, "an item outside sections 3 and 4")
            return None
        if measure == 0:
            self.problem(line, "an item before its measure's heading （1）…")
            return None
        bare = re.sub(r"^[-・\s]+", "", text).replace("**", "").strip()
        found = _ITEM.match(bare)
        if found is None:
            self.problem(line, "an item is '- <title> [P<page>, №.<code>]'")
            return None
        one = Item(
            line=line,
            policy=policy,
            measure=measure,
            code=unicodedata.normalize("NFKC", found["code"]),
            title=found["title"].strip(),
            page=int(found["page"]),
            numeric_target=found["target"] is not None,
        )
        self.report.sections[-1].items.append(one)
        return one

    def finish(self) -> None:
        report, first = self.report, (self.rows[0][0] if self.rows else 1)
        needed = {
            "plan_title": "section 1 '1. <plan>の概要'",
            "philosophy": "(1) 基本理念",
            "period": "(2) 推進期間",
        }
        for key, what in needed.items():
            if key not in report.lines:
                self.problem(first, f"the report has no {what}")
        if not report.policies:
            self.problem(first, "the report has no (3) 基本方針")
        marked = [one for one in report.table if one.marked]
        if report.unconfirmed and len(marked) != 1:
            self.problem(report.lines["note"], "the ※ note needs exactly one line marked ※")
        for one in report.table:
            if one.policy not in report.policies:
                self.problem(one.line, f"no policy {one.policy} in (3) 基本方針")
        for section in report.sections:
            for item in section.items:
                if not item.text:
                    self.problem(item.line, f"{item.code} has no text under it")


def _title_and_focus(text: str) -> tuple[str, str | None]:
    found = _TITLED.match(text.strip())
    return (found[1].strip(), found[2].strip()) if found else (text.strip(), None)


@dataclass
class Outside:
    """What the report does not state: from the plan already in the database, else given."""

    municipality_code: str | None = None
    municipality_name: str | None = None
    license: str | None = None
    license_url: str | None = None


def plan_file_of(
    report: ProgressReport, slug: str, outside: Outside
) -> tuple[dict[str, Any], dict[Loc, int]]:
    """The plan file a report makes (as data, to check as a seed file is), and the line of
    the text each of its key paths comes from."""
    at: dict[Loc, int] = {("plan",): report.lines.get("plan_title", 1)}
    name = outside.municipality_name or _municipality(report.plan_title)
    document = f"{name}「{report.title}」"
    start, end = report.period or (0, 0)
    plan = {
        "slug": slug,
        "title": report.plan_title,
        "municipality_code": outside.municipality_code,
        "municipality_name": name,
        "philosophy": report.philosophy,
        "start_fiscal_year": start,
        "end_fiscal_year": end,
        "source": (
            f"{document}より取込。全国地方公共団体コード及びライセンスは同資料に記載がなく、"
            "取込時に指定したもの。"
        ),
        "license": outside.license,
        "license_url": outside.license_url,
        "attribution": f"出典：{document}",
        # The title names the city (金沢市行政経営プラン); a name given on the command line
        # comes from outside the text, as the code and the licence always do.
        "provenance": {
            "title": "stated",
            "municipality_code": "external",
            "municipality_name": "external" if outside.municipality_name else "stated",
            "philosophy": "stated",
            "start_fiscal_year": "stated",
            "end_fiscal_year": "stated",
            "license": "external",
        },
    }
    at[("plan", "philosophy")] = report.lines.get("philosophy", 1)
    at[("plan", "start_fiscal_year")] = at[("plan", "end_fiscal_year")] = report.lines.get(
        "period", 1
    )
    policies = []
    for index, (number, (title, focus, line)) in enumerate(sorted(report.policies.items())):
        measures = [
            {"number": m, "title": title_m}
            for (p, m), (title_m, _) in sorted(report.measures.items())
            if p == number
        ]
        policies.append({"number": number, "title": title, "focus": focus, "measures": measures})
        at[("policies", index)] = line
        for position, (p, m) in enumerate(
            key for key in sorted(report.measures) if key[0] == number
        ):
            at[("policies", index, "measures", position)] = report.measures[p, m][1]
    initiatives: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    for section in report.sections:
        highlights = []
        for item in section.items:
            initiative: dict[str, Any] = {
                "code": item.code,
                "policy": item.policy,
                "measure": item.measure,
                "title": item.title,
                "plan_page": item.page,
                "numeric_target": item.numeric_target,
            }
            if code_fiscal_year(item.code) is None:
                initiative["fiscal_year"] = section.year
            text = "\n".join(item.text)
            if section.kind == "added":
                initiative["description"] = text
            else:
                initiative["evaluations"] = [_evaluation(section, item, text)]
            at[("initiatives", len(initiatives))] = item.line
            initiatives.append(initiative)
            highlights.append({"code": item.code, "section": section.kind})
        if section.kind == "implemented":
            reports.append(_table(report, section, document, highlights))
            at[("reports", len(reports) - 1)] = report.lines.get("table", section.line)
            for position, one in enumerate(report.table):
                at[("reports", len(reports) - 1, "lines", position)] = one.line
        elif reports:
            reports[-1]["highlights"] += highlights
    return {"plan": plan, "policies": policies, "initiatives": initiatives, "reports": reports}, at


def _municipality(plan_title: str) -> str:
    """The city a plan's title begins with (金沢市行政経営プラン: 金沢市)."""
    found = re.match(r"^(.+?[都道府県市区町村])", plan_title)
    return found[1] if found else plan_title


def _evaluation(section: Section, item: Item, result: str) -> dict[str, Any]:
    listed = f"「{section.heading}」に実施した取組として掲載。"
    # Either way a judgement on the text: its status (or that it has none) is inferred.
    evaluation: dict[str, Any] = {
        "fiscal_year": section.year,
        "result": result,
        "provenance": "inferred",
    }
    if item.numeric_target:
        evaluation["source"] = (
            f"{listed}数値目標の項目で、目標値と実績の記載がなく、項目別の達成/未達成の記載も"
            "ないため、評価は空欄（null）とした。"
        )
    else:
        evaluation["status"] = "achieved"
        evaluation["source"] = f"{listed}項目別の達成/未達成は記載がなく、評価「達成」は推定。"
    return evaluation


def _table(
    report: ProgressReport, section: Section, document: str, highlights: list[dict[str, Any]]
) -> dict[str, Any]:
    label = fiscal_year_label(section.year)
    return {
        "fiscal_year": section.year,
        "title": report.title,  # the published document's name, not the table's heading
        "provenance": {"fiscal_year": "inferred", "title": "stated", "published_on": "external"},
        "source": (
            f"{document}の「2. {report.table_title}」の表より取込。表の年度（{label}）は本文に"
            f"明記がなく、「{section.heading}」からの推定。"
        ),
        "lines": [
            {
                "policy": one.policy,
                "items": one.items,
                "achieved": one.achieved,
                "unconfirmed": report.unconfirmed if one.marked else 0,
                # The table states an unconfirmed count only where ※ marks it: a 0 is inferred.
                "provenance": "stated" if one.marked else "inferred",
            }
            for one in report.table
        ],
        "highlights": highlights,
    }


def read_report(path: Path, slug: str, outside: Outside) -> PlanFile:
    """The plan file the report at `path` makes for plan `slug`, checked whole;
    PlanFileError names every problem by the text's line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise PlanFileError(path, [f"{path}: cannot be read: {error}"]) from None
    reader = Reader(text, str(path))
    report = reader.read()
    if reader.problems:
        raise PlanFileError(path, reader.problems)
    data, lines = plan_file_of(report, slug, outside)

    def place(loc: Loc) -> str:  # a key path's problem, at the text's line it comes from
        line = line_of(lines, loc)
        return str(path) if line is None else f"{path}:{line}"

    return check_plan_file(data, path, place)


class MissingFact(ValueError):
    """The plan is new and the report does not state something only the caller can give."""


def outside_facts(session: Session, slug: str, given: Outside, default: Outside) -> Outside:
    """The facts a report does not state: the plan's own when it exists, else `given`, else
    `default` (the licence); a new plan with no municipality code is refused."""
    plan = session.exec(select(Plan).where(Plan.slug == slug)).first()
    if plan is not None:
        return Outside(
            plan.municipality_code, plan.municipality_name, plan.license, plan.license_url
        )
    if given.municipality_code is None:
        raise MissingFact(
            f"plan {slug} is new and the report does not state its municipality code:"
            " give --municipality-code (全国地方公共団体コード, 6 digits)"
        )
    return Outside(
        given.municipality_code,
        given.municipality_name,
        given.license or default.license,
        given.license_url if given.license else (given.license_url or default.license_url),
    )


def ingest(session: Session, plan_file: PlanFile, *, dry_run: bool) -> SeedResult:
    """Write what the report adds or changes, in one transaction: committed, or on a dry run
    rolled back after the change log is made (so the result lists the same lines)."""
    session.info["actor"] = "ingest"
    result = SeedResult()
    Seeder(session, result, owned=DOCUMENT_OWNS).plan(plan_file)
    if dry_run:
        session.rollback()
    else:
        session.commit()
    return result
