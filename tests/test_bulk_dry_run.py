"""Bulk uploads for staff scripts (issue 6): dry run: the same answer as the real run, nothing
written.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded one)
and checks what a staff script sees (status, body, headers) and what the database holds
afterwards: rows, versions, change-log entries, stored Idempotency-Keys. "Nothing written" is
shown by a snapshot of every table before and after. Expected values come from the request, the
seed file (seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a
response.
"""

import pytest

from tests.bulk_helpers import (
    EVERYTHING,
    JSON_TYPE,
    Item,
    assert_result,
    assert_rows_invalid,
    csv_bytes,
    json_bytes,
    new_initiative,
    post_bulk,
)
from tests.conftest import Api
from tests.helpers import SEED_INITIATIVES, snapshot


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
