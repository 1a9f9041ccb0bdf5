"""The write side over HTTP (issue 3): PATCH: partial updates, versions, If-Match.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded
one) and checks both what the client sees (status, body, headers) and what the database holds
afterwards. Expected values come from the request, the seed file
(seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a response.
"""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, Table, select

from app.models import (
    changes,
    initiatives,
    measures,
    plans,
    policies,
    report_highlights,
    report_lines,
    reports,
)
from app.text import search_fold
from app.versions import Versioned
from tests.conftest import Api, etag
from tests.helpers import API, LABELS, SEED, assert_problem, snapshot
from tests.writes_helpers import (
    CONTENT_TABLES,
    IF_MATCH,
    R7,
    TARGET_IDS,
    TARGETS,
    Item,
    Target,
    assert_invalid,
    assert_json,
    case,
    count_rows,
    create_body,
    get,
    initiative_id,
    measure_id,
    must_row,
    path_of,
    plan_id,
    policy_id,
    report_id,
    row_of,
    stamp,
)

BOOKKEEPING = {"version", "updated_at"}


@pytest.mark.slow
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
    # A search key follows the fields it is made of (app/text.py), and only them.
    derived = {"search_text"} & set(before)
    for key in derived - {target.field}:
        if after[key] != before[key]:
            assert search_fold(value) in after[key].split("\n"), key
    unchanged = set(before) - BOOKKEEPING - derived - {target.field}
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


@pytest.mark.slow
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
            "provenance": line.get("provenance", "stated"),
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
