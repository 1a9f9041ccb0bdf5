"""The write side over HTTP (issue 3): PUT of an evaluation.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded
one) and checks both what the client sees (status, body, headers) and what the database holds
afterwards. Expected values come from the request, the seed file
(seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a response.
"""

from datetime import date

import pytest

from app.models import (
    evaluations,
    initiatives,
)
from tests.conftest import Api, etag
from tests.helpers import API, LABELS, SEED_INITIATIVES, assert_problem, snapshot
from tests.writes_helpers import (
    CONTENT_TABLES,
    EVALUATED,
    IF_MATCH,
    PLAN_END,
    PLAN_START,
    R7,
    R7_YEAR,
    UNKNOWN_ID,
    assert_invalid,
    assert_json,
    case,
    count_rows,
    error_locs,
    evaluation_row,
    evaluation_url,
    initiative_id,
    must_row,
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "written", ["2025", "R7", "r7", "令和7", "令和7年度", "令和７年度", "㋿7", "Ｒ７"]
)
def test_put_evaluation_creates_then_replaces(api: Api, written: str) -> None:
    target = initiative_id(api.engine, R7)
    initiative_before = must_row(api.engine, initiatives, target)
    url = evaluation_url(target, written)

    created = api.client.put(url, json={"status": "unconfirmed"}, headers=api.editor)
    body = assert_json(created, 201)
    assert created.headers["etag"] == etag(body["id"], 1)
    assert created.headers["location"].endswith(f"/initiatives/{target}/evaluations/{R7_YEAR}")
    assert assert_json(api.client.get(created.headers["location"]), 200) == body
    assert assert_json(api.client.get(url), 200) == body
    assert (body["fiscal_year"], body["fiscal_year_label"]) == (R7_YEAR, LABELS[R7_YEAR])
    assert (body["initiative_id"], body["code"], body["status"]) == (target, R7, "unconfirmed")

    replaced = api.client.put(url, json={"status": "achieved"}, headers=api.editor)
    assert assert_json(replaced, 200)["status"] == "achieved"
    assert replaced.headers["etag"] == etag(body["id"], 2)
    assert count_rows(api.engine, evaluations, evaluations.c.initiative_id == target) == 1
    row = evaluation_row(api.engine, target, R7_YEAR)
    assert row is not None and (row["status"], row["version"]) == ("achieved", 2)
    assert must_row(api.engine, initiatives, target)["version"] == initiative_before["version"] + 2


BAD_EVALUATION_YEARS = {
    "outside the plan's period": [PLAN_START - 1, PLAN_END + 1, "R4", "令和9年度", "H30"],
    "not a fiscal year": [
        "abc",
        "R0",
        "令和0年度",
        "平成32年度",
        "1988",
        "20245",
        "2025.0",
        "-2025",
        "R7-1",
        str(date.today().year + 11),
    ],
}


@pytest.mark.parametrize(
    "years", list(BAD_EVALUATION_YEARS.values()), ids=list(BAD_EVALUATION_YEARS)
)
def test_put_evaluation_with_a_bad_fiscal_year_is_422(api: Api, years: list[int | str]) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for year in years:
        with case(year):
            response = api.client.put(
                evaluation_url(initiative_id(api.engine, R7), year),
                json={"status": "achieved"},
                headers=api.editor,
            )
            assert ["path", "fiscal_year"] in error_locs(assert_invalid(response, "fiscal_year"))
            assert snapshot(api.engine, CONTENT_TABLES) == before


def test_put_evaluation_replaces_the_whole_evaluation(api: Api) -> None:
    target = initiative_id(api.engine, R7)
    url = evaluation_url(target, R7_YEAR)
    full = {"status": "not_achieved", "actual_value": 12.5, "result": "一部実施", "source": "調査"}
    assert_json(api.client.put(url, json=full, headers=api.editor), 201)
    body = assert_json(api.client.put(url, json={"status": "achieved"}, headers=api.editor), 200)
    assert (body["actual_value"], body["result"], body["source"]) == (None, None, None)
    row = evaluation_row(api.engine, target, R7_YEAR)
    assert row is not None
    assert (row["status"], row["actual_value"], row["result"], row["source"]) == (
        "achieved",
        None,
        None,
        None,
    )


def test_put_evaluation_bumps_the_initiative(api: Api) -> None:
    for code in EVALUATED:
        with case(code):
            put_and_check_the_initiative(api, code)


def put_and_check_the_initiative(api: Api, code: str) -> None:
    target = initiative_id(api.engine, code)
    year = SEED_INITIATIVES[code]["evaluation"]["fiscal_year"]
    version = must_row(api.engine, initiatives, target)["version"]
    new = {"status": "not_achieved", "result": "再評価により未達成"}
    response = api.client.put(evaluation_url(target, year), json=new, headers=api.editor)
    evaluation = assert_json(response, 200)
    shown = api.client.get(f"{API}/initiatives/{target}")
    initiative = assert_json(shown, 200)
    assert initiative["version"] == version + 1
    assert shown.headers["etag"] == etag(target, version + 1)
    assert initiative["latest_evaluation"] == evaluation
    assert must_row(api.engine, initiatives, target)["version"] == version + 1


def test_put_evaluation_with_an_identical_body_changes_nothing(api: Api) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for code in EVALUATED:
        with case(code):
            target = initiative_id(api.engine, code)
            seeded = SEED_INITIATIVES[code]["evaluation"]
            keys = ("status", "actual_value", "result", "source", "provenance")
            same = {key: seeded.get(key) for key in keys}
            row = evaluation_row(api.engine, target, seeded["fiscal_year"])
            assert row is not None
            response = api.client.put(
                evaluation_url(target, seeded["fiscal_year"]), json=same, headers=api.editor
            )
            assert assert_json(response, 200)["version"] == row["version"]
            assert response.headers["etag"] == etag(row["id"], row["version"])
            assert snapshot(api.engine, CONTENT_TABLES) == before


def test_put_evaluation_if_none_match_star(api: Api) -> None:
    existing = initiative_id(api.engine, "R6-7")
    before = snapshot(api.engine, CONTENT_TABLES)
    refused = api.client.put(
        evaluation_url(existing, 2024),
        json={"status": "not_achieved"},
        headers={**api.editor, "If-None-Match": "*"},
    )
    assert_problem(refused, 412)
    assert snapshot(api.engine, CONTENT_TABLES) == before

    missing = initiative_id(api.engine, R7)
    created = api.client.put(
        evaluation_url(missing, R7_YEAR),
        json={"status": "achieved"},
        headers={**api.editor, "If-None-Match": "*"},
    )
    assert assert_json(created, 201)["status"] == "achieved"
    assert evaluation_row(api.engine, missing, R7_YEAR) is not None


@pytest.mark.parametrize("header", ['"1.1"', "*"])
def test_put_evaluation_if_match_on_a_missing_one_is_412(api: Api, header: str) -> None:
    target = initiative_id(api.engine, R7)
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.put(
        evaluation_url(target, R7_YEAR),
        json={"status": "achieved"},
        headers={**api.editor, "If-Match": header},
    )
    assert_problem(response, 412)
    assert snapshot(api.engine, CONTENT_TABLES) == before
    assert evaluation_row(api.engine, target, R7_YEAR) is None


PUT_IF_MATCH = {key: IF_MATCH[key] for key in ("stale", "current", "star", "weak current")}


@pytest.mark.parametrize(("header", "status"), list(PUT_IF_MATCH.values()), ids=list(PUT_IF_MATCH))
def test_put_evaluation_if_match_on_an_existing_one(api: Api, header: str, status: int) -> None:
    target = initiative_id(api.engine, "R6-7")
    url = evaluation_url(target, 2024)
    first = api.client.put(url, json={"status": "unconfirmed"}, headers=api.editor)
    current = assert_json(first, 200)["version"]
    evaluation_id = assert_json(first, 200)["id"]
    tag = header.format(id=evaluation_id, old=current - 1, current=current)
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.put(
        url, json={"status": "not_achieved"}, headers={**api.editor, "If-Match": tag}
    )
    row = evaluation_row(api.engine, target, 2024)
    assert row is not None
    if status == 412:
        assert_problem(response, 412)
        assert snapshot(api.engine, CONTENT_TABLES) == before
        assert (row["status"], row["version"]) == ("unconfirmed", current)
    else:
        assert assert_json(response, 200)["status"] == "not_achieved"
        assert response.headers["etag"] == etag(evaluation_id, current + 1)
        assert (row["status"], row["version"]) == ("not_achieved", current + 1)


def test_put_evaluation_of_an_unknown_initiative_is_404(api: Api) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.put(
        evaluation_url(UNKNOWN_ID, 2024), json={"status": "achieved"}, headers=api.editor
    )
    assert_problem(response, 404)
    assert snapshot(api.engine, CONTENT_TABLES) == before


def test_a_racing_create_of_the_same_evaluation_is_a_declared_answer(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two PUTs create the same evaluation at once: the loser gets a declared problem, not 500."""
    import app.evaluations.service as evaluation_service

    target = initiative_id(api.engine, "R6-7")
    # The other PUT's row is there, but this one looked before it was.
    monkeypatch.setattr(evaluation_service, "_find", lambda *_args: None)
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.put(
        evaluation_url(target, 2024), json={"status": "not_achieved"}, headers=api.editor
    )
    assert response.status_code in (409, 412), response.text
    assert_problem(response, response.status_code)
    assert snapshot(api.engine, CONTENT_TABLES) == before
    operation = api.client.get("/openapi.json").json()["paths"][
        f"{API}/initiatives/{{initiative_id}}/evaluations/{{fiscal_year}}"
    ]["put"]
    assert str(response.status_code) in operation["responses"]


def test_delete_evaluation(api: Api) -> None:
    for code in EVALUATED:
        with case(code):
            delete_and_check_the_initiative(api, code)


def delete_and_check_the_initiative(api: Api, code: str) -> None:
    target = initiative_id(api.engine, code)
    year = SEED_INITIATIVES[code]["evaluation"]["fiscal_year"]
    version = must_row(api.engine, initiatives, target)["version"]
    url = evaluation_url(target, LABELS[year])

    response = api.client.delete(url, headers=api.editor)
    assert response.status_code == 204, response.text
    assert_problem(api.client.get(url), 404)
    assert evaluation_row(api.engine, target, year) is None
    initiative = assert_json(api.client.get(f"{API}/initiatives/{target}"), 200)
    assert initiative["version"] == version + 1
    assert initiative["latest_evaluation"] is None
    assert must_row(api.engine, initiatives, target)["version"] == version + 1

    before = snapshot(api.engine, CONTENT_TABLES)
    assert_problem(api.client.delete(url, headers=api.editor), 404)
    assert snapshot(api.engine, CONTENT_TABLES) == before


def test_delete_evaluation_with_a_stale_if_match_is_412(api: Api) -> None:
    target = initiative_id(api.engine, "R6-7")
    row = evaluation_row(api.engine, target, 2024)
    assert row is not None
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.delete(
        evaluation_url(target, 2024),
        headers={**api.editor, "If-Match": etag(row["id"], row["version"] + 1)},
    )
    assert_problem(response, 412)
    assert snapshot(api.engine, CONTENT_TABLES) == before
