"""Bulk uploads for staff scripts (issue 6): JSON and CSV upserts by code, all or nothing.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded one)
and checks what a staff script sees (status, body, headers) and what the database holds
afterwards: rows, versions, change-log entries, stored Idempotency-Keys. "Nothing written" is
shown by a snapshot of every table before and after. Expected values come from the request, the
seed file (seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a
response.
"""

import csv
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Table, event, func, select, update
from sqlmodel import Session

from app.auth.tokens import Role, create_token
from app.config import Settings
from app.db import begin_write
from app.main import create_app
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
from tests.conftest import Api, etag
from tests.helpers import SEED, assert_problem, media_type, snapshot

API = "/api/v1"
PROBLEM = "application/problem+json"
JSON_TYPE = "application/json"
BOM = "\ufeff"
ORDINARY_BODY_LIMIT = 1024 * 1024  # API.md: ordinary writes up to 1 MiB
MAX_ROWS = 10_000  # API.md: at most 10,000 rows per request

PLAN_SLUG: str = SEED["plan"]["slug"]
MUNICIPALITY_CODE: str = SEED["plan"]["municipality_code"]
MUNICIPALITY_NAME: str = SEED["plan"]["municipality_name"]
SEED_INITIATIVES: dict[str, dict[str, Any]] = {item["code"]: item for item in SEED["initiatives"]}
LABELS = {2023: "令和5年度", 2024: "令和6年度", 2025: "令和7年度", 2026: "令和8年度"}
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


# --------------------------------------------------------------------------------------------
# 1. Export → import: every row unchanged, nothing written
# --------------------------------------------------------------------------------------------

ROUND_TRIPS = {
    # name: (export query, Content-Type of the upload; None = as the export declared it)
    "ja, UTF-8 with BOM, undeclared": ("", "text/csv"),
    "ja, UTF-8 with BOM, as served": ("", None),
    "ja, UTF-8 without BOM, charset=utf-8": ("?bom=false", "text/csv; charset=utf-8"),
    "en headers": ("?header=en", "text/csv"),
    "en headers without BOM": ("?header=en&bom=false", "text/csv"),
    "CP932 undeclared (detected)": ("?encoding=cp932", "text/csv"),
    "CP932 as charset=Shift_JIS": ("?encoding=cp932", "text/csv; charset=Shift_JIS"),
    "CP932 as charset=cp932": ("?encoding=cp932", "text/csv; charset=cp932"),
    "CP932 as served": ("?encoding=cp932", None),
}


def expected_round_trip(table: str) -> list[Item]:
    if table == "initiatives":
        return row_outcomes(CODES, "unchanged")
    return row_outcomes(EVALUATED, "unchanged", SEED_EVALUATION_YEAR)


@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
@pytest.mark.parametrize("variant", list(ROUND_TRIPS))
def test_export_read_back_is_unchanged(api: Api, table: str, variant: str) -> None:
    query, content_type = ROUND_TRIPS[variant]
    exported = api.client.get(f"{API}/export/{table}.csv{query}")
    assert exported.status_code == 200, exported.text
    content = exported.content
    # The variant really is what it says.
    if "CP932" in variant:
        with pytest.raises(UnicodeDecodeError):
            content.decode("utf-8")
        text = content.decode("cp932")
    else:
        assert content.startswith(BOM.encode()) is ("without BOM" not in variant)
        text = content.decode("utf-8-sig")
    first = text.split("\r\n", 1)[0]
    assert first.startswith(
        "municipality_code" if "header=en" in query else "全国地方公共団体コード"
    )
    before = snapshot(api.engine, (*CONTENT, idempotency_keys))

    response = post_bulk(api, table, content, content_type or exported.headers["content-type"])

    expected = expected_round_trip(table)
    body = assert_result(response, unchanged=len(expected))
    assert body["rows"] == expected
    assert snapshot(api.engine, (*CONTENT, idempotency_keys)) == before


@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
def test_json_export_read_back_is_unchanged(api: Api, table: str) -> None:
    exported = api.client.get(f"{API}/export/{table}.json")
    assert exported.status_code == 200, exported.text
    before = snapshot(api.engine, (*CONTENT, idempotency_keys))

    response = send_json(api, table, exported.json())

    expected = expected_round_trip(table)
    assert assert_result(response, unchanged=len(expected))["rows"] == expected
    assert snapshot(api.engine, (*CONTENT, idempotency_keys)) == before


def test_upload_that_changes_nothing_keeps_cached_reads_valid(api: Api) -> None:
    """Nothing written means nothing for caches to notice: the data version (behind every
    list's ETag) stays, so a client's conditional GET still gets 304."""
    exported = api.client.get(f"{API}/export/evaluations.csv")
    listed = api.client.get(f"{API}/initiatives")
    etag = listed.headers["etag"]
    assert api.client.get(f"{API}/initiatives", headers={"If-None-Match": etag}).status_code == 304
    before = snapshot(api.engine, EVERYTHING)

    response = post_bulk(api, "evaluations", exported.content, "text/csv")

    assert_result(response, unchanged=len(EVALUATED))
    assert snapshot(api.engine, EVERYTHING) == before
    again = api.client.get(f"{API}/initiatives", headers={"If-None-Match": etag})
    assert again.status_code == 304


# --------------------------------------------------------------------------------------------
# 2. The staff story: a year's evaluations with one bad row, then fixed
# --------------------------------------------------------------------------------------------

STORY_HEADER = [
    "全国地方公共団体コード",
    "地方公共団体名",
    "計画",
    "取組番号",
    "年度",
    "年度（和暦）",
    "評価",
    "実績値",
    "実績",
    "出典",
]
STORY_YEAR = 2025
STORY_YEAR_FORMS = ["2025", "R7", "令和7年度"]
STORY_STATUSES = ["達成", "未達成", "数値未確定", ""]


def story_rows() -> list[list[str]]:
    """令和7年度 for all 18 initiatives: statuses in Japanese (some empty), the year written
    three ways, one narrative over two lines."""
    rows = []
    for index, code in enumerate(CODES):
        rows.append(
            [
                MUNICIPALITY_CODE,
                MUNICIPALITY_NAME,
                PLAN_SLUG,
                code,
                STORY_YEAR_FORMS[index % 3],
                LABELS[STORY_YEAR],
                STORY_STATUSES[index % 4],
                str(index * 10) if index % 2 else "",
                "1行目の実績\n2行目の実績" if index == 0 else f"{code}を実施しました",
                "令和7年度取組状況調査",
            ]
        )
    return rows


def line_of(rows: Sequence[Sequence[str]], index: int) -> int:
    """The CSV line where row `index` starts: the header is line 1; quoted cells may span lines."""
    return 2 + index + sum(cell.count("\n") for row in rows[:index] for cell in row)


STORY_STATUS_OF = {
    "達成": "achieved",
    "未達成": "not_achieved",
    "数値未確定": "unconfirmed",
    "": None,
}

BAD_ROWS = {
    # name: (row, column, bad value, field named in loc)
    "status 済": (5, "評価", "済", "status"),
    "unknown code": (9, "取組番号", "R7-999", "code"),
    "year outside the plan": (12, "年度", "令和9年度", "fiscal_year"),
    "actual value not a number": (15, "実績値", "十件", "actual_value"),
}


@pytest.mark.parametrize("bad", list(BAD_ROWS))
def test_staff_story_one_bad_row_then_fixed(api: Api, bad: str) -> None:
    index, column, value, field = BAD_ROWS[bad]
    rows = story_rows()
    broken = [list(row) for row in rows]
    broken[index][STORY_HEADER.index(column)] = value
    body = csv_bytes(STORY_HEADER, broken)
    before = snapshot(api.engine, EVERYTHING)
    stats_before = api.client.get(f"{API}/stats/achievement?fiscal_year={STORY_YEAR}").json()
    assert stats_before["total"]["items"] == 0
    assert stats_before["total"]["not_evaluated"] == len(CODES)

    english = post_bulk(api, "evaluations", body, "text/csv", headers=with_key(api))
    japanese = post_bulk(
        api, "evaluations", body, "text/csv", headers={**api.editor, "Accept-Language": "ja"}
    )

    for response in (english, japanese):
        problem = assert_rows_invalid(response, {index: field})
        for error in problem["errors"]:
            assert error["line"] == line_of(rows, index)
    assert has_japanese(japanese.json()["detail"])
    english_messages = [error["msg"] for error in english.json()["errors"]]
    japanese_messages = [error["msg"] for error in japanese.json()["errors"]]
    assert all(map(has_japanese, japanese_messages)), japanese_messages
    assert japanese_messages != english_messages
    assert snapshot(api.engine, EVERYTHING) == before

    since = last_change(api.engine)
    # Fixed, and sent with the same Idempotency-Key: the 422 was not kept.
    fixed = post_bulk(
        api, "evaluations", csv_bytes(STORY_HEADER, rows), "text/csv", headers=with_key(api)
    )

    result = assert_result(fixed, created=len(CODES))
    assert result["rows"] == row_outcomes(CODES, "created", STORY_YEAR)
    for code, row in zip(CODES, rows, strict=True):
        stored = must_evaluation(api.engine, code, STORY_YEAR)
        assert stored["status"] == STORY_STATUS_OF[row[6]]
        assert stored["actual_value"] == (float(row[7]) if row[7] else None)
        assert stored["result"] == row[8]
        assert stored["source"] == row[9]
        assert stored["version"] == 1
    assert len(changes_after(api.engine, since)) == len(CODES)
    # The network dropped before the answer arrived: the retry cannot apply it twice.
    after_upload = snapshot(api.engine, EVERYTHING)
    retry = post_bulk(
        api, "evaluations", csv_bytes(STORY_HEADER, rows), "text/csv", headers=with_key(api)
    )
    assert (retry.status_code, retry.content) == (200, fixed.content)
    assert snapshot(api.engine, EVERYTHING) == after_upload

    statuses = [STORY_STATUS_OF[row[6]] for row in rows]
    achieved = statuses.count("achieved")
    with_status = sum(status is not None for status in statuses)
    stats = api.client.get(f"{API}/stats/achievement?fiscal_year={STORY_YEAR}")
    assert stats.status_code == 200, stats.text
    total = stats.json()["total"]
    assert total == total | {
        "items": with_status,
        "achieved": achieved,
        "not_achieved": statuses.count("not_achieved"),
        "unconfirmed": statuses.count("unconfirmed"),
        "no_status": statuses.count(None),
        "not_evaluated": 0,
        "rate": rate(achieved, with_status),
    }


def test_one_bad_row_among_a_thousand_writes_nothing(api: Api) -> None:
    header = ["code", "title", "policy_number", "measure_number", "fiscal_year"]
    rows = [
        [f"R7-{1000 + index}", f"取組 {index}", str(index % 3 + 1), str(index % 3 + 1), "R7"]
        for index in range(1000)
    ]
    bad = 637
    broken = [list(row) for row in rows]
    broken[bad][2] = "4"  # there is no policy 4
    before = snapshot(api.engine, EVERYTHING)

    response = send_csv(api, "initiatives", header, broken)

    problem = assert_rows_invalid(response, {bad: "measure_number"})
    assert {error["line"] for error in problem["errors"]} == {bad + 2}
    assert snapshot(api.engine, EVERYTHING) == before

    fixed = send_csv(api, "initiatives", header, rows)

    assert_result(fixed, created=1000)
    assert count(api.engine, initiatives) == len(CODES) + 1000


@pytest.mark.parametrize("declared", [None, "Shift_JIS"])
def test_cp932_upload_writes_its_text(api: Api, declared: str | None) -> None:
    rows = [
        ["R7-1", "令和7年度", "達成", "市民パスポートで避難所受付を実施"],
        ["R7-10", "令和7年度", "数値未確定", "通学路マップ（第２版）を公開"],
    ]
    body = csv_bytes(["取組番号", "年度", "評価", "実績"], rows, encoding="cp932")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    content_type = "text/csv" if declared is None else f"text/csv; charset={declared}"

    response = post_bulk(api, "evaluations", body, content_type)

    assert_result(response, created=2)
    first = must_evaluation(api.engine, "R7-1", 2025)
    second = must_evaluation(api.engine, "R7-10", 2025)
    assert (first["status"], first["result"]) == ("achieved", rows[0][3])
    assert (second["status"], second["result"]) == ("unconfirmed", rows[1][3])


# --------------------------------------------------------------------------------------------
# 3. Semantics: keys, absent and empty columns, derived columns, measures, new rows
# --------------------------------------------------------------------------------------------

YEAR_FORMS: list[Any] = [2024, "2024", "R6", "r6", "令和6", "令和6年度", "令和６年度", "㋿6"]


@pytest.mark.parametrize("form", YEAR_FORMS, ids=str)
def test_evaluations_match_on_code_and_year_in_any_form(api: Api, form: Any) -> None:
    seeded = must_evaluation(api.engine, "R6-7", 2024)
    total = count(api.engine, evaluations)

    response = send_json(
        api, "evaluations", [{"code": "Ｒ６－７", "fiscal_year": form, "actual_value": 12.5}]
    )

    body = assert_result(response, updated=1)
    assert body["rows"] == [{"row": 0, "code": "R6-7", "fiscal_year": 2024, "action": "updated"}]
    stored = must_evaluation(api.engine, "R6-7", 2024)
    assert stored["id"] == seeded["id"]
    assert stored["actual_value"] == 12.5
    assert stored["version"] == seeded["version"] + 1
    assert count(api.engine, evaluations) == total


def test_initiatives_match_on_code_in_any_width(api: Api) -> None:
    before = initiative_row(api.engine, "R7-1")
    total = count(api.engine, initiatives)

    response = send_json(api, "initiatives", [{"code": "Ｒ７－１", "plan_page": 99}])

    assert assert_result(response, updated=1)["rows"] == row_outcomes(["R7-1"], "updated")
    after = initiative_row(api.engine, "R7-1")
    assert (after["id"], after["plan_page"]) == (before["id"], 99)
    assert count(api.engine, initiatives) == total


def test_csv_absent_column_leaves_field_and_empty_cell_clears_it(api: Api) -> None:
    before = initiative_row(api.engine, "R7-1")
    assert before["description"] and before["plan_page"]
    since = last_change(api.engine)

    # No 内容 column: the description stays. 掲載ページ empty: the page is cleared.
    response = send_csv(
        api,
        "initiatives",
        ["取組番号", "取組事項", "掲載ページ"],
        [
            ["R7-1", "新しい名称", ""],
        ],
    )

    assert_result(response, updated=1)
    after = initiative_row(api.engine, "R7-1")
    assert after["title"] == "新しい名称"
    assert after["plan_page"] is None
    assert after["description"] == before["description"]
    assert after["measure_id"] == before["measure_id"]
    assert after["numeric_target"] == before["numeric_target"]
    (entry,) = changes_after(api.engine, since)
    assert entry["changes"] == {
        "title": [before["title"], "新しい名称"],
        "plan_page": [before["plan_page"], None],
    }


def test_csv_evaluation_absent_and_empty_columns(api: Api) -> None:
    before = must_evaluation(api.engine, "R6-7", 2024)
    assert before["status"] == "achieved" and before["result"] and before["source"]

    response = send_csv(
        api,
        "evaluations",
        ["取組番号", "年度", "実績値", "出典"],
        [
            ["R6-7", "令和6年度", "3", ""],
        ],
    )

    assert_result(response, updated=1)
    after = must_evaluation(api.engine, "R6-7", 2024)
    assert (after["status"], after["result"]) == (before["status"], before["result"])
    assert (after["actual_value"], after["source"]) == (3.0, None)


def test_json_key_left_out_leaves_field_null_clears_it(api: Api) -> None:
    before = initiative_row(api.engine, "R7-1")
    evaluation_before = must_evaluation(api.engine, "R6-7", 2024)

    first = send_json(api, "initiatives", [{"code": "R7-1", "description": None}])
    second = send_json(api, "evaluations", [{"code": "R6-7", "fiscal_year": 2024, "result": None}])

    assert_result(first, updated=1)
    assert_result(second, updated=1)
    after = initiative_row(api.engine, "R7-1")
    assert after["description"] is None
    assert {name: after[name] for name in ("title", "plan_page", "measure_id", "fiscal_year")} == {
        name: before[name] for name in ("title", "plan_page", "measure_id", "fiscal_year")
    }
    evaluation_after = must_evaluation(api.engine, "R6-7", 2024)
    assert evaluation_after["result"] is None
    assert evaluation_after["status"] == evaluation_before["status"]
    assert evaluation_after["source"] == evaluation_before["source"]


@pytest.mark.parametrize("field", ["title", "numeric_target", "measure_id"])
def test_null_for_a_required_initiative_field_is_refused(api: Api, field: str) -> None:
    """null clears a field; a field that cannot be empty is refused, not silently kept."""
    before = snapshot(api.engine, EVERYTHING)

    response = send_json(api, "initiatives", [{"code": "R7-1", field: None}])

    assert_rows_invalid(response, {0: field})
    assert snapshot(api.engine, EVERYTHING) == before


# Derived columns: empty is fine, equal is fine, anything else → 422.
DERIVED = {
    # field: (Japanese column, right value for the row sent, a wrong value)
    "municipality_code": ("全国地方公共団体コード", MUNICIPALITY_CODE, "172015"),
    "municipality_name": ("地方公共団体名", MUNICIPALITY_NAME, "富山市"),
    "plan_slug": ("計画", PLAN_SLUG, "toyama-2025-2028"),
    "fiscal_year_label": ("年度（和暦）", None, "令和8年度"),
}
KEY_COLUMNS = {
    "initiatives": (["取組番号"], ["R7-1"]),
    "evaluations": (["取組番号", "年度"], ["R6-7", "2024"]),
}
ROW_YEAR = {"initiatives": 2025, "evaluations": 2024}


def derived_value(field: str, table: str) -> str:
    right = DERIVED[field][1]
    return LABELS[ROW_YEAR[table]] if right is None else right


@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
@pytest.mark.parametrize("filled", [False, True], ids=["empty", "equal"])
def test_derived_columns_empty_or_equal_are_accepted(api: Api, table: str, filled: bool) -> None:
    names, key = KEY_COLUMNS[table]
    header = [*names, *(DERIVED[field][0] for field in DERIVED)]
    cells = [derived_value(field, table) if filled else "" for field in DERIVED]
    before = snapshot(api.engine, (*CONTENT, idempotency_keys))

    response = send_csv(api, table, header, [[*key, *cells]])

    assert_result(response, unchanged=1)
    assert snapshot(api.engine, (*CONTENT, idempotency_keys)) == before


@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
@pytest.mark.parametrize("field", list(DERIVED))
@pytest.mark.parametrize("form", ["csv", "json"])
def test_derived_column_mismatch_is_refused(api: Api, table: str, field: str, form: str) -> None:
    names, key = KEY_COLUMNS[table]
    wrong = DERIVED[field][2]
    before = snapshot(api.engine, EVERYTHING)

    if form == "csv":
        response = send_csv(api, table, [*names, DERIVED[field][0]], [[*key, wrong]])
    else:
        item: Item = {"code": key[0], field: wrong}
        if table == "evaluations":
            item["fiscal_year"] = key[1]
        response = send_json(api, table, [item])

    assert_rows_invalid(response, {0: field})
    assert snapshot(api.engine, EVERYTHING) == before


UNKNOWN_COLUMNS = {
    "initiatives": ["備考", "remarks", "評価", "達成率"],
    "evaluations": ["備考", "remarks", "施策ID", "取組事項"],
}


@pytest.mark.parametrize(
    ("table", "column"),
    [(table, column) for table, columns in UNKNOWN_COLUMNS.items() for column in columns],
)
def test_csv_unknown_column_is_refused(api: Api, table: str, column: str) -> None:
    names, key = KEY_COLUMNS[table]
    before = snapshot(api.engine, EVERYTHING)

    response = send_csv(api, table, [*names, column], [[*key, "x"]])

    body = assert_problem(response, 422)
    assert any(column in error["msg"] for error in body["errors"]), body
    assert snapshot(api.engine, EVERYTHING) == before


@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
def test_json_unknown_field_is_refused(api: Api, table: str) -> None:
    item: Item = {"code": "R6-7", "fiscal_year": 2024, "remarks": "x"}
    if table == "initiatives":
        del item["fiscal_year"]
    before = snapshot(api.engine, EVERYTHING)

    response = send_json(api, table, [item])

    assert_rows_invalid(response, {0: "remarks"})
    assert snapshot(api.engine, EVERYTHING) == before


MEASURE_WAYS = {
    "by numbers (JSON)": "json-numbers",
    "by measure_id (JSON)": "json-id",
    "by numbers and measure_id agreeing": "json-both",
    "by 基本方針番号 + 施策番号 (CSV)": "csv-numbers",
    "by 施策ID (CSV)": "csv-id",
}


@pytest.mark.parametrize("way", list(MEASURE_WAYS.values()), ids=list(MEASURE_WAYS))
def test_measure_named_by_numbers_or_id(api: Api, way: str) -> None:
    target = measure_id(api.engine, 2, 3)
    before = initiative_row(api.engine, "R7-1")
    assert before["measure_id"] != target
    since = last_change(api.engine)

    if way == "json-numbers":
        response = send_json(
            api, "initiatives", [{"code": "R7-1", "policy_number": 2, "measure_number": 3}]
        )
    elif way == "json-id":
        response = send_json(api, "initiatives", [{"code": "R7-1", "measure_id": target}])
    elif way == "json-both":
        item = {"code": "R7-1", "policy_number": 2, "measure_number": 3, "measure_id": target}
        response = send_json(api, "initiatives", [item])
    elif way == "csv-numbers":
        response = send_csv(
            api,
            "initiatives",
            ["取組番号", "基本方針番号", "施策番号"],
            [
                ["R7-1", "2", "3"],
            ],
        )
    else:
        response = send_csv(api, "initiatives", ["取組番号", "施策ID"], [["R7-1", str(target)]])

    assert_result(response, updated=1)
    after = initiative_row(api.engine, "R7-1")
    assert after["measure_id"] == target
    assert after["version"] == before["version"] + 1
    (entry,) = changes_after(api.engine, since)
    assert entry["changes"] == {"measure_id": [before["measure_id"], target]}


BAD_MEASURES: dict[str, tuple[Item, str]] = {
    "no such numbers": ({"policy_number": 4, "measure_number": 1}, "measure_number"),
    "policy number alone": ({"policy_number": 2}, "measure_number"),
    "unknown measure_id": ({"measure_id": 999_999}, "measure_id"),
    "numbers and id disagree": (
        {"policy_number": 1, "measure_number": 1, "measure_id": "<2-3>"},
        "measure_id",
    ),
}


@pytest.mark.parametrize("case", list(BAD_MEASURES))
def test_bad_measure_is_refused(api: Api, case: str) -> None:
    fields, field = BAD_MEASURES[case]
    item: Item = {"code": "R7-1", **fields}
    if item.get("measure_id") == "<2-3>":
        item["measure_id"] = measure_id(api.engine, 2, 3)
    before = snapshot(api.engine, EVERYTHING)

    response = send_json(api, "initiatives", [{"code": "R7-10", "title": "正しい行"}, item])

    assert_rows_invalid(response, {1: field})
    assert snapshot(api.engine, EVERYTHING) == before


def make_other_plan(api: Api) -> tuple[int, int]:
    """A second plan (富山市) with policy 1 and its measure 1, made through the API."""
    plan = api.client.post(
        f"{API}/plans",
        json={
            "slug": "toyama-2025-2028",
            "title": "富山市行政改革実施計画",
            "municipality_code": "162019",
            "municipality_name": "富山市",
            "start_fiscal_year": "令和7年度",
            "end_fiscal_year": "R10",
        },
        headers=api.editor,
    )
    assert plan.status_code == 201, plan.text
    plan_id: int = plan.json()["id"]
    policy = api.client.post(
        f"{API}/policies",
        json={"plan_id": plan_id, "number": 1, "title": "市民サービスの向上"},
        headers=api.editor,
    )
    assert policy.status_code == 201, policy.text
    measure = api.client.post(
        f"{API}/measures",
        json={"policy_id": policy.json()["id"], "number": 1, "title": "窓口のデジタル化"},
        headers=api.editor,
    )
    assert measure.status_code == 201, measure.text
    other_measure: int = measure.json()["id"]
    return plan_id, other_measure


def test_another_plans_measure_is_refused_and_plans_are_kept_apart(api: Api) -> None:
    other_plan, other_measure = make_other_plan(api)
    kanazawa = seed_plan_id(api.engine)
    before = snapshot(api.engine, EVERYTHING)

    by_id = send_json(
        api,
        "initiatives",
        [{"code": "R7-1", "measure_id": other_measure}],
        query=f"?plan_id={kanazawa}",
    )
    new_by_id = send_json(
        api,
        "initiatives",
        [new_initiative("R7-80") | {"measure_id": other_measure}],
        query=f"?plan_id={kanazawa}",
    )
    # Policy 2 exists only in Kanazawa's plan.
    wrong_numbers = send_json(
        api,
        "initiatives",
        [new_initiative("R7-1", policy_number=2, measure_number=1)],
        query=f"?plan_id={other_plan}",
    )
    # R6-7 is Kanazawa's: Toyama has no such initiative to evaluate.
    evaluation = send_json(
        api,
        "evaluations",
        [{"code": "R6-7", "fiscal_year": 2025, "status": "achieved"}],
        query=f"?plan_id={other_plan}",
    )
    # With two plans, plan_id may not be left out.
    unnamed = send_json(api, "initiatives", [{"code": "R7-1", "plan_page": 1}])

    assert_rows_invalid(by_id, {0: "measure_id"})
    assert_rows_invalid(new_by_id, {0: "measure_id"})
    assert_rows_invalid(wrong_numbers, {0: "measure_number"})
    assert_rows_invalid(evaluation, {0: "code"})
    assert_problem(unnamed, 422)
    assert snapshot(api.engine, EVERYTHING) == before

    # The same code in the other plan is another initiative, under that plan's measure.
    created = send_json(
        api,
        "initiatives",
        [new_initiative("R7-1", policy_number=1, measure_number=1)],
        query=f"?plan_id={other_plan}",
    )

    assert_result(created, created=1)
    toyama = initiative_row(api.engine, "R7-1", other_plan)
    assert (toyama["measure_id"], toyama["fiscal_year"]) == (other_measure, 2025)
    assert [
        row for row in snapshot(api.engine, EVERYTHING)["initiatives"] if row[0] != toyama["id"]
    ] == before["initiatives"]


NEW_ROW_ERRORS: dict[str, tuple[Item, str]] = {
    "no title": ({"code": "R7-50", "policy_number": 1, "measure_number": 1}, "title"),
    "empty title": (new_initiative("R7-50", title=""), "title"),
    "no measure": ({"code": "R7-50", "title": "新しい取組"}, "measure_id"),
    "code year disagrees": (new_initiative("R7-50", fiscal_year=2024), "fiscal_year"),
    "code without year, no fiscal_year": (new_initiative("DX-1"), "fiscal_year"),
    "fiscal year not a year": (new_initiative("DX-1", fiscal_year="来年度"), "fiscal_year"),
    "bad code": (new_initiative("R7_50"), "code"),
    "existing code, year disagrees": ({"code": "R6-7", "fiscal_year": "R7"}, "fiscal_year"),
}


@pytest.mark.parametrize("case", list(NEW_ROW_ERRORS))
def test_invalid_initiative_row_is_refused(api: Api, case: str) -> None:
    item, field = NEW_ROW_ERRORS[case]
    before = snapshot(api.engine, EVERYTHING)

    response = send_json(api, "initiatives", [new_initiative("R7-51"), item])

    assert_rows_invalid(response, {1: field})
    assert snapshot(api.engine, EVERYTHING) == before


NEW_ROWS: dict[str, tuple[Item, str, int]] = {
    # name: (item, stored code, stored fiscal year)
    "R7 code": (new_initiative("R7-50"), "R7-50", 2025),
    "R7 code with agreeing 令和7年度": (
        new_initiative("R7-50", fiscal_year="令和7年度"),
        "R7-50",
        2025,
    ),
    "full-width code": (new_initiative("Ｒ７－５０"), "R7-50", 2025),
    "other code with R8": (new_initiative("DX-1", fiscal_year="R8"), "DX-1", 2026),
}


@pytest.mark.parametrize("case", list(NEW_ROWS))
def test_new_initiative_is_created(api: Api, case: str) -> None:
    item, code, year = NEW_ROWS[case]
    since = last_change(api.engine)

    response = send_json(api, "initiatives", [item])

    assert assert_result(response, created=1)["rows"] == row_outcomes([code], "created")
    stored = initiative_row(api.engine, code)
    assert stored["fiscal_year"] == year
    assert stored["title"] == item["title"]
    assert stored["measure_id"] == measure_id(api.engine, 1, 1)
    assert (stored["description"], stored["plan_page"], stored["numeric_target"]) == (
        None,
        None,
        False,
    )
    assert stored["version"] == 1
    (entry,) = changes_after(api.engine, since)
    assert (entry["actor"], entry["action"], entry["entity"], entry["entity_id"]) == (
        "editor",
        "create",
        "initiative",
        stored["id"],
    )
    assert entry["changes"]["code"] == [None, code]
    assert entry["changes"]["title"] == [None, item["title"]]


def test_same_initiative_twice_names_both_rows(api: Api) -> None:
    before = snapshot(api.engine, EVERYTHING)

    response = send_json(
        api,
        "initiatives",
        [{"code": "R7-1", "plan_page": 1}, {"code": "R7-10", "plan_page": 2}, {"code": "Ｒ７－１"}],
    )

    body = assert_rows_invalid(response, {0: "code", 2: "code"})
    for error in body["errors"]:
        assert re.search(r"\b0\b", error["msg"]) and re.search(r"\b2\b", error["msg"]), error
    assert snapshot(api.engine, EVERYTHING) == before


def test_same_evaluation_twice_names_both_rows(api: Api) -> None:
    before = snapshot(api.engine, EVERYTHING)

    response = send_csv(
        api,
        "evaluations",
        ["取組番号", "年度", "評価"],
        [
            ["R6-7", "2024", "達成"],
            ["R6-10", "2024", "達成"],
            ["R6-7", "令和6年度", "未達成"],
        ],
    )

    body = assert_rows_invalid(response, {0: "code", 2: "code"})
    assert sorted(error["line"] for error in body["errors"]) == [2, 4]
    assert snapshot(api.engine, EVERYTHING) == before


def test_same_code_in_two_years_is_two_evaluations(api: Api) -> None:
    response = send_json(
        api,
        "evaluations",
        [
            {"code": "R6-7", "fiscal_year": 2024, "status": "achieved"},
            {"code": "R6-7", "fiscal_year": 2025, "status": "not_achieved"},
        ],
    )

    body = assert_result(response, created=1, unchanged=1)
    assert [row["action"] for row in body["rows"]] == ["unchanged", "created"]
    assert must_evaluation(api.engine, "R6-7", 2025)["status"] == "not_achieved"


STATUS_VALUES = [
    ("達成", "achieved"),
    ("未達成", "not_achieved"),
    ("数値未確定", "unconfirmed"),
    ("achieved", "achieved"),
    ("not_achieved", "not_achieved"),
    ("unconfirmed", "unconfirmed"),
]


@pytest.mark.parametrize(("sent", "stored"), STATUS_VALUES)
@pytest.mark.parametrize("form", ["csv", "json"])
def test_status_values(api: Api, sent: str, stored: str, form: str) -> None:
    if form == "csv":
        response = send_csv(
            api, "evaluations", ["取組番号", "年度", "評価"], [["R7-1", "R7", sent]]
        )
    else:
        response = send_json(
            api, "evaluations", [{"code": "R7-1", "fiscal_year": "R7", "status": sent}]
        )

    assert_result(response, created=1)
    assert must_evaluation(api.engine, "R7-1", 2025)["status"] == stored


@pytest.mark.parametrize("sent", ["済", "達成済", "ACHIEVED", "done"])
def test_unknown_status_is_refused(api: Api, sent: str) -> None:
    before = snapshot(api.engine, EVERYTHING)

    response = send_csv(
        api,
        "evaluations",
        ["取組番号", "年度", "評価"],
        [
            ["R7-1", "R7", "達成"],
            ["R7-10", "R7", sent],
        ],
    )

    assert_rows_invalid(response, {1: "status"})
    assert snapshot(api.engine, EVERYTHING) == before


def test_every_bad_row_is_listed(api: Api) -> None:
    before = snapshot(api.engine, EVERYTHING)

    response = send_csv(
        api,
        "evaluations",
        ["取組番号", "年度", "評価", "実績値"],
        [
            ["R6-7", "2024", "済", ""],
            ["R6-10", "2024", "達成", ""],
            ["R6-13", "2031", "達成", ""],
            ["R6-19", "2024", "達成", "abc"],
            ["NO-SUCH", "2024", "達成", ""],
        ],
    )

    body = assert_rows_invalid(
        response, {0: "status", 2: "fiscal_year", 3: "actual_value", 4: "code"}
    )
    assert {error["row"]: error["line"] for error in body["errors"]} == {0: 2, 2: 4, 3: 5, 4: 6}
    assert snapshot(api.engine, EVERYTHING) == before


@pytest.mark.parametrize("form", ["csv", "json"])
def test_malformed_row_is_named_by_row(api: Api, form: str) -> None:
    """A CSV line with a cell too many, or a JSON item that is not an object, is still
    reported with its row (and line), as every bulk error is (API.md)."""
    before = snapshot(api.engine, EVERYTHING)

    if form == "csv":
        response = send_csv(
            api,
            "evaluations",
            ["取組番号", "年度", "評価"],
            [["R7-1", "R7", "達成"], ["R7-10", "R7", "達成", "余分"]],
        )
    else:
        items: list[Any] = [CREATE_ONE[0], "R7-10"]
        response = post_bulk(api, "evaluations", json.dumps({"items": items}).encode(), JSON_TYPE)

    body = assert_problem(response, 422)
    found = [(error.get("row"), error.get("line")) for error in body["errors"]]
    assert found == [(1, 3 if form == "csv" else None)], body
    assert snapshot(api.engine, EVERYTHING) == before


ACCEPT_LANGUAGES: dict[str, bool] = {
    "ja": True,
    "ja-JP,ja;q=0.9": True,
    "en;q=0.5, ja": True,
    "": False,
    "en": False,
    "en-US,ja;q=0.5": False,
}


@pytest.mark.parametrize("accept", list(ACCEPT_LANGUAGES))
def test_messages_follow_accept_language(api: Api, accept: str) -> None:
    japanese = ACCEPT_LANGUAGES[accept]
    headers = {**api.editor, **({"Accept-Language": accept} if accept else {})}

    response = send_json(
        api,
        "evaluations",
        [{"code": "R7-1", "fiscal_year": "R7", "status": "済"}],
        headers=headers,
    )

    body = assert_rows_invalid(response, {0: "status"})
    assert has_japanese(body["detail"]) is japanese, body
    assert [has_japanese(error["msg"]) for error in body["errors"]] == [japanese], body


# --------------------------------------------------------------------------------------------
# 4. Dry run: the same answer as the real run, nothing written
# --------------------------------------------------------------------------------------------


def mixed_upload(table: str, *, broken: bool = False) -> tuple[bytes, str]:
    """A body with a created, an updated and an unchanged row (and a bad one if broken)."""
    if table == "initiatives":
        items: list[Item] = [
            {"code": "R7-1", "title": "避難所受付のデジタル化"},
            {"code": "R7-10", "title": SEED_INITIATIVES["R7-10"]["title"]},
            new_initiative("R7-50"),
        ]
        if broken:
            items.append({"code": "R7-51", "title": "測定なし"})
        return json_bytes(items), JSON_TYPE
    rows = [["R6-7", "2024", "未達成"], ["R6-10", "令和6年度", "達成"], ["R7-1", "R7", "達成"]]
    if broken:
        rows.append(["R7-10", "R7", "済"])
    return csv_bytes(["取組番号", "年度", "評価"], rows), "text/csv"


@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
def test_dry_run_answers_as_the_real_run_and_writes_nothing(api: Api, table: str) -> None:
    body, content_type = mixed_upload(table)
    before = snapshot(api.engine, EVERYTHING)

    dry = post_bulk(api, table, body, content_type, query="?dry_run=true")

    dry_answer = assert_result(dry, created=1, updated=1, unchanged=1, dry_run=True)
    assert snapshot(api.engine, EVERYTHING) == before

    real = post_bulk(api, table, body, content_type)

    real_answer = assert_result(real, created=1, updated=1, unchanged=1)
    assert {**dry_answer, "dry_run": False} == real_answer
    assert [row["action"] for row in real_answer["rows"]] == ["updated", "unchanged", "created"]
    after = snapshot(api.engine, EVERYTHING)
    assert after[table] != before[table]
    assert len(after["changes"]) == len(before["changes"]) + 2


@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
def test_invalid_dry_run_answers_the_same_422(api: Api, table: str) -> None:
    body, content_type = mixed_upload(table, broken=True)
    before = snapshot(api.engine, EVERYTHING)

    dry = post_bulk(api, table, body, content_type, query="?dry_run=true")
    real = post_bulk(api, table, body, content_type)

    assert_rows_invalid(dry, {3: "measure_id" if table == "initiatives" else "status"})
    assert dry.json() == real.json()
    assert real.status_code == dry.status_code
    assert snapshot(api.engine, EVERYTHING) == before


# --------------------------------------------------------------------------------------------
# 5. Idempotency-Key
# --------------------------------------------------------------------------------------------


def test_retry_with_same_key_replays_without_writing(api: Api) -> None:
    body = json_bytes(CREATE_ONE)

    first = post_bulk(api, "evaluations", body, JSON_TYPE, headers=with_key(api))

    first_answer = assert_result(first, created=1)
    (stored,) = stored_keys(api.engine)
    assert (stored["key"], stored["response_status"]) == (KEY, 200)
    assert json.loads(stored["response_body"]) == first_answer
    assert stored["expires_at"].replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(hours=23)
    after_first = snapshot(api.engine, EVERYTHING)

    retry = post_bulk(api, "evaluations", body, JSON_TYPE, headers=with_key(api))

    # The replay: the first answer ("created"), not a second run's ("unchanged").
    assert retry.status_code == 200
    assert media_type(retry) == JSON_TYPE
    assert retry.content == first.content
    assert snapshot(api.engine, EVERYTHING) == after_first

    without_key = post_bulk(api, "evaluations", body, JSON_TYPE)

    assert_result(without_key, unchanged=1)


def test_same_key_with_another_body_is_refused(api: Api) -> None:
    first = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))
    assert_result(first, created=1)
    after_first = snapshot(api.engine, EVERYTHING)

    other = send_json(
        api,
        "evaluations",
        [{"code": "R7-1", "fiscal_year": 2025, "status": "not_achieved"}],
        headers=with_key(api),
    )

    body = assert_problem(other, 422)
    assert ["header", "Idempotency-Key"] in [error["loc"] for error in body["errors"]]
    assert snapshot(api.engine, EVERYTHING) == after_first
    assert must_evaluation(api.engine, "R7-1", 2025)["status"] == "achieved"


SCOPES = {
    # name: (path, query, token, items)
    "another path": ("initiatives", "", "editor", [{"code": "R7-1", "plan_page": 7}]),
    "another query": ("evaluations", "?plan_id={plan}", "editor", CREATE_ONE),
    "another token": ("evaluations", "", "admin", CREATE_ONE),
}


@pytest.mark.parametrize("scope", list(SCOPES))
def test_same_key_in_another_scope_is_independent(api: Api, scope: str) -> None:
    table, query, token, items = SCOPES[scope]
    first = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))
    assert_result(first, created=1)
    query = query.format(plan=seed_plan_id(api.engine))

    other = send_json(
        api,
        table,
        items,
        query=query,
        headers=with_key(api, token=api.admin if token == "admin" else api.editor),
    )

    # A real run of its own: R7-1's page changes, or the evaluation is already there.
    if table == "initiatives":
        assert_result(other, updated=1)
        assert initiative_row(api.engine, "R7-1")["plan_page"] == 7
    else:
        assert_result(other, unchanged=1)
    assert len(stored_keys(api.engine)) == 2
    again = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))
    assert again.content == first.content


def test_error_answer_is_not_stored_and_fixed_body_succeeds(api: Api) -> None:
    broken = [*CREATE_ONE, {"code": "R7-10", "fiscal_year": 2025, "status": "済"}]
    fixed = [*CREATE_ONE, {"code": "R7-10", "fiscal_year": 2025, "status": "unconfirmed"}]
    before = snapshot(api.engine, EVERYTHING)

    refused = send_json(api, "evaluations", broken, headers=with_key(api))

    assert_rows_invalid(refused, {1: "status"})
    assert snapshot(api.engine, EVERYTHING) == before
    assert stored_keys(api.engine) == []

    accepted = send_json(api, "evaluations", fixed, headers=with_key(api))

    assert_result(accepted, created=2)
    assert [key["key"] for key in stored_keys(api.engine)] == [KEY]
    assert must_evaluation(api.engine, "R7-10", 2025)["status"] == "unconfirmed"
    replay = send_json(api, "evaluations", fixed, headers=with_key(api))
    assert replay.content == accepted.content


def test_dry_run_is_not_stored(api: Api) -> None:
    before = snapshot(api.engine, EVERYTHING)

    dry = send_json(api, "evaluations", CREATE_ONE, query="?dry_run=true", headers=with_key(api))

    assert_result(dry, created=1, dry_run=True)
    assert snapshot(api.engine, EVERYTHING) == before

    real = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))

    assert_result(real, created=1)
    assert must_evaluation(api.engine, "R7-1", 2025)["status"] == "achieved"
    assert len(stored_keys(api.engine)) == 1


def test_a_duplicate_sent_while_the_first_runs_waits_and_replays(api: Api) -> None:
    """Two uploads with one key at once: one runs, the other waits for it on the write lock
    and replays its answer; neither is told to come back later, and it is written once."""
    body = json_bytes(CREATE_ONE)
    since = last_change(api.engine)
    answers: list[httpx.Response] = []

    def send() -> None:
        answers.append(post_bulk(api, "evaluations", body, JSON_TYPE, headers=with_key(api)))

    # Another writer holds the write lock, so both uploads are waiting when it lets go.
    with Session(api.engine) as holder:
        begin_write(holder)
        holder.execute(select(data_version.c.version).with_for_update())
        senders = [threading.Thread(target=send) for _ in range(2)]
        for sender in senders:
            sender.start()
        time.sleep(0.5)
        holder.rollback()
    for sender in senders:
        sender.join(timeout=30)

    assert [answer.status_code for answer in answers] == [200, 200], answers[0].text
    assert answers[0].content == answers[1].content
    assert_result(answers[0], created=1)
    assert len(stored_keys(api.engine)) == 1
    assert must_evaluation(api.engine, "R7-1", 2025)["status"] == "achieved"
    assert [(c["action"], c["entity"]) for c in changes_after(api.engine, since)] == [
        ("create", "evaluation")
    ]


def test_replay_survives_a_restart(api: Api, make_client: Callable[[str], TestClient]) -> None:
    """The key is kept in the database: another process on it recognises the retry."""
    first = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))
    assert_result(first, created=1)
    after_first = snapshot(api.engine, EVERYTHING)
    restarted = make_client(api.engine.url.render_as_string(hide_password=False))

    retry = restarted.post(
        f"{API}/bulk/evaluations",
        content=json_bytes(CREATE_ONE),
        headers={**with_key(api), "Content-Type": JSON_TYPE},
    )

    assert retry.status_code == 200
    assert retry.content == first.content
    assert snapshot(api.engine, EVERYTHING) == after_first


def test_expired_key_is_not_replayed(api: Api) -> None:
    first = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))
    assert_result(first, created=1)
    with api.engine.begin() as connection:
        connection.execute(
            update(idempotency_keys).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )

    again = send_json(api, "evaluations", CREATE_ONE, headers=with_key(api))

    answer = assert_result(again, unchanged=1)  # run again, not the stored "created"
    (stored,) = stored_keys(api.engine)
    assert json.loads(stored["response_body"]) == answer
    assert stored["expires_at"].replace(tzinfo=UTC) > datetime.now(UTC)


@pytest.mark.parametrize("key", ["k" * 256, "キー"], ids=["too long", "not ASCII"])
def test_malformed_key_is_refused(api: Api, key: str) -> None:
    before = snapshot(api.engine, EVERYTHING)
    headers = {**api.editor, "Content-Type": JSON_TYPE}
    raw = [(name.encode(), value.encode()) for name, value in headers.items()]
    response: httpx.Response = api.client.post(
        f"{API}/bulk/evaluations",
        content=json_bytes(CREATE_ONE),
        headers=httpx.Headers([*raw, (b"Idempotency-Key", key.encode("utf-8"))]),
    )

    body = assert_problem(response, 422)
    assert ["header", "Idempotency-Key"] in [error["loc"] for error in body["errors"]]
    assert snapshot(api.engine, EVERYTHING) == before


# --------------------------------------------------------------------------------------------
# 6. Set-based writes, versions and the change log; limits and auth
# --------------------------------------------------------------------------------------------


def test_versions_and_change_log_follow_only_what_changed(api: Api) -> None:
    ids = {code: initiative_row(api.engine, code)["id"] for code in ("R6-7", "R6-10", "R7-1")}
    initiative_versions = versions(api.engine, initiatives)
    evaluation_versions = versions(api.engine, evaluations)
    r6_7 = must_evaluation(api.engine, "R6-7", 2024)
    r6_10 = must_evaluation(api.engine, "R6-10", 2024)
    since = last_change(api.engine)

    response = send_json(
        api,
        "evaluations",
        [
            {"code": "R6-7", "fiscal_year": 2024, "status": "not_achieved"},
            {"code": "R6-10", "fiscal_year": 2024, "status": "achieved"},
            {"code": "R7-1", "fiscal_year": 2025, "status": "unconfirmed", "actual_value": 2},
        ],
    )

    body = assert_result(response, created=1, updated=1, unchanged=1)
    assert [row["action"] for row in body["rows"]] == ["updated", "unchanged", "created"]
    created = must_evaluation(api.engine, "R7-1", 2025)
    assert created["version"] == 1
    assert must_evaluation(api.engine, "R6-7", 2024)["version"] == r6_7["version"] + 1
    assert must_evaluation(api.engine, "R6-10", 2024) == r6_10
    assert versions(api.engine, evaluations) == evaluation_versions | {
        r6_7["id"]: r6_7["version"] + 1,
        created["id"]: 1,
    }
    # Writing an evaluation moves its initiative's version on; R6-10's stays.
    assert versions(api.engine, initiatives) == initiative_versions | {
        ids["R6-7"]: initiative_versions[ids["R6-7"]] + 1,
        ids["R7-1"]: initiative_versions[ids["R7-1"]] + 1,
    }
    shown = api.client.get(f"{API}/initiatives/{ids['R6-7']}")
    assert shown.headers["etag"] == etag(ids["R6-7"], initiative_versions[ids["R6-7"]] + 1)
    assert shown.json()["latest_evaluation"]["status"] == "not_achieved"

    entries = changes_after(api.engine, since)
    assert {(entry["actor"], entry["entity"]) for entry in entries} == {("editor", "evaluation")}
    by_row = {entry["entity_id"]: entry for entry in entries}
    assert set(by_row) == {r6_7["id"], created["id"]}
    assert by_row[r6_7["id"]]["action"] == "update"
    assert by_row[r6_7["id"]]["changes"] == {"status": ["achieved", "not_achieved"]}
    assert by_row[created["id"]]["action"] == "create"
    assert by_row[created["id"]]["changes"] == by_row[created["id"]]["changes"] | {
        "initiative_id": [None, ids["R7-1"]],
        "fiscal_year": [None, 2025],
        "status": [None, "unconfirmed"],
        "actual_value": [None, 2],
    }


def test_initiative_update_logs_only_changed_fields(api: Api) -> None:
    r7_1 = initiative_row(api.engine, "R7-1")
    r7_10 = initiative_row(api.engine, "R7-10")
    since = last_change(api.engine)

    response = send_json(
        api,
        "initiatives",
        [
            {"code": "R7-1", "title": r7_1["title"], "target_value": 100, "target_unit": "件"},
            {"code": "R7-10", "title": r7_10["title"], "plan_page": r7_10["plan_page"]},
        ],
    )

    assert assert_result(response, updated=1, unchanged=1)["rows"] == [
        {"row": 0, "code": "R7-1", "action": "updated"},
        {"row": 1, "code": "R7-10", "action": "unchanged"},
    ]
    after = initiative_row(api.engine, "R7-1")
    assert after["version"] == r7_1["version"] + 1
    assert after["updated_at"] != r7_1["updated_at"]
    assert initiative_row(api.engine, "R7-10") == r7_10
    (entry,) = changes_after(api.engine, since)
    assert (entry["actor"], entry["action"], entry["entity_id"]) == ("editor", "update", r7_1["id"])
    assert entry["changes"] == {"target_value": [None, 100], "target_unit": [None, "件"]}


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Collect every statement sent to the database meanwhile."""
    sent: list[str] = []

    def record(
        _connection: Any,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def bulk_upload(table: str, codes: Sequence[str], round_: int) -> list[Item]:
    if table == "initiatives":
        return [
            new_initiative(code, index, plan_page=round_ + 1) for index, code in enumerate(codes)
        ]
    status = ["achieved", "not_achieved"][round_ % 2]
    return [{"code": code, "fiscal_year": 2025, "status": status} for code in codes]


@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
def test_statements_do_not_grow_with_rows(api: Api, table: str) -> None:
    """A constant number of statements per chunk of rows: 10 rows and 1,000 take as many."""
    few = [f"R7-{1000 + index}" for index in range(10)]
    many = [f"R7-{2000 + index}" for index in range(1000)]
    if table == "evaluations":
        assert_result(
            send_json(api, "initiatives", bulk_upload("initiatives", [*few, *many], 0)),
            created=len(few) + len(many),
        )
    counted: dict[tuple[str, int], int] = {}
    for round_, action in enumerate(["created", "updated"]):
        for name, codes in (("few", few), ("many", many)):
            with statements(api.engine) as sent:
                response = send_json(api, table, bulk_upload(table, codes, round_ + 1))
            answer = assert_result(
                response,
                created=len(codes) if action == "created" else 0,
                updated=len(codes) if action == "updated" else 0,
            )
            assert {row["action"] for row in answer["rows"]} == {action}
            counted[(name, round_)] = len(sent)
    assert counted[("few", 0)] == counted[("many", 0)], counted
    assert counted[("few", 1)] == counted[("many", 1)], counted
    assert max(counted.values()) < 50, counted


@pytest.mark.parametrize(
    ("table", "form"),
    [("initiatives", "json"), ("initiatives", "csv"), ("evaluations", "json")],
)
def test_more_than_10000_rows_is_413(api: Api, table: str, form: str) -> None:
    codes = [f"R7-{1000 + index}" for index in range(MAX_ROWS + 1)]
    before = snapshot(api.engine, EVERYTHING)

    if form == "json":
        response = send_json(api, table, bulk_upload(table, codes, 0))
    else:
        rows = [[code, f"取組 {code}", "1", "1"] for code in codes]
        response = send_csv(api, table, ["取組番号", "取組事項", "基本方針番号", "施策番号"], rows)

    body = assert_problem(response, 413)

    assert "10,000" in body["detail"] or "10000" in body["detail"], body
    assert snapshot(api.engine, EVERYTHING) == before
    assert count(api.engine, initiatives) == len(CODES)


def test_10000_rows_are_written(api: Api) -> None:
    codes = [f"R7-{1000 + index}" for index in range(MAX_ROWS)]
    since = last_change(api.engine)

    response = send_json(api, "initiatives", bulk_upload("initiatives", codes, 0))

    body = assert_result(response, created=MAX_ROWS)
    assert body["rows"] == row_outcomes(codes, "created")
    assert count(api.engine, initiatives) == len(CODES) + MAX_ROWS
    with api.engine.connect() as connection:
        written = dict(
            connection.execute(
                select(initiatives.c.code, initiatives.c.measure_id).where(
                    initiatives.c.code.in_(codes[::997])
                )
            ).all()
        )
    assert written == {
        code: measure_id(api.engine, index % 3 + 1, index // 3 % 3 + 1)
        for index, code in enumerate(codes)
        if index % 997 == 0
    }
    entries = changes_after(api.engine, since)
    assert len(entries) == MAX_ROWS
    assert {(entry["actor"], entry["action"], entry["entity"]) for entry in entries} == {
        ("editor", "create", "initiative")
    }


def large_body(rows: int, chars: int) -> bytes:
    return json_bytes(
        [
            new_initiative(f"R7-{3000 + index}", index, description="あ" * chars)
            for index in range(rows)
        ]
    )


def test_bulk_body_over_the_ordinary_limit_is_accepted(api: Api) -> None:
    body = large_body(250, 3000)
    assert len(body) > 2 * ORDINARY_BODY_LIMIT

    ordinary = api.client.post(
        f"{API}/initiatives",
        content=body,
        headers={**api.editor, "Content-Type": JSON_TYPE},
    )
    bulk = post_bulk(api, "initiatives", body, JSON_TYPE)

    assert_problem(ordinary, 413)
    assert_result(bulk, created=250)
    assert initiative_row(api.engine, "R7-3249")["description"] == "あ" * 3000


def test_bulk_body_limit_is_configurable(fresh_url: str) -> None:
    limit = 64 * 1024
    application = create_app(Settings(database_url=fresh_url, max_bulk_body_bytes=limit))
    engine: Engine = application.state.engine
    with Session(engine) as session:
        token = create_token(session, name="editor", role=Role.editor)
    editor = {"Authorization": f"Bearer {token}", "Content-Type": JSON_TYPE}
    over, under = large_body(10, 3000), large_body(5, 3000)
    assert len(under) < limit < len(over)
    try:
        with TestClient(application) as client:
            before = snapshot(engine, EVERYTHING)
            refused = client.post(f"{API}/bulk/initiatives", content=over, headers=editor)
            anonymous = client.post(
                f"{API}/bulk/initiatives", content=over, headers={"Content-Type": JSON_TYPE}
            )
            after_refusals = snapshot(engine, EVERYTHING)
            accepted = client.post(f"{API}/bulk/initiatives", content=under, headers=editor)
    finally:
        engine.dispose()

    assert f"{limit:,}" in assert_problem(refused, 413)["detail"]
    assert_problem(anonymous, 413)  # the size is checked before the token
    assert after_refusals == before
    assert_result(accepted, created=5)


UNAUTHORIZED = {
    "no token": {},
    "unknown token": {"Authorization": "Bearer not-a-token-anybody-made"},
}


@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
@pytest.mark.parametrize("who", list(UNAUTHORIZED))
def test_no_token_is_401(api: Api, table: str, who: str) -> None:
    before = snapshot(api.engine, EVERYTHING)

    response = send_json(api, table, bulk_upload(table, ["R7-1"], 1), headers=UNAUTHORIZED[who])

    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert snapshot(api.engine, EVERYTHING) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_other_media_types_are_refused(api: Api, content_type: str) -> None:
    before = snapshot(api.engine, EVERYTHING)

    response = post_bulk(api, "evaluations", json_bytes(CREATE_ONE), content_type)

    assert_problem(response, 415)
    assert snapshot(api.engine, EVERYTHING) == before
