"""Bulk uploads for staff scripts (issue 6): the staff story: a year's evaluations with one bad
row, then fixed.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded one)
and checks what a staff script sees (status, body, headers) and what the database holds
afterwards: rows, versions, change-log entries, stored Idempotency-Keys. "Nothing written" is
shown by a snapshot of every table before and after. Expected values come from the request, the
seed file (seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a
response.
"""

from collections.abc import Sequence

import pytest

from app.models import (
    initiatives,
)
from tests.bulk_helpers import (
    CODES,
    EVERYTHING,
    MUNICIPALITY_CODE,
    MUNICIPALITY_NAME,
    assert_result,
    assert_rows_invalid,
    changes_after,
    count,
    csv_bytes,
    has_japanese,
    last_change,
    must_evaluation,
    post_bulk,
    rate,
    row_outcomes,
    send_csv,
    with_key,
)
from tests.conftest import Api
from tests.helpers import API, LABELS, PLAN_SLUG, snapshot

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


@pytest.mark.slow
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
