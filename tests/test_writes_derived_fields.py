"""The write side over HTTP (issue 3): derived fields: plan of a measure, fiscal year of a code,
normalised codes, search.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded
one) and checks both what the client sees (status, body, headers) and what the database holds
afterwards. Expected values come from the request, the seed file
(seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a response.
"""

import pytest

from app.models import (
    initiatives,
    measures,
)
from tests.conftest import Api
from tests.helpers import API, snapshot
from tests.writes_helpers import (
    CONTENT_TABLES,
    R7,
    Item,
    assert_invalid,
    assert_json,
    case,
    evaluation_url,
    get,
    initiative_id,
    make_other_plan,
    measure_id,
    must_row,
    plan_id,
    policy_id,
    post,
)


def test_a_measure_takes_its_policys_plan(api: Api) -> None:
    other_plan, other_policy, _ = make_other_plan(api)
    measure = post(api, "/measures", {"policy_id": other_policy, "number": 2, "title": "施策2"})
    assert measure["plan_id"] == other_plan
    assert must_row(api.engine, measures, measure["id"])["plan_id"] == other_plan


def test_a_measure_moves_within_its_plan_only(api: Api) -> None:
    _, other_policy, _ = make_other_plan(api)
    target = measure_id(api.engine, 1, 1)
    url = f"{API}/measures/{target}"
    before = snapshot(api.engine, CONTENT_TABLES)
    refused = api.client.patch(url, json={"policy_id": other_policy}, headers=api.editor)
    assert_invalid(refused, "policy_id")
    assert snapshot(api.engine, CONTENT_TABLES) == before

    # Policy 2 has a measure numbered 1 already: move it under a free number.
    free = {"policy_id": policy_id(api.engine, 2), "number": 9}
    moved = assert_json(api.client.patch(url, json=free, headers=api.editor), 200)
    assert (moved["policy_id"], moved["plan_id"], moved["number"]) == (
        free["policy_id"],
        plan_id(api.engine),
        9,
    )
    stored = must_row(api.engine, measures, target)
    assert (stored["policy_id"], stored["plan_id"]) == (free["policy_id"], plan_id(api.engine))


def test_an_initiative_moves_within_its_plan_only(api: Api) -> None:
    _, _, other_measure = make_other_plan(api)
    target = initiative_id(api.engine, R7)
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.patch(
        f"{API}/initiatives/{target}", json={"measure_id": other_measure}, headers=api.editor
    )
    assert_invalid(response, "measure_id")
    assert snapshot(api.engine, CONTENT_TABLES) == before


@pytest.mark.slow
@pytest.mark.parametrize("explicit", [None, 2025, "R7", "令和7年度", "令和７年度"])
def test_initiative_fiscal_year_comes_from_its_code(api: Api, explicit: int | str | None) -> None:
    body: Item = {"measure_id": measure_id(api.engine, 1, 1), "code": "R7-99", "title": "新規"}
    if explicit is not None:
        body["fiscal_year"] = explicit
    created = post(api, "/initiatives", body)
    assert (created["fiscal_year"], created["fiscal_year_label"]) == (2025, "令和7年度")
    assert must_row(api.engine, initiatives, created["id"])["fiscal_year"] == 2025


@pytest.mark.parametrize("disagreeing", [2024, "R6", "令和8年度"])
def test_initiative_code_and_fiscal_year_that_disagree_is_422(
    api: Api, disagreeing: int | str
) -> None:
    body = {
        "measure_id": measure_id(api.engine, 1, 1),
        "code": "R7-99",
        "title": "新規",
        "fiscal_year": disagreeing,
    }
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.post(f"{API}/initiatives", json=body, headers=api.editor)
    assert_invalid(response, "fiscal_year")
    assert snapshot(api.engine, CONTENT_TABLES) == before


def test_a_code_without_a_year_needs_a_fiscal_year(api: Api) -> None:
    body: Item = {"measure_id": measure_id(api.engine, 1, 1), "code": "DX-1", "title": "新規"}
    before = snapshot(api.engine, CONTENT_TABLES)
    assert_invalid(
        api.client.post(f"{API}/initiatives", json=body, headers=api.editor), "fiscal_year"
    )
    assert snapshot(api.engine, CONTENT_TABLES) == before

    created = post(api, "/initiatives", {**body, "fiscal_year": "令和8年度"})
    assert (created["code"], created["fiscal_year"]) == ("DX-1", 2026)
    assert must_row(api.engine, initiatives, created["id"])["fiscal_year"] == 2026


def test_a_code_naming_a_year_beyond_the_accepted_range_is_422(api: Api) -> None:
    """R99-… would be 令和99年度 (2117), past the current year + 10 that API.md accepts."""
    body = {"measure_id": measure_id(api.engine, 1, 1), "code": "R99-1", "title": "新規"}
    before = snapshot(api.engine, CONTENT_TABLES)
    assert_invalid(api.client.post(f"{API}/initiatives", json=body, headers=api.editor))
    assert snapshot(api.engine, CONTENT_TABLES) == before


@pytest.mark.parametrize(
    ("written", "stored"),
    [("Ｒ７－９９", "R7-99"), ("R7‐99", "R7-99"), (" R7-99 ", "R7-99"), ("r7-99", "r7-99")],
)
def test_codes_are_stored_normalised(api: Api, written: str, stored: str) -> None:
    body = {"measure_id": measure_id(api.engine, 1, 1), "code": written, "title": "新規"}
    created = post(api, "/initiatives", body)
    assert (created["code"], created["fiscal_year"]) == (stored, 2025)
    assert must_row(api.engine, initiatives, created["id"])["code"] == stored
    found = assert_json(get(api, f"/initiatives?code={stored}"), 200)
    assert [item["id"] for item in found["items"]] == [created["id"]]


BAD_CODES = ["", "-R7", "R7 99", "R7_99", "R7/99", "R7.99", "取組1", "A" * 33, "R7-1\u0000"]


def test_codes_off_the_pattern_are_422(api: Api) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for code in BAD_CODES:
        with case(code):
            body = {
                "measure_id": measure_id(api.engine, 1, 1),
                "code": code,
                "title": "新規",
                "fiscal_year": 2025,
            }
            response = api.client.post(f"{API}/initiatives", json=body, headers=api.editor)
            assert_invalid(response, "code")
            patched = api.client.patch(
                f"{API}/initiatives/{initiative_id(api.engine, R7)}",
                json={"code": code},
                headers=api.editor,
            )
            assert_invalid(patched, "code")
            assert snapshot(api.engine, CONTENT_TABLES) == before


def test_patching_the_code_keeps_the_fiscal_year_right(api: Api) -> None:
    target = initiative_id(api.engine, R7)
    url = f"{API}/initiatives/{target}"
    before = snapshot(api.engine, CONTENT_TABLES)
    assert_invalid(
        api.client.patch(url, json={"fiscal_year": 2024}, headers=api.editor), "fiscal_year"
    )
    assert_invalid(
        api.client.patch(url, json={"code": "R6-99", "fiscal_year": 2025}, headers=api.editor),
        "fiscal_year",
    )
    assert snapshot(api.engine, CONTENT_TABLES) == before

    body = assert_json(api.client.patch(url, json={"code": "Ｒ６－９９"}, headers=api.editor), 200)
    assert (body["code"], body["fiscal_year"], body["fiscal_year_label"]) == (
        "R6-99",
        2024,
        "令和6年度",
    )
    stored = must_row(api.engine, initiatives, target)
    assert (stored["code"], stored["fiscal_year"]) == ("R6-99", 2024)


def search(api: Api, q: str) -> list[int]:
    body = assert_json(api.client.get(f"{API}/initiatives", params={"q": q, "limit": 500}), 200)
    return [item["id"] for item in body["items"]]


def test_search_follows_writes(api: Api) -> None:
    for word in ("ドローン", "ハッカソン", "ＡＩ議事録"):
        assert search(api, word) == []  # nothing in the seed has these words
    created = post(
        api,
        "/initiatives",
        {
            "measure_id": measure_id(api.engine, 1, 1),
            "code": "R7-99",
            "title": "ドローンによる橋梁点検",
        },
    )
    assert search(api, "ドローン") == [created["id"]]
    assert search(api, "r7-99") == [created["id"]]

    put = api.client.put(
        evaluation_url(created["id"], 2025),
        json={"status": "achieved", "result": "市民ハッカソンを開催しました"},
        headers=api.editor,
    )
    assert_json(put, 201)
    assert search(api, "ハッカソン") == [created["id"]]

    patched = api.client.patch(
        f"{API}/initiatives/{created['id']}", json={"title": "AI議事録の導入"}, headers=api.editor
    )
    assert_json(patched, 200)
    assert search(api, "ドローン") == []
    assert search(api, "ＡＩ議事録") == [created["id"]]  # full-width finds half-width
    assert search(api, "ハッカソン") == [created["id"]]

    replaced = api.client.put(
        evaluation_url(created["id"], 2025), json={"status": "achieved"}, headers=api.editor
    )
    assert_json(replaced, 200)
    assert search(api, "ハッカソン") == []
