"""What the test_writes_*.py modules share: constants from the seed, database and HTTP helpers,
bodies of new rows under the seeded plan, and the routes and If-Match targets more than one
section uses.

The write side over HTTP (issue 3), one module per section: the journey, PATCH, PUT of an
evaluation, derived fields, referential integrity, validation, OpenAPI. Each test gets a database
of its own (the `api` fixture) and checks both what the client sees and what the database holds
afterwards. Expected values come from the request, the seed file
(seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a response.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine, Table, func, select

from app.models import (
    changes,
    evaluations,
    initiatives,
    measures,
    plans,
    policies,
    report_highlights,
    report_lines,
    reports,
)
from tests.conftest import Api
from tests.helpers import (
    API,
    PLAN_SLUG,
    SEED,
    SEED_INITIATIVES,
    assert_problem,
    media_type,
)

UNKNOWN_ID = 999_999
BODY_LIMIT = 1024 * 1024  # API.md: JSON bodies of ordinary writes up to 1 MiB
PLAN_START: int = SEED["plan"]["start_fiscal_year"]
PLAN_END: int = SEED["plan"]["end_fiscal_year"]
EVALUATED = sorted(code for code, item in SEED_INITIATIVES.items() if "evaluation" in item)
REPORT_YEAR: int = SEED["report"]["fiscal_year"]

# Every table a write may touch; the change log is one of them (a refused write logs nothing).
CONTENT_TABLES: tuple[Table, ...] = (
    plans,
    policies,
    measures,
    initiatives,
    evaluations,
    reports,
    report_lines,
    report_highlights,
    changes,
)
TABLES = {table.name: table for table in CONTENT_TABLES}

Item = dict[str, Any]
Snapshot = dict[str, list[tuple[Any, ...]]]


# --------------------------------------------------------------------------------------------
# Database helpers
# --------------------------------------------------------------------------------------------


def row_of(engine: Engine, table: Table, row_id: int) -> dict[str, Any] | None:
    with engine.connect() as connection:
        found = connection.execute(select(table).where(table.c.id == row_id)).mappings().first()
    return None if found is None else dict(found)


def must_row(engine: Engine, table: Table, row_id: int) -> dict[str, Any]:
    found = row_of(engine, table, row_id)
    assert found is not None, f"{table.name} {row_id} is not in the database"
    return found


def count_rows(engine: Engine, table: Table, *criteria: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table).where(*criteria)) or 0)


def ids_where(engine: Engine, table: Table, *criteria: Any) -> set[int]:
    with engine.connect() as connection:
        return set(connection.scalars(select(table.c.id).where(*criteria)))


def one_id(engine: Engine, table: Table, *criteria: Any) -> int:
    found = ids_where(engine, table, *criteria)
    assert len(found) == 1, (table.name, found)
    return found.pop()


def plan_id(engine: Engine) -> int:
    return one_id(engine, plans, plans.c.slug == PLAN_SLUG)


def policy_id(engine: Engine, number: int) -> int:
    return one_id(
        engine, policies, policies.c.plan_id == plan_id(engine), policies.c.number == number
    )


def measure_id(engine: Engine, policy_number: int, number: int) -> int:
    return one_id(
        engine,
        measures,
        measures.c.policy_id == policy_id(engine, policy_number),
        measures.c.number == number,
    )


def initiative_id(engine: Engine, code: str) -> int:
    return one_id(
        engine, initiatives, initiatives.c.plan_id == plan_id(engine), initiatives.c.code == code
    )


def report_id(engine: Engine) -> int:
    return one_id(
        engine, reports, reports.c.plan_id == plan_id(engine), reports.c.fiscal_year == REPORT_YEAR
    )


def evaluation_row(engine: Engine, initiative: int, year: int) -> dict[str, Any] | None:
    with engine.connect() as connection:
        found = (
            connection.execute(
                select(evaluations).where(
                    evaluations.c.initiative_id == initiative, evaluations.c.fiscal_year == year
                )
            )
            .mappings()
            .first()
        )
    return None if found is None else dict(found)


# --------------------------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------------------------


def error_locs(body: Item) -> list[list[Any]]:
    errors = body.get("errors")
    assert errors, body
    for error in errors:
        assert isinstance(error["msg"], str) and error["msg"]
        assert isinstance(error["type"], str) and error["type"]
    return [list(error["loc"]) for error in errors]


def assert_invalid(response: httpx.Response, field: str | None = None) -> Item:
    """422 as problem+json; when field is given, an error's loc ends in (or contains) it."""
    body = assert_problem(response, 422)
    locs = error_locs(body)
    if field is not None:
        assert any(field in loc for loc in locs), (field, locs)
    return body


def assert_json(response: httpx.Response, status: int) -> Item:
    assert response.status_code == status, response.text
    assert media_type(response) == "application/json"
    body: Item = response.json()
    return body


def post(api: Api, path: str, body: Item) -> Item:
    return assert_json(api.client.post(f"{API}{path}", json=body, headers=api.editor), 201)


def send_raw(api: Api, method: str, path: str, text: str | bytes) -> httpx.Response:
    """Send a JSON body as written (NaN, escapes, broken JSON), with a JSON content type."""
    content = text.encode("utf-8") if isinstance(text, str) else text
    response: httpx.Response = api.client.request(
        method,
        f"{API}{path}",
        content=content,
        headers={**api.editor, "Content-Type": "application/json"},
    )
    return response


@contextmanager
def case(name: object) -> Iterator[None]:
    """Name the case of a loop in its assertion message."""
    try:
        yield
    except AssertionError as error:
        raise AssertionError(f"case {name!r}: {error}") from error


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def get(api: Api, path: str) -> httpx.Response:
    response: httpx.Response = api.client.get(f"{API}{path}")
    return response


# --------------------------------------------------------------------------------------------
# Bodies of new rows under the seeded plan
# --------------------------------------------------------------------------------------------


def new_plan_body(slug: str = "toyama-2025-2028") -> Item:
    return {
        "slug": slug,
        "title": "富山市行政改革実施計画",
        "municipality_code": "162019",
        "municipality_name": "富山市",
        "philosophy": "市民とともに歩む行政経営",
        "start_fiscal_year": "令和7年度",
        "end_fiscal_year": "R10",
    }


def create_body(engine: Engine, kind: str) -> Item:
    """A valid POST body for a new row of `kind` in the seeded plan (no natural key taken)."""
    if kind == "plans":
        return new_plan_body()
    if kind == "policies":
        return {"plan_id": plan_id(engine), "number": 4, "title": "新しい基本方針"}
    if kind == "measures":
        return {"policy_id": policy_id(engine, 1), "number": 4, "title": "新しい施策"}
    if kind == "initiatives":
        return {"measure_id": measure_id(engine, 1, 1), "code": "R7-99", "title": "新しい取組"}
    if kind == "reports":
        return {"plan_id": plan_id(engine), "fiscal_year": 2025, "title": "令和7年度の達成率"}
    raise AssertionError(kind)


def make_other_plan(api: Api) -> tuple[int, int, int]:
    """Create a second plan with one policy and one measure; return their ids."""
    plan = post(api, "/plans", new_plan_body())
    policy = post(api, "/policies", {"plan_id": plan["id"], "number": 1, "title": "方針"})
    measure = post(api, "/measures", {"policy_id": policy["id"], "number": 1, "title": "施策"})
    return plan["id"], policy["id"], measure["id"]


@dataclass(frozen=True)
class Target:
    """A seeded row to PATCH: where it is, and a nullable text field to change."""

    kind: str  # the collection's path segment
    table: Table
    locate: Callable[[Engine], int]
    field: str


TARGETS = [
    Target("plans", plans, plan_id, "philosophy"),
    Target("policies", policies, lambda engine: policy_id(engine, 1), "focus"),
    Target("measures", measures, lambda engine: measure_id(engine, 1, 1), "title"),
    Target("initiatives", initiatives, lambda engine: initiative_id(engine, "R7-1"), "target_unit"),
    Target("reports", reports, report_id, "source"),
]


TARGET_IDS = [target.kind for target in TARGETS]


def path_of(target: Target, engine: Engine) -> str:
    return f"/{target.kind}/{target.locate(engine)}"


# If-Match cases, after one PATCH took the row from version `old` to `current`.
IF_MATCH = {
    "stale": ('"{id}.{old}"', 412),
    "current": ('"{id}.{current}"', 200),
    "star": ("*", 200),
    "weak current": ('W/"{id}.{current}"', 412),
    "absent": (None, 200),
    "list with current": ('"{id}.{old}", "{id}.{current}"', 200),
    # Not an entity tag at all: a malformed header is invalid input, not a stale version.
    "garbage": ("version-2", 422),
}


R7 = "R7-1"  # seeded for 2025 with no evaluation


R7_YEAR = SEED_INITIATIVES[R7]["fiscal_year"]


def evaluation_url(initiative: int, year: int | str) -> str:
    return f"{API}/initiatives/{initiative}/evaluations/{year}"
