"""The write side over HTTP (issue 3): CRUD, concurrency, integrity, validation, OpenAPI.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded
one) and checks both what the client sees (status, body, headers) and what the database holds
afterwards. Expected values come from the request, the seed file
(seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a response.
"""

import json
import threading
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
import pytest
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
from app.versions import Versioned
from tests.conftest import Api, etag
from tests.helpers import SEED, assert_problem, media_type, snapshot

API = "/api/v1"
PROBLEM = "application/problem+json"
UNKNOWN_ID = 999_999
BODY_LIMIT = 1024 * 1024  # API.md: JSON bodies of ordinary writes up to 1 MiB
PLAN_SLUG: str = SEED["plan"]["slug"]
PLAN_START: int = SEED["plan"]["start_fiscal_year"]
PLAN_END: int = SEED["plan"]["end_fiscal_year"]
SEED_INITIATIVES: dict[str, dict[str, Any]] = {item["code"]: item for item in SEED["initiatives"]}
EVALUATED = sorted(code for code, item in SEED_INITIATIVES.items() if "evaluation" in item)
REPORT_YEAR: int = SEED["report"]["fiscal_year"]
LABELS = {2023: "令和5年度", 2024: "令和6年度", 2025: "令和7年度", 2026: "令和8年度"}

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


# --------------------------------------------------------------------------------------------
# 1. Done when: the whole journey with a token, and the same without one
# --------------------------------------------------------------------------------------------

UNAUTHORIZED = {
    "no token": {},
    "unknown token": {"Authorization": "Bearer not-a-token-anybody-made"},
    "not bearer": {"Authorization": "Basic ZWRpdG9yOmVkaXRvcg=="},
}


def create_step(api: Api, method: str, path: str, body: Item) -> Item:
    """Refused without a valid token (nothing written), then 201 with one; return the body."""
    before = snapshot(api.engine, CONTENT_TABLES)
    for name, refused in UNAUTHORIZED.items():
        with case(f"{method} {path} {name}"):
            response = api.client.request(method, f"{API}{path}", json=body, headers=refused)
            assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert snapshot(api.engine, CONTENT_TABLES) == before

    response = api.client.request(method, f"{API}{path}", json=body, headers=api.editor)
    created = assert_json(response, 201)
    assert created["version"] == 1
    assert response.headers["etag"] == etag(created["id"], 1)
    location = response.headers["location"]
    again = api.client.get(location)
    assert assert_json(again, 200) == created
    assert again.headers["etag"] == etag(created["id"], 1)
    return created


def test_journey_plan_to_report(api: Api) -> None:
    counts = {name: count_rows(api.engine, table) for name, table in TABLES.items()}

    plan_in = new_plan_body()
    plan = create_step(api, "POST", "/plans", plan_in)
    assert {key: plan[key] for key in ("slug", "title", "municipality_code", "philosophy")} == {
        key: plan_in[key] for key in ("slug", "title", "municipality_code", "philosophy")
    }
    assert (plan["start_fiscal_year"], plan["end_fiscal_year"]) == (2025, 2028)
    assert plan["period_label"] == "令和7年度～令和10年度"

    policy_in = {"plan_id": plan["id"], "number": 1, "title": "市民サービスの質を高める"}
    policy = create_step(api, "POST", "/policies", policy_in)
    assert {key: policy[key] for key in policy_in} == policy_in

    measure_in = {"policy_id": policy["id"], "number": 1, "title": "行政手続のオンライン化"}
    measure = create_step(api, "POST", "/measures", measure_in)
    assert {key: measure[key] for key in measure_in} == measure_in
    assert measure["plan_id"] == plan["id"]

    # The same code as a seeded initiative: codes are unique inside a plan, not across plans.
    initiative_in = {
        "measure_id": measure["id"],
        "code": "R7-1",
        "title": "電子申請の拡充",
        "numeric_target": True,
        "target_value": 120.5,
        "target_unit": "手続",
    }
    initiative = create_step(api, "POST", "/initiatives", initiative_in)
    assert {key: initiative[key] for key in initiative_in} == initiative_in
    assert (initiative["plan_id"], initiative["policy_id"]) == (plan["id"], policy["id"])
    assert (initiative["fiscal_year"], initiative["fiscal_year_label"]) == (2025, LABELS[2025])
    assert initiative["latest_evaluation"] is None

    evaluation_in = {"status": "achieved", "actual_value": 130.0, "result": "130手続を電子化"}
    evaluation = create_step(
        api,
        "PUT",
        f"/initiatives/{initiative['id']}/evaluations/令和7年度",
        evaluation_in,
    )
    assert {key: evaluation[key] for key in evaluation_in} == evaluation_in
    assert (evaluation["initiative_id"], evaluation["code"]) == (initiative["id"], "R7-1")
    assert (evaluation["fiscal_year"], evaluation["fiscal_year_label"]) == (2025, LABELS[2025])
    assert evaluation["source"] is None

    report_in = {
        "plan_id": plan["id"],
        "fiscal_year": "R7",
        "title": "令和7年度の取組状況",
        "published_on": "2026-08-01",
        "lines": [{"policy_id": policy["id"], "items": 1, "achieved": 1, "unconfirmed": 0}],
        "highlights": [{"initiative_id": initiative["id"], "section": "added"}],
    }
    report = create_step(api, "POST", "/reports", report_in)
    assert (report["fiscal_year"], report["fiscal_year_label"]) == (2025, LABELS[2025])
    assert report["published_on"] == report_in["published_on"]
    assert report["lines"] == [{**report_in["lines"][0], "policy_number": 1}]
    assert report["highlights"] == [{**report_in["highlights"][0], "code": "R7-1"}]

    # The evaluation made the initiative a new version that shows it.
    shown = assert_json(get(api, f"/initiatives/{initiative['id']}"), 200)
    assert shown["version"] == 2
    assert shown["latest_evaluation"] == evaluation

    # The database: one new row in each table, holding what was sent.
    for name, table in TABLES.items():
        if name != "changes":
            assert count_rows(api.engine, table) == counts[name] + 1, name
    assert must_row(api.engine, plans, plan["id"])["slug"] == plan_in["slug"]
    assert must_row(api.engine, measures, measure["id"])["plan_id"] == plan["id"]
    stored = must_row(api.engine, initiatives, initiative["id"])
    assert (stored["plan_id"], stored["code"], stored["fiscal_year"]) == (plan["id"], "R7-1", 2025)
    assert stored["version"] == 2
    row = evaluation_row(api.engine, initiative["id"], 2025)
    assert row is not None and row["status"] == "achieved" and row["actual_value"] == 130.0
    report_row = must_row(api.engine, reports, report["id"])
    assert (report_row["plan_id"], report_row["fiscal_year"]) == (plan["id"], 2025)
    assert report_row["published_on"] == date(2026, 8, 1)
    lines = ids_where(api.engine, report_lines, report_lines.c.report_id == report["id"])
    highlights = ids_where(
        api.engine, report_highlights, report_highlights.c.report_id == report["id"]
    )
    assert len(lines) == 1 and len(highlights) == 1


# --------------------------------------------------------------------------------------------
# 2. PATCH: partial updates, versions, If-Match
# --------------------------------------------------------------------------------------------


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
BOOKKEEPING = {"version", "updated_at"}


def path_of(target: Target, engine: Engine) -> str:
    return f"/{target.kind}/{target.locate(engine)}"


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_patch_changes_only_the_fields_sent(api: Api, target: Target) -> None:
    row_id = target.locate(api.engine)
    before = must_row(api.engine, target.table, row_id)
    shown_before = assert_json(get(api, f"/{target.kind}/{row_id}"), 200)
    value = f"{before[target.field] or ''}（改訂）"

    response = api.client.patch(
        f"{API}/{target.kind}/{row_id}", json={target.field: value}, headers=api.editor
    )
    body = assert_json(response, 200)
    assert body[target.field] == value
    assert body["version"] == before["version"] + 1
    assert response.headers["etag"] == etag(row_id, before["version"] + 1)
    again = get(api, f"/{target.kind}/{row_id}")
    assert assert_json(again, 200) == body
    assert again.headers["etag"] == response.headers["etag"]

    after = must_row(api.engine, target.table, row_id)
    assert after[target.field] == value
    assert after["version"] == before["version"] + 1
    assert after["updated_at"] > before["updated_at"]
    unchanged = set(before) - BOOKKEEPING - {target.field}
    assert {key: after[key] for key in unchanged} == {key: before[key] for key in unchanged}
    assert stamp(body["updated_at"]) > stamp(shown_before["updated_at"])
    assert body["created_at"] == shown_before["created_at"]


SAME_VALUES: list[tuple[str, Table, Callable[[Engine], int], Callable[[dict[str, Any]], Item]]] = [
    ("plans", plans, plan_id, lambda row: {"title": row["title"], "slug": row["slug"]}),
    (
        "policies",
        policies,
        lambda engine: policy_id(engine, 1),
        lambda row: {"number": row["number"], "title": row["title"], "focus": row["focus"]},
    ),
    (
        "measures",
        measures,
        lambda engine: measure_id(engine, 1, 1),
        lambda row: {"policy_id": row["policy_id"], "title": row["title"]},
    ),
    (
        "initiatives",
        initiatives,
        lambda engine: initiative_id(engine, "R6-7"),
        lambda row: {
            "code": row["code"],
            "title": row["title"],
            "fiscal_year": row["fiscal_year"],
            "plan_page": row["plan_page"],
            "description": row["description"],
        },
    ),
    (
        "reports",
        reports,
        report_id,
        lambda row: {"title": row["title"], "fiscal_year": LABELS[row["fiscal_year"]]},
    ),
]


@pytest.mark.parametrize(
    ("kind", "table", "locate", "same"), SAME_VALUES, ids=[case[0] for case in SAME_VALUES]
)
def test_patch_with_the_same_values_keeps_the_version(
    api: Api,
    kind: str,
    table: Table,
    locate: Callable[[Engine], int],
    same: Callable[[dict[str, Any]], Item],
) -> None:
    row_id = locate(api.engine)
    before = snapshot(api.engine, CONTENT_TABLES)
    version = must_row(api.engine, table, row_id)["version"]

    response = api.client.patch(
        f"{API}/{kind}/{row_id}", json=same(must_row(api.engine, table, row_id)), headers=api.editor
    )
    body = assert_json(response, 200)
    assert body["version"] == version
    assert response.headers["etag"] == etag(row_id, version)
    assert snapshot(api.engine, CONTENT_TABLES) == before  # no UPDATE, no change-log entry


def test_patch_report_lines_replaces_them_and_the_same_lines_change_nothing(api: Api) -> None:
    row_id = report_id(api.engine)
    seeded = [
        {
            "policy_id": policy_id(api.engine, line["policy"]),
            "items": line["items"],
            "achieved": line["achieved"],
            "unconfirmed": line["unconfirmed"],
        }
        for line in SEED["report"]["lines"]
    ]
    version = must_row(api.engine, reports, row_id)["version"]
    before = snapshot(api.engine, CONTENT_TABLES)
    same = api.client.patch(
        f"{API}/reports/{row_id}", json={"lines": list(reversed(seeded))}, headers=api.editor
    )
    assert assert_json(same, 200)["version"] == version
    assert snapshot(api.engine, CONTENT_TABLES) == before

    changed = [{**seeded[0], "items": seeded[0]["items"] + 1}, *seeded[1:]]
    response = api.client.patch(
        f"{API}/reports/{row_id}", json={"lines": changed}, headers=api.editor
    )
    body = assert_json(response, 200)
    assert body["version"] == version + 1
    assert response.headers["etag"] == etag(row_id, version + 1)
    assert [line["items"] for line in body["lines"]] == [line["items"] for line in changed]
    with api.engine.connect() as connection:
        stored = connection.execute(
            select(report_lines.c.policy_id, report_lines.c["items"]).where(
                report_lines.c.report_id == row_id
            )
        ).all()
    assert sorted(tuple(row) for row in stored) == sorted(
        (line["policy_id"], line["items"]) for line in changed
    )
    # The highlights were not sent, so they stay.
    assert count_rows(
        api.engine, report_highlights, report_highlights.c.report_id == row_id
    ) == len(SEED["report"]["highlights"])


REQUIRED_FIELDS = [
    ("plans", "title"),
    ("plans", "slug"),
    ("plans", "municipality_code"),
    ("plans", "start_fiscal_year"),
    ("policies", "title"),
    ("policies", "number"),
    ("measures", "title"),
    ("measures", "policy_id"),
    ("initiatives", "title"),
    ("initiatives", "code"),
    ("initiatives", "measure_id"),
    ("initiatives", "fiscal_year"),
    ("initiatives", "numeric_target"),
    ("reports", "title"),
    ("reports", "fiscal_year"),
    ("reports", "lines"),
]


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_patch_null_for_a_required_field_is_422(api: Api, target: Target) -> None:
    path = path_of(target, api.engine)
    before = snapshot(api.engine, CONTENT_TABLES)
    fields = [field for kind, field in REQUIRED_FIELDS if kind == target.kind]
    assert fields
    for field in fields:
        with case(field):
            response = api.client.patch(f"{API}{path}", json={field: None}, headers=api.editor)
            assert_invalid(response, field)
            assert snapshot(api.engine, CONTENT_TABLES) == before


UNKNOWN_FIELDS = ["colour", "id", "version", "created_at", "plan_id_x"]


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_unknown_or_read_only_fields_are_422(api: Api, target: Target) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for field in UNKNOWN_FIELDS:
        with case(f"PATCH {field}"):
            response = api.client.patch(
                f"{API}{path_of(target, api.engine)}",
                json={target.field: "変更", field: 1},
                headers=api.editor,
            )
            assert_invalid(response, field)
            assert snapshot(api.engine, CONTENT_TABLES) == before
        with case(f"POST {field}"):
            body = {**create_body(api.engine, target.kind), field: 1}
            response = api.client.post(f"{API}/{target.kind}", json=body, headers=api.editor)
            assert_invalid(response, field)
            assert snapshot(api.engine, CONTENT_TABLES) == before


@pytest.mark.parametrize(
    ("kind", "field"),
    [("measures", "plan_id"), ("initiatives", "plan_id"), ("initiatives", "policy_id")],
)
def test_read_only_parents_cannot_be_sent(api: Api, kind: str, field: str) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    body = {**create_body(api.engine, kind), field: plan_id(api.engine)}
    assert_invalid(api.client.post(f"{API}/{kind}", json=body, headers=api.editor), field)
    assert snapshot(api.engine, CONTENT_TABLES) == before


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


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_patch_if_match(api: Api, target: Target) -> None:
    row_id = target.locate(api.engine)
    url = f"{API}/{target.kind}/{row_id}"
    for name, (header, status) in IF_MATCH.items():
        with case(name):
            old = must_row(api.engine, target.table, row_id)["version"]
            first = api.client.patch(url, json={target.field: f"{name} 一回目"}, headers=api.editor)
            current = assert_json(first, 200)["version"]
            assert current == old + 1

            headers = dict(api.editor)
            if header is not None:
                headers["If-Match"] = header.format(id=row_id, old=old, current=current)
            before = snapshot(api.engine, CONTENT_TABLES)
            response = api.client.patch(url, json={target.field: f"{name} 二回目"}, headers=headers)
            after = must_row(api.engine, target.table, row_id)
            if status in (412, 422):
                assert_problem(response, status)
                assert snapshot(api.engine, CONTENT_TABLES) == before
                assert (after[target.field], after["version"]) == (f"{name} 一回目", current)
            else:
                body = assert_json(response, 200)
                assert body["version"] == current + 1
                assert response.headers["etag"] == etag(row_id, current + 1)
                assert (after[target.field], after["version"]) == (f"{name} 二回目", current + 1)


def test_two_clients_with_if_match_cannot_overwrite_each_other(api: Api) -> None:
    row_id = initiative_id(api.engine, "R7-1")
    url = f"{API}/initiatives/{row_id}"
    tag_a = api.client.get(url).headers["etag"]
    tag_b = api.client.get(url).headers["etag"]
    assert tag_a == tag_b == etag(row_id, must_row(api.engine, initiatives, row_id)["version"])

    first = api.client.patch(
        url, json={"title": "クライアントAの題名"}, headers={**api.editor, "If-Match": tag_a}
    )
    assert assert_json(first, 200)["title"] == "クライアントAの題名"
    before = snapshot(api.engine, CONTENT_TABLES)
    second = api.client.patch(
        url, json={"title": "クライアントBの題名"}, headers={**api.editor, "If-Match": tag_b}
    )
    assert_problem(second, 412)
    assert snapshot(api.engine, CONTENT_TABLES) == before
    stored = must_row(api.engine, initiatives, row_id)
    assert stored["title"] == "クライアントAの題名"
    assert etag(row_id, stored["version"]) == first.headers["etag"] != tag_a


def updates_of(engine: Engine, initiative: int) -> int:
    return count_rows(
        engine,
        changes,
        changes.c.entity == "initiative",
        changes.c.entity_id == initiative,
        changes.c.action == "update",
    )


def test_two_clients_patching_at_the_same_time_one_wins_one_gets_412(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read version N and send If-Match N at once: one 200, one 412, no lost update.

    Both requests are held after their If-Match check until the other arrives there too (or a
    moment has passed, where the database lets only one writer in at a time), so the two writes
    really overlap wherever the database allows it.
    """
    from app.writes import check_if_match as real_check

    row_id = initiative_id(api.engine, R7)
    version = must_row(api.engine, initiatives, row_id)["version"]
    tag = api.client.get(f"{API}/initiatives/{row_id}").headers["etag"]
    assert tag == etag(row_id, version)
    both_checked = threading.Barrier(2, timeout=2)
    updates_before = updates_of(api.engine, row_id)

    def check_and_wait(if_match: str | None, current: Versioned) -> None:
        real_check(if_match, current)
        try:
            both_checked.wait()
        except threading.BrokenBarrierError:
            pass  # the other request is waiting for the database's write lock

    monkeypatch.setattr("app.initiatives.service.check_if_match", check_and_wait)
    titles = ["クライアントAの題名", "クライアントBの題名"]

    def send(title: str) -> httpx.Response:
        response: httpx.Response = api.client.patch(
            f"{API}/initiatives/{row_id}",
            json={"title": title},
            headers={**api.editor, "If-Match": tag},
        )
        return response

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(send, titles))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 412], [response.text for response in responses]
    winner = titles[[response.status_code for response in responses].index(200)]
    loser = responses[[response.status_code for response in responses].index(412)]
    assert_problem(loser, 412)
    stored = must_row(api.engine, initiatives, row_id)
    assert (stored["title"], stored["version"]) == (winner, version + 1)
    assert updates_of(api.engine, row_id) == updates_before + 1  # the loser logged nothing


DELETE_IF_MATCH = {key: IF_MATCH[key] for key in ("stale", "current", "star", "weak current")}


@pytest.mark.parametrize(
    ("header", "status"), list(DELETE_IF_MATCH.values()), ids=list(DELETE_IF_MATCH)
)
def test_delete_if_match(api: Api, header: str, status: int) -> None:
    row_id = report_id(api.engine)
    url = f"{API}/reports/{row_id}"
    old = must_row(api.engine, reports, row_id)["version"]
    current = assert_json(api.client.patch(url, json={"source": "改訂"}, headers=api.editor), 200)[
        "version"
    ]
    assert current == old + 1
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.delete(
        url, headers={**api.editor, "If-Match": header.format(id=row_id, old=old, current=current)}
    )
    if status == 412:
        assert_problem(response, 412)
        assert snapshot(api.engine, CONTENT_TABLES) == before
    else:
        assert response.status_code == 204, response.text
        assert response.content == b""
        assert row_of(api.engine, reports, row_id) is None
        assert count_rows(api.engine, report_lines, report_lines.c.report_id == row_id) == 0


# --------------------------------------------------------------------------------------------
# 3. PUT of an evaluation
# --------------------------------------------------------------------------------------------

R7 = "R7-1"  # seeded for 2025 with no evaluation
R7_YEAR = SEED_INITIATIVES[R7]["fiscal_year"]


def evaluation_url(initiative: int, year: int | str) -> str:
    return f"{API}/initiatives/{initiative}/evaluations/{year}"


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
            same = {key: seeded.get(key) for key in ("status", "actual_value", "result", "source")}
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


# --------------------------------------------------------------------------------------------
# 4. Derived fields: plan of a measure, fiscal year of a code, normalised codes, search
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# 5. Referential integrity
# --------------------------------------------------------------------------------------------

MISSING_PARENTS: list[tuple[str, str, Callable[[Engine], Item], list[Any]]] = [
    (
        "policies",
        "plan_id",
        lambda engine: {"plan_id": UNKNOWN_ID, "number": 9, "title": "方針"},
        ["body", "plan_id"],
    ),
    (
        "measures",
        "policy_id",
        lambda engine: {"policy_id": UNKNOWN_ID, "number": 9, "title": "施策"},
        ["body", "policy_id"],
    ),
    (
        "initiatives",
        "measure_id",
        lambda engine: {"measure_id": UNKNOWN_ID, "code": "R7-99", "title": "取組"},
        ["body", "measure_id"],
    ),
    (
        "reports",
        "plan_id",
        lambda engine: {"plan_id": UNKNOWN_ID, "fiscal_year": 2025, "title": "報告"},
        ["body", "plan_id"],
    ),
    (
        "reports",
        "lines",
        lambda engine: {
            "plan_id": plan_id(engine),
            "fiscal_year": 2025,
            "title": "報告",
            "lines": [
                {"policy_id": policy_id(engine, 1), "items": 1, "achieved": 1},
                {"policy_id": UNKNOWN_ID, "items": 1, "achieved": 1},
            ],
        },
        ["body", "lines", 1, "policy_id"],
    ),
    (
        "reports",
        "highlights",
        lambda engine: {
            "plan_id": plan_id(engine),
            "fiscal_year": 2025,
            "title": "報告",
            "highlights": [{"initiative_id": UNKNOWN_ID, "section": "added"}],
        },
        ["body", "highlights", 0, "initiative_id"],
    ),
]


@pytest.mark.parametrize(
    ("kind", "field", "body", "loc"),
    MISSING_PARENTS,
    ids=[f"{kind}-{field}" for kind, field, _, _ in MISSING_PARENTS],
)
def test_a_missing_parent_is_422_naming_the_field(
    api: Api, kind: str, field: str, body: Callable[[Engine], Item], loc: list[Any]
) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.post(f"{API}/{kind}", json=body(api.engine), headers=api.editor)
    assert loc in error_locs(assert_invalid(response, field))
    assert snapshot(api.engine, CONTENT_TABLES) == before


@pytest.mark.parametrize(
    ("part", "loc"),
    [
        ("lines", ["body", "lines", 0, "policy_id"]),
        ("highlights", ["body", "highlights", 0, "initiative_id"]),
    ],
)
def test_report_parts_must_belong_to_the_reports_plan(api: Api, part: str, loc: list[Any]) -> None:
    _, other_policy, other_measure = make_other_plan(api)
    other_initiative = post(
        api, "/initiatives", {"measure_id": other_measure, "code": "R7-5", "title": "他市の取組"}
    )
    parts: Item = {
        "lines": [{"policy_id": other_policy, "items": 1, "achieved": 0}],
        "highlights": [{"initiative_id": other_initiative["id"], "section": "added"}],
    }
    body = {**create_body(api.engine, "reports"), part: parts[part]}
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.post(f"{API}/reports", json=body, headers=api.editor)
    assert loc in error_locs(assert_invalid(response, part))
    assert snapshot(api.engine, CONTENT_TABLES) == before

    patched = api.client.patch(
        f"{API}/reports/{report_id(api.engine)}", json={part: parts[part]}, headers=api.editor
    )
    assert loc in error_locs(assert_invalid(patched, part))
    assert snapshot(api.engine, CONTENT_TABLES) == before


DUPLICATES: list[tuple[str, Callable[[Engine], Item], list[str]]] = [
    ("plans", lambda engine: new_plan_body(PLAN_SLUG), [PLAN_SLUG]),
    (
        "policies",
        lambda engine: {"plan_id": plan_id(engine), "number": 3, "title": "重複"},
        ["3", "number"],
    ),
    (
        "measures",
        lambda engine: {"policy_id": policy_id(engine, 2), "number": 3, "title": "重複"},
        ["3", "number"],
    ),
    (
        "initiatives",
        lambda engine: {"measure_id": measure_id(engine, 3, 3), "code": "R6-7", "title": "重複"},
        ["R6-7"],
    ),
    (
        "initiatives",
        lambda engine: {
            "measure_id": measure_id(engine, 1, 1),
            "code": "Ｒ６－７",
            "title": "重複",
        },
        ["R6-7"],
    ),
    (
        "reports",
        lambda engine: {"plan_id": plan_id(engine), "fiscal_year": "令和6年度", "title": "重複"},
        [LABELS[REPORT_YEAR]],
    ),
]


@pytest.mark.parametrize(
    ("kind", "body", "named"),
    DUPLICATES,
    ids=["plan-slug", "policy-number", "measure-number", "code", "full-width-code", "report-year"],
)
def test_a_duplicate_natural_key_is_409_naming_the_key(
    api: Api, kind: str, body: Callable[[Engine], Item], named: list[str]
) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.post(f"{API}/{kind}", json=body(api.engine), headers=api.editor)
    detail = assert_problem(response, 409)["detail"]
    for word in named:
        assert word in detail, (word, detail)
    assert snapshot(api.engine, CONTENT_TABLES) == before


PATCH_DUPLICATES: list[tuple[str, Callable[[Api], int], Item, str]] = [
    (
        "plans",
        lambda api: post(api, "/plans", new_plan_body())["id"],
        {"slug": PLAN_SLUG},
        PLAN_SLUG,
    ),
    ("policies", lambda api: policy_id(api.engine, 1), {"number": 3}, "3"),
    ("measures", lambda api: measure_id(api.engine, 1, 1), {"number": 3}, "3"),
    ("initiatives", lambda api: initiative_id(api.engine, "R6-7"), {"code": "R6-10"}, "R6-10"),
    ("initiatives", lambda api: initiative_id(api.engine, "R6-7"), {"code": "Ｒ６－１０"}, "R6-10"),
]


@pytest.mark.parametrize(
    ("kind", "locate", "change", "named"),
    PATCH_DUPLICATES,
    ids=["plan-slug", "policy-number", "measure-number", "code", "full-width-code"],
)
def test_patch_onto_a_taken_natural_key_is_409(
    api: Api, kind: str, locate: Callable[[Api], int], change: Item, named: str
) -> None:
    row_id = locate(api)
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.patch(f"{API}/{kind}/{row_id}", json=change, headers=api.editor)
    assert named in assert_problem(response, 409)["detail"]
    assert snapshot(api.engine, CONTENT_TABLES) == before


def test_patch_report_onto_a_taken_fiscal_year_is_409(api: Api) -> None:
    second = post(
        api, "/reports", {"plan_id": plan_id(api.engine), "fiscal_year": 2025, "title": "R7"}
    )
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.patch(
        f"{API}/reports/{second['id']}", json={"fiscal_year": "R6"}, headers=api.editor
    )
    assert LABELS[REPORT_YEAR] in assert_problem(response, 409)["detail"]
    assert snapshot(api.engine, CONTENT_TABLES) == before


def expected_descendants(engine: Engine, kind: str, row_id: int) -> dict[str, set[int]]:
    """The rows that go with a deleted row, found with plain joins."""
    if kind == "plans":
        the_policies = ids_where(engine, policies, policies.c.plan_id == row_id)
        the_measures = ids_where(engine, measures, measures.c.plan_id == row_id)
        the_initiatives = ids_where(engine, initiatives, initiatives.c.plan_id == row_id)
        the_reports = ids_where(engine, reports, reports.c.plan_id == row_id)
    elif kind == "policies":
        the_policies = {row_id}
        the_measures = ids_where(engine, measures, measures.c.policy_id == row_id)
        the_initiatives = ids_where(engine, initiatives, initiatives.c.measure_id.in_(the_measures))
        the_reports = set()
    elif kind == "measures":
        the_policies, the_measures, the_reports = set(), {row_id}, set()
        the_initiatives = ids_where(engine, initiatives, initiatives.c.measure_id == row_id)
    else:
        the_policies, the_measures, the_reports = set(), set(), set()
        the_initiatives = {row_id}
    found = {
        "plans": {row_id} if kind == "plans" else set(),
        "policies": the_policies,
        "measures": the_measures,
        "initiatives": the_initiatives,
        "evaluations": ids_where(
            engine, evaluations, evaluations.c.initiative_id.in_(the_initiatives)
        ),
        "reports": the_reports,
        "report_lines": ids_where(
            engine,
            report_lines,
            report_lines.c.report_id.in_(the_reports) | report_lines.c.policy_id.in_(the_policies),
        ),
        "report_highlights": ids_where(
            engine,
            report_highlights,
            report_highlights.c.report_id.in_(the_reports)
            | report_highlights.c.initiative_id.in_(the_initiatives),
        ),
    }
    return found


CASCADES: list[tuple[str, Callable[[Engine], int]]] = [
    ("plans", plan_id),
    ("policies", lambda engine: policy_id(engine, 1)),
    ("measures", lambda engine: measure_id(engine, 1, 1)),
    ("initiatives", lambda engine: initiative_id(engine, "R6-7")),  # has an evaluation
    ("initiatives", lambda engine: initiative_id(engine, "R7-1")),  # only a report highlight
]


@pytest.mark.parametrize(
    ("kind", "locate"), CASCADES, ids=["plan", "policy", "measure", "initiative", "highlighted"]
)
def test_delete_with_children_is_409_unless_cascade(
    api: Api, kind: str, locate: Callable[[Engine], int]
) -> None:
    row_id = locate(api.engine)
    headers = api.admin if kind == "plans" else api.editor
    # A second plan that must survive whatever happens to the first.
    other_plan, other_policy, other_measure = make_other_plan(api)
    survivors = {
        "plans": {other_plan},
        "policies": {other_policy},
        "measures": {other_measure},
    }
    gone = expected_descendants(api.engine, kind, row_id)
    assert sum(len(ids) for name, ids in gone.items() if name != kind) > 0  # it has children

    before = snapshot(api.engine, CONTENT_TABLES)
    refused = api.client.delete(f"{API}/{kind}/{row_id}", headers=headers)
    assert_problem(refused, 409)
    assert snapshot(api.engine, CONTENT_TABLES) == before
    refused = api.client.delete(f"{API}/{kind}/{row_id}?cascade=false", headers=headers)
    assert_problem(refused, 409)
    assert snapshot(api.engine, CONTENT_TABLES) == before

    counts = {name: ids_where(api.engine, TABLES[name]) for name in gone}
    response = api.client.delete(f"{API}/{kind}/{row_id}?cascade=true", headers=headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_problem(get(api, f"/{kind}/{row_id}"), 404)
    for name, ids in gone.items():
        remaining = ids_where(api.engine, TABLES[name])
        assert remaining == counts[name] - ids, name
        assert survivors.get(name, set()) <= remaining, name


def test_delete_a_leaf_is_204(api: Api) -> None:
    created = post(api, "/policies", create_body(api.engine, "policies"))
    response = api.client.delete(f"{API}/policies/{created['id']}", headers=api.editor)
    assert response.status_code == 204, response.text
    assert row_of(api.engine, policies, created["id"]) is None
    assert_problem(get(api, f"/policies/{created['id']}"), 404)


def test_delete_a_report_takes_its_lines_and_highlights(api: Api) -> None:
    row_id = report_id(api.engine)
    assert count_rows(api.engine, report_lines, report_lines.c.report_id == row_id) > 0
    response = api.client.delete(f"{API}/reports/{row_id}", headers=api.editor)
    assert response.status_code == 204, response.text
    assert row_of(api.engine, reports, row_id) is None
    assert count_rows(api.engine, report_lines, report_lines.c.report_id == row_id) == 0
    assert count_rows(api.engine, report_highlights, report_highlights.c.report_id == row_id) == 0
    # The initiatives and policies it named stay.
    assert count_rows(api.engine, initiatives) == len(SEED_INITIATIVES)
    assert count_rows(api.engine, policies) == len(SEED["policies"])


@pytest.mark.parametrize("cascade", ["", "?cascade=true"])
def test_plan_deletion_needs_admin(api: Api, cascade: str) -> None:
    row_id = plan_id(api.engine)
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.delete(f"{API}/plans/{row_id}{cascade}", headers=api.editor)
    assert_problem(response, 403)
    assert snapshot(api.engine, CONTENT_TABLES) == before

    unused = post(api, "/plans", new_plan_body())
    response = api.client.delete(f"{API}/plans/{unused['id']}", headers=api.editor)
    assert_problem(response, 403)
    assert row_of(api.engine, plans, unused["id"]) is not None
    response = api.client.delete(f"{API}/plans/{unused['id']}", headers=api.admin)
    assert response.status_code == 204, response.text
    assert row_of(api.engine, plans, unused["id"]) is None


def test_admin_deletes_the_seeded_plan_with_everything_in_it(api: Api) -> None:
    row_id = plan_id(api.engine)
    response = api.client.delete(f"{API}/plans/{row_id}?cascade=true", headers=api.admin)
    assert response.status_code == 204, response.text
    for table in CONTENT_TABLES:
        if table is not changes:
            assert count_rows(api.engine, table) == 0, table.name


UNKNOWN_PATHS = [
    "/plans/{unknown}",
    "/policies/{unknown}",
    "/measures/{unknown}",
    "/initiatives/{unknown}",
    "/reports/{unknown}",
    "/initiatives/{unknown}/evaluations/2024",
    "/initiatives/{r7}/evaluations/2025",  # the initiative exists, its evaluation does not
]


def test_unknown_ids_are_404(api: Api) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for path in UNKNOWN_PATHS:
        with case(f"DELETE {path}"):
            url = API + path.format(unknown=UNKNOWN_ID, r7=initiative_id(api.engine, R7))
            assert_problem(api.client.delete(url, headers=api.admin), 404)
            assert snapshot(api.engine, CONTENT_TABLES) == before
    for target in TARGETS:
        with case(f"PATCH {target.kind}"):
            response = api.client.patch(
                f"{API}/{target.kind}/{UNKNOWN_ID}", json={target.field: "x"}, headers=api.editor
            )
            assert_problem(response, 404)
            assert snapshot(api.engine, CONTENT_TABLES) == before


BAD_LINES: dict[str, Callable[[Engine], list[Item]]] = {
    "achieved + unconfirmed > items": lambda engine: [
        {"policy_id": policy_id(engine, 1), "items": 10, "achieved": 9, "unconfirmed": 2}
    ],
    "achieved > items": lambda engine: [
        {"policy_id": policy_id(engine, 1), "items": 10, "achieved": 11}
    ],
    "negative": lambda engine: [{"policy_id": policy_id(engine, 1), "items": -1, "achieved": 0}],
    "duplicate policy": lambda engine: [
        {"policy_id": policy_id(engine, 1), "items": 10, "achieved": 1},
        {"policy_id": policy_id(engine, 1), "items": 10, "achieved": 2},
    ],
}


def test_bad_report_lines_are_422(api: Api) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for name, lines in BAD_LINES.items():
        with case(f"POST {name}"):
            body = {**create_body(api.engine, "reports"), "lines": lines(api.engine)}
            response = api.client.post(f"{API}/reports", json=body, headers=api.editor)
            assert_invalid(response, "lines")
            assert snapshot(api.engine, CONTENT_TABLES) == before
        with case(f"PATCH {name}"):
            response = api.client.patch(
                f"{API}/reports/{report_id(api.engine)}",
                json={"lines": lines(api.engine)},
                headers=api.editor,
            )
            assert_invalid(response, "lines")
            assert snapshot(api.engine, CONTENT_TABLES) == before


def test_duplicate_initiative_in_highlights_is_422(api: Api) -> None:
    target = initiative_id(api.engine, R7)
    body = {
        **create_body(api.engine, "reports"),
        "highlights": [
            {"initiative_id": target, "section": "added"},
            {"initiative_id": target, "section": "implemented"},
        ],
    }
    before = snapshot(api.engine, CONTENT_TABLES)
    response = api.client.post(f"{API}/reports", json=body, headers=api.editor)
    assert ["body", "highlights", 1, "initiative_id"] in error_locs(assert_invalid(response))
    assert snapshot(api.engine, CONTENT_TABLES) == before


def test_report_outside_the_plan_period_is_422(api: Api) -> None:
    body = {**create_body(api.engine, "reports"), "fiscal_year": PLAN_END + 1}
    before = snapshot(api.engine, CONTENT_TABLES)
    assert_invalid(api.client.post(f"{API}/reports", json=body, headers=api.editor), "fiscal_year")
    assert snapshot(api.engine, CONTENT_TABLES) == before


# --------------------------------------------------------------------------------------------
# 6. Validation: lengths, text, numbers, JSON, types, body size
# --------------------------------------------------------------------------------------------


@pytest.fixture
def openapi(api: Api) -> Item:
    schema: Item = api.client.get("/openapi.json").json()
    return schema


def max_length(openapi: Item, schema: str, field: str) -> int:
    prop = openapi["components"]["schemas"][schema]["properties"][field]
    for option in [prop, *prop.get("anyOf", [])]:
        if "maxLength" in option:
            return int(option["maxLength"])
    raise AssertionError(f"{schema}.{field} declares no maxLength")


# (collection, create schema, field): each string field a client can send when creating.
STRING_FIELDS = [
    ("plans", "PlanCreate", "title"),
    ("plans", "PlanCreate", "municipality_name"),
    ("plans", "PlanCreate", "philosophy"),
    ("plans", "PlanCreate", "source"),
    ("plans", "PlanCreate", "license"),
    ("plans", "PlanCreate", "license_url"),
    ("plans", "PlanCreate", "attribution"),
    ("policies", "PolicyCreate", "title"),
    ("policies", "PolicyCreate", "focus"),
    ("measures", "MeasureCreate", "title"),
    ("initiatives", "InitiativeCreate", "title"),
    ("initiatives", "InitiativeCreate", "description"),
    ("initiatives", "InitiativeCreate", "target_unit"),
    ("reports", "ReportCreate", "title"),
    ("reports", "ReportCreate", "source"),
    ("evaluations", "EvaluationPut", "result"),
    ("evaluations", "EvaluationPut", "source"),
]


def max_length_hint(field: str) -> int:
    """Long narrative fields are left out of the combining-mark test (it is about counting)."""
    return 20_000 if field in ("source", "description", "result") else 0


def write_string(api: Api, kind: str, field: str, value: str) -> tuple[httpx.Response, Table]:
    if kind == "evaluations":
        url = evaluation_url(initiative_id(api.engine, R7), R7_YEAR)
        return api.client.put(url, json={field: value}, headers=api.editor), evaluations
    body = {**create_body(api.engine, kind), field: value}
    return api.client.post(f"{API}/{kind}", json=body, headers=api.editor), TABLES[kind]


def test_strings_over_their_maximum_are_422(api: Api, openapi: Item) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for kind, schema, field in STRING_FIELDS:
        with case(f"{schema}.{field}"):
            limit = max_length(openapi, schema, field)
            response, _ = write_string(api, kind, field, "あ" * (limit + 1))
            assert_invalid(response, field)
            assert snapshot(api.engine, CONTENT_TABLES) == before


@pytest.mark.parametrize(
    ("kind", "schema", "field"), STRING_FIELDS, ids=[f"{s}.{f}" for _, s, f in STRING_FIELDS]
)
def test_a_string_of_its_maximum_length_is_stored_whole(
    api: Api, openapi: Item, kind: str, schema: str, field: str
) -> None:
    limit = max_length(openapi, schema, field)
    value = "あ" * (limit - 1) + "終"
    response, table = write_string(api, kind, field, value)
    assert response.status_code == 201, response.text[:500]
    body = assert_json(response, 201)
    assert body[field] == value
    assert must_row(api.engine, table, body["id"])[field] == value


SHORT_FIELDS = [case for case in STRING_FIELDS if max_length_hint(case[2]) < 1000]


@pytest.mark.parametrize(
    ("kind", "schema", "field"), SHORT_FIELDS, ids=[f"{s}.{f}" for _, s, f in SHORT_FIELDS]
)
def test_combining_marks_count_once(
    api: Api, openapi: Item, kind: str, schema: str, field: str
) -> None:
    """A letter and its combining accent are one character after NFC: the maximum allows them."""
    limit = max_length(openapi, schema, field)
    value = "e\u0301" * limit
    assert len(unicodedata.normalize("NFC", value)) == limit
    response, table = write_string(api, kind, field, value)
    body = assert_json(response, 201)
    assert body[field] == value  # stored as given, for display
    assert must_row(api.engine, table, body["id"])[field] == value

    before = snapshot(api.engine, CONTENT_TABLES)
    if kind == "plans":
        over = {**create_body(api.engine, kind), "slug": "other-slug", field: value + "e\u0301"}
        refused = api.client.post(f"{API}/{kind}", json=over, headers=api.editor)
    else:
        refused, _ = write_string(api, kind, field, value + "e\u0301")
    assert_invalid(refused, field)
    assert snapshot(api.engine, CONTENT_TABLES) == before


BAD_TEXT = {
    "space": " ",
    "spaces and tabs": " \t \n",
    "ideographic space": "\u3000\u3000",
    "empty": "",
    "nul": "題名\u0000",
    "nul alone": "\u0000",
}


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_blank_or_nul_title_is_422(api: Api, target: Target) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for name, text in BAD_TEXT.items():
        with case(name):
            body = {**create_body(api.engine, target.kind), "title": text}
            response = api.client.post(f"{API}/{target.kind}", json=body, headers=api.editor)
            assert_invalid(response, "title")
            patched = api.client.patch(
                f"{API}{path_of(target, api.engine)}", json={"title": text}, headers=api.editor
            )
            assert_invalid(patched, "title")
            assert snapshot(api.engine, CONTENT_TABLES) == before


SURROGATES = {
    "title": '{{"measure_id": {measure}, "code": "R7-99", "title": "\\ud800"}}',
    "title, low": '{{"measure_id": {measure}, "code": "R7-99", "title": "題名\\udfff"}}',
    "description": (
        '{{"measure_id": {measure}, "code": "R7-99", "title": "題名", "description": "\\udc00"}}'
    ),
    "code": '{{"measure_id": {measure}, "code": "\\ud800", "title": "題名"}}',
    "key": '{{"measure_id": {measure}, "code": "R7-99", "title": "題名", "\\ud800": 1}}',
}


def test_a_lone_surrogate_is_422_not_500(api: Api) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for name, template in SURROGATES.items():
        with case(name):
            text = template.format(measure=measure_id(api.engine, 1, 1))
            assert "\\ud" in text  # the JSON escape is sent, not a character
            assert_invalid(send_raw(api, "POST", "/initiatives", text))
            assert snapshot(api.engine, CONTENT_TABLES) == before


NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", str(10**30), str(-(10**30))]


@pytest.mark.parametrize("number", NON_FINITE)
def test_non_finite_or_huge_numbers_are_422(api: Api, number: str) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    measure = measure_id(api.engine, 1, 1)
    r7, r6 = initiative_id(api.engine, R7), initiative_id(api.engine, "R6-7")
    attempts = {
        "POST target_value": (
            "POST",
            "/initiatives",
            f'{{"measure_id": {measure}, "code": "R7-99", "title": "題名",'
            f' "target_value": {number}}}',
            "target_value",
        ),
        "PATCH target_value": (
            "PATCH",
            f"/initiatives/{r7}",
            f'{{"target_value": {number}}}',
            "target_value",
        ),
        "PUT new actual_value": (
            "PUT",
            f"/initiatives/{r7}/evaluations/{R7_YEAR}",
            f'{{"actual_value": {number}}}',
            "actual_value",
        ),
        "PUT existing actual_value": (
            "PUT",
            f"/initiatives/{r6}/evaluations/2024",
            f'{{"status": "achieved", "actual_value": {number}}}',
            "actual_value",
        ),
    }
    for name, (method, path, text, field) in attempts.items():
        with case(name):
            assert_invalid(send_raw(api, method, path, text), field)
            assert snapshot(api.engine, CONTENT_TABLES) == before


def test_finite_numbers_within_bounds_are_stored(api: Api) -> None:
    target = initiative_id(api.engine, R7)
    for status, number in [(201, "1e15"), (200, "-1e15"), (200, "0"), (200, "87.1")]:
        with case(number):
            response = send_raw(
                api,
                "PUT",
                f"/initiatives/{target}/evaluations/{R7_YEAR}",
                f'{{"actual_value": {number}}}',
            )
            assert assert_json(response, status)["actual_value"] == float(number)
            row = evaluation_row(api.engine, target, R7_YEAR)
            assert row is not None and row["actual_value"] == float(number)


@pytest.mark.parametrize(
    ("field", "number"),
    [
        ("end_fiscal_year", "3000.0"),
        ("end_fiscal_year", "1e10"),
        ("end_fiscal_year", "NaN"),
        ("end_fiscal_year", str(10**30)),
        ("start_fiscal_year", "1900.0"),
        ("start_fiscal_year", "true"),
    ],
)
def test_fiscal_years_outside_the_range_are_422_however_written(
    api: Api, field: str, number: str
) -> None:
    """API.md: fiscal years from 1989 to the current year + 10, whichever way written."""
    years = {"start_fiscal_year": "2025", "end_fiscal_year": "2028", field: number}
    fixed = {key: value for key, value in new_plan_body().items() if key not in years}
    text = json.dumps(fixed)[:-1] + "".join(f', "{key}": {value}' for key, value in years.items())
    before = snapshot(api.engine, CONTENT_TABLES)
    response = send_raw(api, "POST", "/plans", text + "}")
    assert_invalid(response, field)
    assert snapshot(api.engine, CONTENT_TABLES) == before


def test_an_initiative_fiscal_year_as_a_float_outside_the_range_is_422(api: Api) -> None:
    measure = measure_id(api.engine, 1, 1)
    before = snapshot(api.engine, CONTENT_TABLES)
    response = send_raw(
        api,
        "POST",
        "/initiatives",
        f'{{"measure_id": {measure}, "code": "DX-1", "title": "題名", "fiscal_year": 3000.0}}',
    )
    assert_invalid(response, "fiscal_year")
    assert snapshot(api.engine, CONTENT_TABLES) == before


MALFORMED = {
    "truncated": '{"title": "題名',
    "truncated object": '{"title": "題名",',
    "unquoted key": "{title: 1}",
    "trailing comma": '{"title": "題名",}',
    "not json": "title=題名",
    "empty": "",
    "array": '["title"]',
    "string": '"title"',
    "null": "null",
    "single quotes": "{'title': '題名'}",
}


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
def test_malformed_json_is_422(api: Api, method: str) -> None:
    path = {
        "POST": "/policies",
        "PATCH": f"/policies/{policy_id(api.engine, 1)}",
        "PUT": f"/initiatives/{initiative_id(api.engine, R7)}/evaluations/{R7_YEAR}",
    }[method]
    before = snapshot(api.engine, CONTENT_TABLES)
    for name, text in MALFORMED.items():
        with case(name):
            assert_invalid(send_raw(api, method, path, text))
            assert snapshot(api.engine, CONTENT_TABLES) == before


def test_invalid_utf8_is_422(api: Api) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    response = send_raw(api, "POST", "/policies", b'{"title": "\xff\xfe"}')
    assert_invalid(response)
    assert snapshot(api.engine, CONTENT_TABLES) == before


WRONG_TYPES: list[tuple[str, str, Any]] = [
    ("plans", "title", 123),
    ("plans", "municipality_code", 172014),
    ("plans", "start_fiscal_year", [2023]),
    ("plans", "slug", "Not A Slug"),
    ("policies", "number", "one"),
    ("policies", "number", 0),
    ("policies", "number", 1.5),
    ("policies", "plan_id", "abc"),
    ("policies", "focus", {"text": "x"}),
    ("measures", "policy_id", [1]),
    ("initiatives", "numeric_target", "maybe"),
    ("initiatives", "plan_page", -1),
    ("initiatives", "target_value", "twelve"),
    ("reports", "published_on", "yesterday"),
    ("reports", "lines", {"policy_id": 1}),
    ("reports", "highlights", [{"initiative_id": 1, "section": "done"}]),
]


def test_wrong_types_are_422(api: Api) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for kind, field, value in WRONG_TYPES:
        with case(f"{kind}.{field}={value!r}"):
            body = {**create_body(api.engine, kind), field: value}
            response = api.client.post(f"{API}/{kind}", json=body, headers=api.editor)
            assert_invalid(response, field)
            assert snapshot(api.engine, CONTENT_TABLES) == before
    for status in ["done", "達成", "ACHIEVED", 1]:
        with case(f"status={status!r}"):
            response = api.client.put(
                evaluation_url(initiative_id(api.engine, R7), R7_YEAR),
                json={"status": status},
                headers=api.editor,
            )
            assert_invalid(response, "status")
            assert snapshot(api.engine, CONTENT_TABLES) == before


def big_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (a long string value)."""
    head, tail = b'{"title": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


WRITE_PATHS: list[tuple[str, Callable[[Engine], str]]] = [
    ("POST", lambda engine: "/plans"),
    ("POST", lambda engine: "/initiatives"),
    ("PATCH", lambda engine: f"/initiatives/{initiative_id(engine, R7)}"),
    ("PUT", lambda engine: f"/initiatives/{initiative_id(engine, R7)}/evaluations/2025"),
    ("PATCH", lambda engine: f"/reports/{report_id(engine)}"),
]
CREDENTIALS = ["editor", "none", "bad"]


def credentials(api: Api, which: str) -> dict[str, str]:
    return {
        "editor": api.editor,
        "none": {},
        "bad": {"Authorization": "Bearer not-a-token-anybody-made"},
    }[which]


@pytest.mark.parametrize(
    ("method", "path"), WRITE_PATHS, ids=[f"{m} {i}" for i, (m, _) in enumerate(WRITE_PATHS)]
)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_1_mib_is_413_before_authentication(
    api: Api, method: str, path: Callable[[Engine], str], chunked: bool
) -> None:
    """A declared length over the limit is refused before the token is looked at (API.md's
    order). A chunked body has no length to judge: its token is checked before any of it is
    read (issue #15), so without a good one it is 401, and with one it is 413 as soon as
    it passes the limit."""
    data = big_body(BODY_LIMIT + 1)
    before = snapshot(api.engine, CONTENT_TABLES)
    for who in CREDENTIALS:
        with case(who):
            headers = {**credentials(api, who), "Content-Type": "application/json"}
            content: bytes | Iterator[bytes] = chunks(data) if chunked else data
            response = api.client.request(
                method, f"{API}{path(api.engine)}", content=content, headers=headers
            )
            sent = response.request.headers
            if chunked:
                assert "content-length" not in sent
                assert sent["transfer-encoding"] == "chunked"
            else:
                assert sent["content-length"] == str(len(data))
            refused_token = chunked and who != "editor"
            assert_problem(response, 401 if refused_token else 413)
            assert snapshot(api.engine, CONTENT_TABLES) == before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_1_mib_is_read(api: Api, chunked: bool) -> None:
    """At the limit the body is parsed: valid JSON padded with white space is written."""
    target = initiative_id(api.engine, R7)
    text = json.dumps({"title": "上限ちょうどの本文"}).encode("utf-8")
    data = text + b" " * (BODY_LIMIT - len(text))
    assert len(data) == BODY_LIMIT
    response = api.client.patch(
        f"{API}/initiatives/{target}",
        content=chunks(data) if chunked else data,
        headers={**api.editor, "Content-Type": "application/json"},
    )
    assert assert_json(response, 200)["title"] == "上限ちょうどの本文"
    assert must_row(api.engine, initiatives, target)["title"] == "上限ちょうどの本文"


# --------------------------------------------------------------------------------------------
# 7. OpenAPI: every status a write can answer is declared, as problem+json
# --------------------------------------------------------------------------------------------

WRITE_OPERATIONS = {
    "create_plan",
    "update_plan",
    "delete_plan",
    "create_policy",
    "update_policy",
    "delete_policy",
    "create_measure",
    "update_measure",
    "delete_measure",
    "create_initiative",
    "update_initiative",
    "delete_initiative",
    "put_initiative_evaluation",
    "delete_initiative_evaluation",
    "create_report",
    "update_report",
    "delete_report",
}


def write_operations(openapi: Item) -> Iterator[tuple[str, str, Item]]:
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put", "patch", "delete") and path.startswith(API):
                yield method, path, operation


def expected_statuses(method: str, operation_id: str) -> set[int]:
    statuses = {401, 413, 422}
    if method in ("patch", "put", "delete"):
        statuses |= {404, 412}
    if method == "post":
        statuses.add(409)
    if operation_id == "delete_plan":
        statuses |= {403, 409}
    return statuses


def test_openapi_lists_every_write_operation(openapi: Item) -> None:
    found = {operation["operationId"] for _, _, operation in write_operations(openapi)}
    assert WRITE_OPERATIONS <= found


def test_openapi_write_operations_declare_their_problems(openapi: Item) -> None:
    problem = openapi["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    missing = []
    for method, path, operation in write_operations(openapi):
        responses = operation["responses"]
        for status in sorted(expected_statuses(method, operation["operationId"])):
            declared = responses.get(str(status))
            if declared is None:
                missing.append(f"{method.upper()} {path}: {status}")
                continue
            content = declared["content"][PROBLEM]
            assert content["schema"]["$ref"].endswith("/Problem"), (path, status)
            assert content["example"]["status"] == status, (path, status)
    assert missing == []
