"""Bulk uploads for staff scripts (issue 6): semantics: keys, absent and empty columns, derived
columns, measures, new rows.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded one)
and checks what a staff script sees (status, body, headers) and what the database holds
afterwards: rows, versions, change-log entries, stored Idempotency-Keys. "Nothing written" is
shown by a snapshot of every table before and after. Expected values come from the request, the
seed file (seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a
response.
"""

import json
import re
from typing import Any

import pytest

from app.models import (
    evaluations,
    idempotency_keys,
    initiatives,
)
from tests.bulk_helpers import (
    CONTENT,
    CREATE_ONE,
    EVERYTHING,
    JSON_TYPE,
    MUNICIPALITY_CODE,
    MUNICIPALITY_NAME,
    Item,
    assert_result,
    assert_rows_invalid,
    changes_after,
    count,
    has_japanese,
    initiative_row,
    last_change,
    measure_id,
    must_evaluation,
    new_initiative,
    post_bulk,
    row_outcomes,
    seed_plan_id,
    send_csv,
    send_json,
)
from tests.conftest import Api
from tests.helpers import API, LABELS, PLAN_SLUG, assert_problem, snapshot

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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
def test_rows_that_break_the_schema_are_named_before_a_missing_plan(api: Api, table: str) -> None:
    """API.md's order is validation (422), then state (404): an upload of broken rows to a
    plan that does not exist names the rows; the same upload with good rows is 404."""
    bad = {"code": "R6-7-" + "9" * 40} | ({"fiscal_year": 2024} if table == "evaluations" else {})
    good = {"code": "R6-7"} | ({"fiscal_year": 2024} if table == "evaluations" else {})
    url = f"{API}/bulk/{table}?plan_id=424242"
    refused = api.client.post(url, json={"items": [good, bad]}, headers=api.editor)
    problem = assert_problem(refused, 422)
    assert [(error["row"], error["loc"][1]) for error in problem["errors"]] == [(1, "code")]
    missing = api.client.post(url, json={"items": [good]}, headers=api.editor)
    assert "plan 424242 does not exist" in assert_problem(missing, 404)["detail"]
