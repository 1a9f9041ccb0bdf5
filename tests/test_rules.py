"""Integrity the schema cannot state (issue 13, item 5): rules across rows, kept by every write.

- a plan's period holds all its initiatives, evaluations and reports (narrowing past them: 409
  counting what lies outside);
- an initiative is listed for a year of its plan's period (422);
- an evaluation is not for a year before its initiative's (422), so an initiative's year cannot
  move past evaluations it has (409 counting them);
- bulk uploads apply the same rules as row errors (422, nothing written);
- the rules are checked under the write lock, so two concurrent writes cannot pass them together.

Each test checks the status, the problem body and that the database is unchanged afterwards.
Expected values come from the seed file (seed/kanazawa-2023-2026.toml), never from a response.
"""

import importlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from app.models import initiatives, plans
from tests.conftest import Api
from tests.helpers import API, LABELS, SEED, assert_problem, snapshot
from tests.writes_helpers import (
    CONTENT_TABLES,
    PLAN_END,
    PLAN_START,
    Item,
    assert_invalid,
    assert_json,
    error_locs,
    evaluation_row,
    initiative_id,
    measure_id,
    must_row,
    plan_id,
    post,
)

SEED_INITIATIVES: list[Item] = SEED["initiatives"]
REPORT_YEAR: int = SEED["report"]["fiscal_year"]


def initiatives_in(year: int) -> int:
    return sum(1 for item in SEED_INITIATIVES if item["fiscal_year"] == year)


def evaluations_in(year: int) -> int:
    return sum(
        1
        for item in SEED_INITIATIVES
        if "evaluation" in item and item["evaluation"]["fiscal_year"] == year
    )


def first_code(year: int) -> str:
    return str(next(item["code"] for item in SEED_INITIATIVES if item["fiscal_year"] == year))


def patch(api: Api, path: str, body: Item) -> httpx.Response:
    response: httpx.Response = api.client.patch(f"{API}{path}", json=body, headers=api.editor)
    return response


def put_evaluation(api: Api, initiative: int, year: int | str) -> httpx.Response:
    response: httpx.Response = api.client.put(
        f"{API}/initiatives/{initiative}/evaluations/{year}",
        json={"status": "achieved", "result": "実施した"},
        headers=api.editor,
    )
    return response


def dx_initiative(api: Api, year: int) -> int:
    """A new initiative whose code names no year (DX-1), listed for year."""
    body = {
        "measure_id": measure_id(api.engine, 1, 1),
        "code": "DX-1",
        "title": "行政手続のオンライン化",
        "fiscal_year": year,
    }
    created: int = post(api, "/initiatives", body)["id"]
    return created


# --------------------------------------------------------------------------------------------
# A plan's period
# --------------------------------------------------------------------------------------------

# The seed lists R6 items for 2024 (each evaluated for 2024, as is the report) and R7 items for
# 2025 (none evaluated): each narrowing below leaves some of them outside.
NARROWINGS: dict[str, tuple[Item, int]] = {
    "end before R7": ({"end_fiscal_year": "令和6年度"}, 2025),
    "start after R6": ({"start_fiscal_year": 2025}, 2024),
    "both": ({"start_fiscal_year": "R7", "end_fiscal_year": "R8"}, 2024),
}


@pytest.mark.parametrize(("body", "left_out"), NARROWINGS.values(), ids=NARROWINGS)
def test_narrowing_a_plan_past_its_rows_is_409_counting_them(
    api: Api, body: Item, left_out: int
) -> None:
    plan = plan_id(api.engine)
    before = snapshot(api.engine, CONTENT_TABLES)
    problem = assert_problem(patch(api, f"/plans/{plan}", body), 409)
    counted = initiatives_in(left_out)
    assert counted > 0
    expected = f"{counted} initiatives and {evaluations_in(left_out)} evaluations"
    if left_out == REPORT_YEAR:
        expected = expected.replace(" and", ",") + " and 1 report"
    assert expected in problem["detail"], problem["detail"]
    assert snapshot(api.engine, CONTENT_TABLES) == before
    assert must_row(api.engine, plans, plan)["end_fiscal_year"] == PLAN_END

    # 令和5年度 and 令和8年度 hold nothing in the seed: the period may lose either.
    assert PLAN_START not in {item["fiscal_year"] for item in SEED_INITIATIVES}
    inner = {"start_fiscal_year": PLAN_START + 1, "end_fiscal_year": PLAN_END - 1}
    changed = assert_json(patch(api, f"/plans/{plan}", inner), 200)
    assert changed["period_label"] == f"{LABELS[PLAN_START + 1]}～{LABELS[PLAN_END - 1]}"
    stored = must_row(api.engine, plans, plan)
    assert (stored["start_fiscal_year"], stored["end_fiscal_year"]) == (2024, 2025)


# --------------------------------------------------------------------------------------------
# An initiative's fiscal year
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "R9-1"}, "code"),  # 令和9年度 = 2027, after the period
        ({"code": "H30-1", "fiscal_year": "平成30年度"}, "fiscal_year"),  # 2018, before it
        ({"code": "DX-1", "fiscal_year": PLAN_END + 1}, "fiscal_year"),
    ],
    ids=["code", "year before", "year after"],
)
def test_an_initiative_outside_its_plans_period_is_422(api: Api, body: Item, field: str) -> None:
    full = {"measure_id": measure_id(api.engine, 1, 1), "title": "新しい取組", **body}
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.post(f"{API}/initiatives", json=full, headers=api.editor)
    problem = assert_invalid(response, field)
    assert ["body", field] in error_locs(problem)
    assert "period" in problem["detail"]
    patched = patch(api, f"/initiatives/{initiative_id(api.engine, first_code(2025))}", body)
    assert ["body", field] in error_locs(assert_invalid(patched, field))
    assert snapshot(api.engine, CONTENT_TABLES) == before


def test_an_initiatives_year_cannot_move_past_its_evaluations(api: Api) -> None:
    """R6-7 has its 2024 evaluation: it cannot become R7-… (2025), or be listed for 2025."""
    code = first_code(REPORT_YEAR)
    target = initiative_id(api.engine, code)
    before = snapshot(api.engine, CONTENT_TABLES)
    problem = assert_problem(patch(api, f"/initiatives/{target}", {"code": "R7-99"}), 409)
    assert "1 evaluation " in problem["detail"] and LABELS[2025] in problem["detail"]
    assert snapshot(api.engine, CONTENT_TABLES) == before

    dx = dx_initiative(api, 2024)
    assert put_evaluation(api, dx, 2024).status_code == 201
    put_evaluation(api, dx, 2025).raise_for_status()
    before = snapshot(api.engine, CONTENT_TABLES)
    problem = assert_problem(patch(api, f"/initiatives/{dx}", {"fiscal_year": "R8"}), 409)
    assert "2 evaluations" in problem["detail"], problem["detail"]
    assert snapshot(api.engine, CONTENT_TABLES) == before

    # Moving earlier, or to the year of its first evaluation, is fine.
    assert assert_json(patch(api, f"/initiatives/{dx}", {"fiscal_year": 2023}), 200)
    assert must_row(api.engine, initiatives, dx)["fiscal_year"] == 2023
    assert assert_json(patch(api, f"/initiatives/{dx}", {"fiscal_year": 2024}), 200)
    assert must_row(api.engine, initiatives, dx)["fiscal_year"] == 2024


# --------------------------------------------------------------------------------------------
# An evaluation's fiscal year
# --------------------------------------------------------------------------------------------


def test_an_evaluation_before_its_initiatives_year_is_422(api: Api) -> None:
    target = initiative_id(api.engine, first_code(2025))
    before = snapshot(api.engine, CONTENT_TABLES)
    for year in (2024, "R6", "令和5年度"):
        response = put_evaluation(api, target, year)
        problem = assert_invalid(response, "fiscal_year")
        assert ["path", "fiscal_year"] in error_locs(problem)
        assert LABELS[2025] in problem["detail"], problem["detail"]
    assert snapshot(api.engine, CONTENT_TABLES) == before
    assert evaluation_row(api.engine, target, 2024) is None

    assert put_evaluation(api, target, "令和7年度").status_code == 201
    assert evaluation_row(api.engine, target, 2025) is not None


# --------------------------------------------------------------------------------------------
# Bulk uploads: the same rules, as row errors
# --------------------------------------------------------------------------------------------


def bulk(api: Api, table: str, items: list[Item]) -> httpx.Response:
    response: httpx.Response = api.client.post(
        f"{API}/bulk/{table}?plan_id={plan_id(api.engine)}",
        json={"items": items},
        headers=api.editor,
    )
    return response


def assert_row_errors(response: httpx.Response, expected: list[list[Any]]) -> Item:
    problem = assert_invalid(response)
    assert error_locs(problem) == expected, problem
    assert [error["row"] for error in problem["errors"]] == [loc[0] for loc in expected]
    return problem


def test_bulk_evaluation_before_its_initiatives_year_is_a_row_error(api: Api) -> None:
    r7 = first_code(2025)
    items: list[Item] = [
        {"code": r7, "fiscal_year": 2025, "status": "achieved"},  # fine on its own
        {"code": r7, "fiscal_year": "R6", "status": "achieved"},
    ]
    before = snapshot(api.engine, CONTENT_TABLES)
    problem = assert_row_errors(bulk(api, "evaluations", items), [[1, "fiscal_year"]])
    assert LABELS[2025] in problem["errors"][0]["msg"]
    assert snapshot(api.engine, CONTENT_TABLES) == before


def test_bulk_initiative_outside_the_period_is_a_row_error(api: Api) -> None:
    measure: Item = {"policy_number": 1, "measure_number": 1, "title": "新しい取組"}
    items = [
        {"code": "R7-99", **measure},  # fine on its own
        {"code": "R9-1", **measure},
        {"code": "DX-1", "fiscal_year": PLAN_START - 1, **measure},
    ]
    before = snapshot(api.engine, CONTENT_TABLES)
    problem = assert_row_errors(bulk(api, "initiatives", items), [[1, "code"], [2, "fiscal_year"]])
    assert all("period" in error["msg"] for error in problem["errors"])
    assert snapshot(api.engine, CONTENT_TABLES) == before


def test_bulk_initiative_year_past_its_evaluations_is_a_row_error(api: Api) -> None:
    dx = dx_initiative(api, 2024)
    assert put_evaluation(api, dx, 2024).status_code == 201
    before = snapshot(api.engine, CONTENT_TABLES)
    response = bulk(api, "initiatives", [{"code": "DX-1", "fiscal_year": 2025}])
    problem = assert_row_errors(response, [[0, "fiscal_year"]])
    assert "1 evaluation" in problem["errors"][0]["msg"]
    assert snapshot(api.engine, CONTENT_TABLES) == before
    assert must_row(api.engine, initiatives, dx)["fiscal_year"] == 2024


# --------------------------------------------------------------------------------------------
# Concurrent writes cannot pass a rule together
# --------------------------------------------------------------------------------------------


def race(
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    check: str,
    first: Callable[[], httpx.Response],
    second: Callable[[], httpx.Response],
) -> tuple[httpx.Response, httpx.Response]:
    """Run first, hold it just after its rule check (`check`, a module attribute), run second
    meanwhile, then let first go on. Without the write lock, second would check its own rule
    against the data as it was before first, and both would pass."""
    module_name, _, name = check.rpartition(".")
    module = importlib.import_module(module_name)
    real = getattr(module, name)
    checked, second_done = threading.Event(), threading.Event()

    def check_and_hold(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        checked.set()
        second_done.wait(timeout=1.5)  # second is waiting for the lock: go on

    monkeypatch.setattr(module, name, check_and_hold)

    def run_second() -> httpx.Response:
        assert checked.wait(timeout=10)
        try:
            return second()
        finally:
            second_done.set()

    with ThreadPoolExecutor(max_workers=2) as pool:
        later = pool.submit(run_second)
        earlier = pool.submit(first)
        return earlier.result(timeout=30), later.result(timeout=30)


@pytest.mark.slow
def test_an_evaluation_cannot_slip_outside_a_period_being_narrowed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = plan_id(api.engine)
    target = initiative_id(api.engine, first_code(2025))
    narrowed, evaluated = race(
        api,
        monkeypatch,
        "app.plans.service._check_period_holds",
        lambda: patch(api, f"/plans/{plan}", {"end_fiscal_year": 2025}),
        lambda: put_evaluation(api, target, 2026),
    )
    assert_json(narrowed, 200)
    assert ["path", "fiscal_year"] in error_locs(assert_invalid(evaluated, "fiscal_year"))
    assert must_row(api.engine, plans, plan)["end_fiscal_year"] == 2025
    assert evaluation_row(api.engine, target, 2026) is None


@pytest.mark.slow
def test_an_evaluation_cannot_slip_before_an_initiative_year_being_moved(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    dx = dx_initiative(api, 2024)
    moved, evaluated = race(
        api,
        monkeypatch,
        "app.initiatives.service._check_evaluations_from",
        lambda: patch(api, f"/initiatives/{dx}", {"fiscal_year": 2025}),
        lambda: put_evaluation(api, dx, 2024),
    )
    assert_json(moved, 200)
    assert_invalid(evaluated, "fiscal_year")
    assert must_row(api.engine, initiatives, dx)["fiscal_year"] == 2025
    assert evaluation_row(api.engine, dx, 2024) is None
