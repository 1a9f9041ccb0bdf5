"""Initiatives' JSON objects kept under their id and version (app/kept_rows.py): a warm read
answers exactly what shaping the rows anew answers, after every kind of write that changes
what an initiative shows, and a warm page shapes no row.

Two apps on one database, both with answers kept per data version off (so every request
runs the route): `fresh` keeps no rows (ROW_CACHE_BYTES=0) and shapes every row it reads,
`kept` keeps them. Each request goes to both, `kept` twice (cold, then warm)."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.config import Settings
from app.initiatives import service
from app.main import create_app
from tests.conftest import Api

API = "/api/v1"
SAME_HEADERS = ("etag", "link", "cache-control", "vary", "content-type", "content-length")
PATHS = [
    f"{API}/initiatives",
    f"{API}/initiatives?limit=500",
    f"{API}/initiatives?limit=7&offset=3",
    f"{API}/initiatives?limit=5&offset=100000",
    f"{API}/initiatives?sort=-updated_at,title&limit=20",
    f"{API}/initiatives?sort=policy_number,-measure_number&limit=30&offset=10",
    f"{API}/initiatives?status=achieved",
    f"{API}/initiatives?status=none",
    f"{API}/initiatives?numeric_target=true",
    f"{API}/initiatives?fiscal_year=2024&measure_id=3",
    f"{API}/initiatives?policy_id=2&sort=code",
    f"{API}/initiatives?q=職員",
    f"{API}/initiatives?code=R6-13",
    f"{API}/initiatives?plan_id=999",
]


@pytest.fixture
def pair(api: Api, fresh_url: str) -> Iterator[tuple[TestClient, TestClient]]:
    """(fresh, kept): clients of the two apps on the api fixture's database."""
    clients = []
    for row_bytes in (0, 32 << 20):
        settings = Settings(database_url=fresh_url, answer_cache_bytes=0, row_cache_bytes=row_bytes)
        clients.append(TestClient(create_app(settings)).__enter__())
    yield clients[0], clients[1]
    for client in clients:
        client.__exit__(None, None, None)
        client.app.state.engine.dispose()  # type: ignore[attr-defined]


def _same(fresh: TestClient, kept: TestClient, path: str) -> httpx.Response:
    expected: httpx.Response = fresh.get(path)
    for attempt in ("cold", "warm"):
        answer = kept.get(path)
        assert answer.status_code == expected.status_code, (path, attempt)
        assert answer.content == expected.content, (path, attempt)
        for name in SAME_HEADERS:
            assert answer.headers.get(name) == expected.headers.get(name), (path, attempt, name)
    return expected


def _all_same(fresh: TestClient, kept: TestClient) -> list[dict[str, Any]]:
    for path in PATHS:
        _same(fresh, kept, path)
    items: list[dict[str, Any]] = _same(fresh, kept, f"{API}/initiatives?limit=500").json()["items"]
    for item in items:
        _same(fresh, kept, f"{API}/initiatives/{item['id']}")
    return items


def test_a_kept_object_is_byte_for_byte_the_shaped_one(
    pair: tuple[TestClient, TestClient],
) -> None:
    fresh, kept = pair
    items = _all_same(fresh, kept)
    assert len(items) > 10
    # A conditional request is answered from the same ETag.
    one = kept.get(f"{API}/initiatives/{items[0]['id']}")
    again = kept.get(
        f"{API}/initiatives/{items[0]['id']}", headers={"If-None-Match": one.headers["etag"]}
    )
    assert again.status_code == 304
    assert kept.get(f"{API}/initiatives/999999").status_code == 404


def _write(api: Api, method: str, path: str, body: Any = None) -> None:
    current = api.client.get(path)
    headers = dict(api.editor)
    if current.status_code == 200 and "etag" in current.headers and method != "PUT":
        headers["If-Match"] = current.headers["etag"]
    answer = api.client.request(method, path, json=body, headers=headers)
    assert answer.status_code in (200, 201, 204), answer.text


WRITES: list[tuple[str, Callable[[Api, dict[str, Any]], None]]] = [
    ("the initiative's own fields", lambda api, item: _write(
        api, "PATCH", f"{API}/initiatives/{item['id']}",
        {"title": "題名を変えた", "numeric_target": True, "target_value": 3.5}
    )),
    ("its code, which its latest evaluation shows", lambda api, item: _write(
        api, "PATCH", f"{API}/initiatives/{item['id']}", {"code": item["code"] + "0"}
    )),
    ("a new latest evaluation", lambda api, item: _write(
        api, "PUT", f"{API}/initiatives/{item['id']}/evaluations/R8",
        {"status": "not_achieved", "result": "新しい結果"}
    )),
    ("its latest evaluation deleted", lambda api, item: _write(
        api, "DELETE",
        f"{API}/initiatives/{item['id']}/evaluations/{item['latest_evaluation']['fiscal_year']}",
    )),
    ("its measure renumbered", lambda api, item: _write(
        api, "PATCH", f"{API}/measures/{item['measure_id']}", {"number": 77}
    )),
    ("its policy renumbered", lambda api, item: _write(
        api, "PATCH", f"{API}/policies/{item['policy_id']}", {"number": 8}
    )),
    ("its measure moved to another policy", lambda api, item: _write(
        api, "PATCH", f"{API}/measures/{item['measure_id']}",
        {"policy_id": 3 if item["policy_id"] != 3 else 2, "number": 66}
    )),
    ("evaluations uploaded in bulk", lambda api, item: _write(
        api, "POST", f"{API}/bulk/evaluations?plan_id={item['plan_id']}",
        {"items": [{"code": item["code"], "fiscal_year": 2026, "status": "achieved",
                    "result": "一括で更新"}]},
    )),
]  # fmt: skip


@pytest.mark.parametrize("write", [write for _, write in WRITES], ids=[name for name, _ in WRITES])
def test_a_write_is_seen_through_the_kept_objects(
    api: Api, pair: tuple[TestClient, TestClient], write: Callable[[Api, dict[str, Any]], None]
) -> None:
    fresh, kept = pair
    before = _all_same(fresh, kept)  # every object kept
    item = next(item for item in before if item["latest_evaluation"] and item["code"] == "R6-13")
    write(api, item)
    after = _all_same(fresh, kept)
    assert after != before, "the write changed what is read"


def test_a_warm_page_shapes_no_row(
    pair: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fresh, kept = pair
    shaped: list[int] = []
    projection = service._json

    def counting(row: dict[str, Any]) -> dict[str, Any]:
        shaped.append(row["id"])
        return projection(row)

    monkeypatch.setattr(service, "_json", counting)
    first = kept.get(f"{API}/initiatives?limit=10")
    assert len(shaped) == 10
    assert kept.get(f"{API}/initiatives?limit=10").content == first.content
    assert kept.get(f"{API}/initiatives?limit=5&offset=2&sort=code").status_code == 200
    one = first.json()["items"][3]["id"]
    assert kept.get(f"{API}/initiatives/{one}").json()["id"] == one
    assert len(shaped) == 10, "the objects of rows read before are not shaped again"
    kept.get(f"{API}/initiatives?limit=500")  # a page with rows not read before
    assert len(shaped) == 10 + kept.get(f"{API}/initiatives").json()["total"]


def test_kept_objects_stay_within_their_bytes(api: Api, fresh_url: str) -> None:
    one = len(api.client.get(f"{API}/initiatives/1").content)
    settings = Settings(database_url=fresh_url, answer_cache_bytes=0, row_cache_bytes=3 * one)
    with TestClient(create_app(settings)) as small:
        for path in PATHS:
            assert small.get(path).content == api.client.get(path).content, path
        kept = small.app.state.kept_rows  # type: ignore[attr-defined]
        assert 0 < kept._items.weight <= 3 * one
        small.app.state.engine.dispose()  # type: ignore[attr-defined]


def test_an_object_is_named_by_its_id_and_version(
    api: Api, pair: tuple[TestClient, TestClient]
) -> None:
    """What a write outside the service that leaves the version as it was would not be seen
    by: the service's writes all move it (the tests above), and so must any other."""
    fresh, kept = pair
    kept.get(f"{API}/initiatives/1")
    with api.engine.begin() as connection:
        connection.execute(text("UPDATE initiatives SET title = 'behind its back' WHERE id = 1"))
    assert fresh.get(f"{API}/initiatives/1").json()["title"] == "behind its back"
    assert kept.get(f"{API}/initiatives/1").json()["title"] != "behind its back"
    with api.engine.begin() as connection:
        connection.execute(text("UPDATE initiatives SET version = version + 1 WHERE id = 1"))
    assert kept.get(f"{API}/initiatives/1").json()["title"] == "behind its back"
