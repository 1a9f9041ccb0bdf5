"""What the test_bulk_*.py modules share: constants from the seed, database and HTTP helpers.

Bulk uploads for staff scripts (issue 6), one module per section: export → import round trips,
the staff story, semantics, dry run, Idempotency-Key, set-based writes and limits. "Nothing
written" is shown by a snapshot of every table before and after. Expected values come from the
request, the seed file (seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md),
never from a response.
"""

import csv
import io
import json
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
from sqlalchemy import Engine, Table, func, select, text

from app.bulk import inflight
from app.models import (
    changes,
    data_version,
    evaluations,
    idempotency_keys,
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

JSON_TYPE = "application/json"
BOM = "\ufeff"
ORDINARY_BODY_LIMIT = 1024 * 1024  # API.md: ordinary writes up to 1 MiB
MAX_ROWS = 10_000  # API.md: at most 10,000 rows per request

MUNICIPALITY_CODE: str = SEED["plan"]["municipality_code"]
MUNICIPALITY_NAME: str = SEED["plan"]["municipality_name"]
STATUS_JA = {"achieved": "達成", "not_achieved": "未達成", "unconfirmed": "数値未確定"}


def natural(code: str) -> tuple[int, ...]:
    """API.md's natural order of codes: R6-7 before R6-10."""
    return tuple(int(number) for number in re.findall(r"\d+", code))


CODES = sorted(SEED_INITIATIVES, key=natural)  # the 18 initiatives, in export order
EVALUATED = [code for code in CODES if "evaluation" in SEED_INITIATIVES[code]]
SEED_EVALUATION_YEAR: int = SEED_INITIATIVES[EVALUATED[0]]["evaluation"]["fiscal_year"]

CONTENT: tuple[Table, ...] = (
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
# Everything a request could write: content, change log, stored keys and the data version.
EVERYTHING: tuple[Table, ...] = (*CONTENT, idempotency_keys, data_version)

Item = dict[str, Any]
Snapshot = dict[str, list[tuple[Any, ...]]]


# --------------------------------------------------------------------------------------------
# Database helpers
# --------------------------------------------------------------------------------------------


def seed_plan_id(engine: Engine) -> int:
    with engine.connect() as connection:
        found = connection.scalar(select(plans.c.id).where(plans.c.slug == PLAN_SLUG))
    assert isinstance(found, int)
    return found


def measure_id(engine: Engine, policy_number: int, measure_number: int) -> int:
    with engine.connect() as connection:
        found = connection.scalar(
            select(measures.c.id)
            .join(policies, policies.c.id == measures.c.policy_id)
            .where(
                policies.c.plan_id == seed_plan_id(engine),
                policies.c.number == policy_number,
                measures.c.number == measure_number,
            )
        )
    assert isinstance(found, int)
    return found


def initiative_row(engine: Engine, code: str, plan: int | None = None) -> Item:
    plan = seed_plan_id(engine) if plan is None else plan
    with engine.connect() as connection:
        found = (
            connection.execute(
                select(initiatives).where(initiatives.c.plan_id == plan, initiatives.c.code == code)
            )
            .mappings()
            .first()
        )
    assert found is not None, f"no initiative {code} in plan {plan}"
    return dict(found)


def evaluation_row(engine: Engine, code: str, year: int) -> Item | None:
    with engine.connect() as connection:
        found = (
            connection.execute(
                select(evaluations)
                .join(initiatives, initiatives.c.id == evaluations.c.initiative_id)
                .where(
                    initiatives.c.plan_id == seed_plan_id(engine),
                    initiatives.c.code == code,
                    evaluations.c.fiscal_year == year,
                )
            )
            .mappings()
            .first()
        )
    return None if found is None else dict(found)


def must_evaluation(engine: Engine, code: str, year: int) -> Item:
    found = evaluation_row(engine, code, year)
    assert found is not None, f"no evaluation of {code} for {year}"
    return found


def count(engine: Engine, table: Table, *criteria: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table).where(*criteria)) or 0)


def last_change(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.max(changes.c.id))) or 0)


def changes_after(engine: Engine, since: int) -> list[Item]:
    with engine.connect() as connection:
        return [
            dict(row)
            for row in connection.execute(
                select(changes).where(changes.c.id > since).order_by(changes.c.id)
            ).mappings()
        ]


def an_upload_holds_its_key(engine: Engine) -> bool:
    """Whether an upload holds the claim on its Idempotency-Key now (app/bulk/inflight.py):
    on PostgreSQL an advisory lock in this database; on SQLite a claim of this process, where
    the tests' app runs (its lock file's byte cannot be seen from the process holding it)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            return bool(
                connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                        " AND database = (SELECT oid FROM pg_database"
                        " WHERE datname = current_database())"
                    )
                )
            )
    return any(claims._held for claims in inflight._files.values())


def stored_keys(engine: Engine) -> list[Item]:
    with engine.connect() as connection:
        return [
            dict(row)
            for row in connection.execute(
                select(idempotency_keys).order_by(idempotency_keys.c.id)
            ).mappings()
        ]


def versions(engine: Engine, table: Table) -> dict[int, int]:
    with engine.connect() as connection:
        return {
            row.id: row.version for row in connection.execute(select(table.c.id, table.c.version))
        }


# --------------------------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------------------------


def json_bytes(items: Sequence[Item]) -> bytes:
    return json.dumps({"items": list(items)}, ensure_ascii=False).encode("utf-8")


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def csv_bytes(
    header: Sequence[str], rows: Sequence[Sequence[str]], encoding: str = "utf-8-sig"
) -> bytes:
    return csv_text(header, rows).encode(encoding)


def post_bulk(
    api: Api,
    table: str,
    body: bytes,
    content_type: str,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {**(api.editor if headers is None else headers), "Content-Type": content_type}
    response: httpx.Response = api.client.post(
        f"{API}/bulk/{table}{query}", content=body, headers=sent
    )
    return response


def send_json(
    api: Api,
    table: str,
    items: Sequence[Item],
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return post_bulk(api, table, json_bytes(items), JSON_TYPE, query=query, headers=headers)


def send_csv(
    api: Api,
    table: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return post_bulk(api, table, csv_bytes(header, rows), "text/csv", query=query, headers=headers)


def assert_result(
    response: httpx.Response,
    *,
    created: int = 0,
    updated: int = 0,
    unchanged: int = 0,
    dry_run: bool = False,
) -> Item:
    assert response.status_code == 200, response.text
    assert media_type(response) == JSON_TYPE
    body: Item = response.json()
    assert body["dry_run"] is dry_run
    assert (body["created"], body["updated"], body["unchanged"]) == (created, updated, unchanged)
    assert len(body["rows"]) == created + updated + unchanged
    assert [row["row"] for row in body["rows"]] == list(range(len(body["rows"])))
    return body


def assert_rows_invalid(response: httpx.Response, expected: dict[int, str]) -> Item:
    """422 listing exactly the rows of `expected`, each with an error at [row, field]."""
    body = assert_problem(response, 422)
    errors: list[Item] = body["errors"]
    assert {error["row"] for error in errors} == set(expected), errors
    for error in errors:
        assert error["loc"][0] == error["row"], error
        assert isinstance(error["msg"], str) and error["msg"], error
    for row, field in expected.items():
        assert [row, field] in [error["loc"] for error in errors], (row, field, errors)
    return body


def has_japanese(text: str) -> bool:
    return any("\u3040" <= char <= "\u30ff" or "\u4e00" <= char <= "\u9fff" for char in text)


def row_outcomes(codes: Sequence[str], action: str, year: int | None = None) -> list[Item]:
    extra = {} if year is None else {"fiscal_year": year}
    return [
        {"row": index, "code": code, **extra, "action": action} for index, code in enumerate(codes)
    ]


def rate(achieved: int, items: int) -> float:
    """PRODUCT.md: achieved / items x 100, half up to 0.1."""
    exact = Decimal(achieved * 100) / Decimal(items)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


KEY = "upload-2025-evaluations-0001"
CREATE_ONE = [{"code": "R7-1", "fiscal_year": 2025, "status": "achieved"}]


def with_key(api: Api, key: str = KEY, token: dict[str, str] | None = None) -> dict[str, str]:
    return {**(api.editor if token is None else token), "Idempotency-Key": key}


def new_initiative(code: str, index: int = 0, **fields: Any) -> Item:
    """A valid new initiative of the seeded plan; its measure cycles through the nine."""
    return {
        "code": code,
        "title": f"新しい取組 {code}",
        "policy_number": index % 3 + 1,
        "measure_number": index // 3 % 3 + 1,
        **fields,
    }
