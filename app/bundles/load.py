"""A plan's bundle (/export/plans/{id}.zip) loaded into this service: how a plan moves between
instances and databases (SQLite to PostgreSQL), and how a backup is restored.

The bundle's CSVs name everything by natural keys (the plan's slug, policy and measure
numbers, codes, fiscal years), as a plan file does: so a bundle is read into a plan file
(app/seed.py) and checked and written the same way, all or nothing.
"""

import io
import zipfile
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from app.bulk.messages import translator
from app.bulk.parse import RawRow, parse_csv
from app.bulk.schemas import STATUS_NAMES
from app.db import begin_write
from app.errors import AppError, Conflict, InvalidInput
from app.exports.bundle import bundle_path
from app.exports.tables import EXPORTS, SECTION_JA
from app.models import Plan, plans
from app.seed import Loc, PlanFile, PlanFileError, SeedResult, check_plan_file, load_plan
from app.writes import delete, hold_write_lock

# What a bundle may unpack to: the CSVs of one plan, bounded before any is read.
UNPACKED_LIMIT = 256 * 1024 * 1024
ENGLISH = translator(False)
SECTIONS = {ja: en for en, ja in SECTION_JA.items()}


def _csv_rows(archive: zipfile.ZipFile, name: str) -> list[RawRow]:
    path = bundle_path(EXPORTS[name])
    try:
        content = archive.read(path)
    except KeyError:
        raise InvalidInput.at(["body"], f"the bundle has no {path}") from None
    try:
        return parse_csv(content, None, EXPORTS[name].columns, ENGLISH)
    except AppError as error:
        raise InvalidInput.at(["body", path], f"{path}: {error.detail}") from None


def _kept(values: dict[str, Any], *names: str, **renamed: str) -> dict[str, Any]:
    """The named values that are set (a CSV's empty cell is a key left out of a file)."""
    pairs = [(name, name) for name in names] + list(renamed.items())
    return {key: values[column] for key, column in pairs if values.get(column) is not None}


def plan_file_of(content: bytes, source: str) -> PlanFile:
    """The plan a bundle holds, as a checked plan file; PlanFileError names each problem by
    the bundle's CSV and line."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if sum(member.file_size for member in archive.infolist()) > UNPACKED_LIMIT:
                raise InvalidInput.at(
                    ["body"], f"the bundle unpacks to over {UNPACKED_LIMIT:,} bytes"
                )
            # A bundle made before highlights were exported has none to give.
            tables = {
                name: _csv_rows(archive, name)
                for name in EXPORTS
                if name != "highlights" or bundle_path(EXPORTS[name]) in archive.namelist()
            }
    except zipfile.BadZipFile as error:
        raise InvalidInput.at(["body"], f"not a zip bundle: {error}") from None
    places: dict[Loc, str] = {}

    def at(loc: Loc, table: str, row: RawRow) -> None:
        places[loc] = f"{source}:{bundle_path(EXPORTS[table])}:{row.line}"

    if len(tables["plans"]) != 1:
        raise InvalidInput.at(["body", "plans.csv"], "plans.csv must hold exactly one plan")
    (plan_row,) = tables["plans"]
    at(("plan",), "plans", plan_row)
    plan = _kept(
        plan_row.values,
        "title", "municipality_code", "municipality_name", "philosophy", "start_fiscal_year",
        "end_fiscal_year", "source", "license", "license_url", "attribution", "provenance",
        slug="plan_slug",
    )  # fmt: skip
    policies: dict[Any, dict[str, Any]] = {}
    for row in tables["policies"]:
        at(("policies", len(policies)), "policies", row)
        number = row.values.get("policy_number")
        policies[number] = _kept(row.values, "title", "focus", number="policy_number")
        policies[number]["measures"] = []
    orphans: list[tuple[Loc, str]] = []
    for row in tables["measures"]:
        number = row.values.get("policy_number")
        if number not in policies:
            orphans.append((("measures.csv", row.line or 0), f"no policy {number} in policies.csv"))
            continue
        index = list(policies).index(number)
        at(("policies", index, "measures", len(policies[number]["measures"])), "measures", row)
        policies[number]["measures"].append(_kept(row.values, "title", number="measure_number"))
    initiatives: dict[Any, dict[str, Any]] = {}
    for row in tables["initiatives"]:
        at(("initiatives", len(initiatives)), "initiatives", row)
        initiatives[row.values.get("code")] = _kept(
            row.values,
            "code", "title", "description", "plan_page", "fiscal_year", "numeric_target",
            "target_value", "target_unit",
            policy="policy_number", measure="measure_number",
        ) | {"evaluations": []}  # fmt: skip
    for row in tables["evaluations"]:
        code = row.values.get("code")
        if code not in initiatives:
            orphans.append(
                (("evaluations.csv", row.line or 0), f"no initiative {code} in initiatives.csv")
            )
            continue
        item = initiatives[code]
        at(
            ("initiatives", list(initiatives).index(code), "evaluations", len(item["evaluations"])),
            "evaluations",
            row,
        )
        values = _kept(
            row.values, "fiscal_year", "status", "actual_value", "result", "source", "provenance"
        )
        if isinstance(values.get("status"), str):
            values["status"] = STATUS_NAMES.get(values["status"].strip(), values["status"])
        item["evaluations"].append(values)
    reports: dict[Any, dict[str, Any]] = {}
    for row in tables["reports"]:
        year = row.values.get("fiscal_year")
        if year not in reports:
            at(("reports", len(reports)), "reports", row)
            reports[year] = _kept(
                row.values,
                "fiscal_year", "title", "published_on", "source",
                provenance="report_provenance",
            )  # fmt: skip
            reports[year]["lines"] = []
        if row.values.get("policy_number") is not None:
            lines = reports[year]["lines"]
            at(("reports", list(reports).index(year), "lines", len(lines)), "reports", row)
            lines.append(
                _kept(
                    row.values,
                    "items",
                    "achieved",
                    "unconfirmed",
                    "provenance",
                    policy="policy_number",
                )  # fmt: skip
            )
    for row in tables.get("highlights", []):
        year = row.values.get("fiscal_year")
        if year not in reports:
            orphans.append(
                (("highlights.csv", row.line or 0), f"no report for {year} in reports.csv")
            )
            continue
        named = reports[year].setdefault("highlights", [])
        at(("reports", list(reports).index(year), "highlights", len(named)), "highlights", row)
        values = _kept(row.values, "code", "section")
        if isinstance(values.get("section"), str):
            values["section"] = SECTIONS.get(values["section"].strip(), values["section"])
        named.append(values)
    if orphans:
        raise PlanFileError(
            source, [f"{source}:{csv}:{line}: {why}" for (csv, line), why in orphans]
        )
    data = {
        "plan": plan,
        "policies": list(policies.values()),
        "initiatives": list(initiatives.values()),
        "reports": list(reports.values()),
    }

    def place(loc: Loc) -> str:
        for end in range(len(loc), 0, -1):
            if loc[:end] in places:
                return places[loc[:end]]
        return source

    return check_plan_file(data, source, place)


def import_bundle(
    session: Session, content: bytes, *, source: str, actor: str, replace: bool
) -> tuple[int, SeedResult]:
    """Load the bundle's plan, all or nothing, in one transaction; return its new id and what
    was written. A plan with the same slug is refused (409), or with `replace`, deleted with
    everything under it first (each deletion in the change log)."""
    plan_file = plan_file_of(content, source)
    slug = plan_file.plan.slug
    try:
        begin_write(session)
        hold_write_lock(session)
        found = session.scalar(select(plans.c.id).where(plans.c.slug == slug))
        existing = session.get(Plan, found) if found is not None else None
        if existing is not None:
            if not replace:
                raise Conflict(
                    f"a plan with slug {slug!r} exists (id {existing.id}): to put the"
                    " bundle's in its place, import it with replace (?replace=true, --replace)"
                )
            session.info["actor"] = actor
            delete(session, existing, cascade=True)
            session.flush()
        result = load_plan(session, plan_file, actor=actor)
    except BaseException:
        session.rollback()
        raise
    plan_id = session.scalar(select(plans.c.id).where(plans.c.slug == slug))
    assert plan_id is not None
    return plan_id, result
