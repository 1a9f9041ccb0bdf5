"""The OpenAPI schema tells clients the truth: what it declares is what the server sends.

Each test makes real requests and compares the answers with the schema the app serves:
problem types, members left out rather than null, parameter limits, response headers.
"""

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session as OrmSession

from app.config import Settings
from app.db import SQLITE_BEGIN
from app.main import create_app
from tests.conftest import Api

API = "/api/v1"
SCHEMA_ONLY = Settings(database_url="sqlite:///never-opened.db")
OPENAPI: dict[str, Any] = create_app(SCHEMA_ONLY).openapi()


def operation(operation_id: str) -> dict[str, Any]:
    for item in OPENAPI["paths"].values():
        for found in item.values():
            if found.get("operationId") == operation_id:
                return dict(found)
    raise KeyError(operation_id)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = OPENAPI["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


# --------------------------------------------------------------------------------------------
# Problem types
# --------------------------------------------------------------------------------------------


def declared_type(operation_id: str, status: int) -> str:
    response = operation(operation_id)["responses"][str(status)]
    example: dict[str, Any] = response["content"]["application/problem+json"]["example"]
    assert example["status"] == status
    return str(example["type"])


def test_no_problem_example_says_about_blank() -> None:
    """A route's problems are ours: each declared example names the type the server sends
    (the types per status are compared with real answers below)."""
    blank = [
        f"{method.upper()} {path} {status}"
        for path, item in OPENAPI["paths"].items()
        for method, found in item.items()
        for status, response in found["responses"].items()
        if response.get("content", {}).get("application/problem+json", {}).get("example", {})
        and response["content"]["application/problem+json"]["example"]["type"] == "about:blank"
    ]
    assert blank == []


@pytest.fixture
def busy_commits() -> Iterator[None]:
    """Every write transaction's commit fails as SQLite's "database is locked" (transient):
    the write is tried three times, then answered 503 (app/retry.py)."""

    def before_commit(session: OrmSession) -> None:
        if session.connection().get_execution_options().get(SQLITE_BEGIN) == "IMMEDIATE":
            driver = sqlite3.OperationalError("database is locked")
            driver.sqlite_errorcode = sqlite3.SQLITE_BUSY
            raise OperationalError("COMMIT", None, driver)

    event.listen(OrmSession, "before_commit", before_commit)
    yield
    event.remove(OrmSession, "before_commit", before_commit)


def test_each_problem_status_is_sent_with_the_declared_type(
    api: Api, fresh_url: str, scratch_url: str
) -> None:
    client, editor = api.client, api.editor
    big = {"title": "x" * (1024 * 1024 + 1)}
    cases: list[tuple[str, int, Any]] = [
        ("create_plan", 401, client.post(f"{API}/plans", json={})),
        ("delete_plan", 403, client.delete(f"{API}/plans/1", headers=editor)),
        ("get_plan", 404, client.get(f"{API}/plans/999999")),
        (
            "update_initiative",
            404,
            client.patch(f"{API}/initiatives/999999", json={}, headers=editor),
        ),
        ("delete_policy", 409, client.delete(f"{API}/policies/1", headers=editor)),
        (
            "update_plan",
            412,
            client.patch(f"{API}/plans/1", json={}, headers=editor | {"If-Match": '"999"'}),
        ),
        ("update_plan", 413, client.patch(f"{API}/plans/1", json=big, headers=editor)),
        (
            "bulk_initiatives",
            415,
            client.post(
                f"{API}/bulk/initiatives",
                content=b"R6-7",
                headers=editor | {"Content-Type": "text/plain"},
            ),
        ),
        ("list_plans", 422, client.get(f"{API}/plans", params={"limit": 501})),
        ("create_plan", 422, client.post(f"{API}/plans", json={}, headers=editor)),
    ]
    limited = create_app(Settings(database_url=fresh_url, write_rate_limit="1/3600"))
    with TestClient(limited) as slow:
        slow.patch(f"{API}/plans/1", json={}, headers=editor)
        cases.append(("update_plan", 429, slow.patch(f"{API}/plans/1", json={}, headers=editor)))
    limited.state.engine.dispose()
    unmigrated = create_app(Settings(database_url=scratch_url))
    with TestClient(unmigrated) as empty:
        cases.append(("readyz", 503, empty.get("/readyz")))
    unmigrated.state.engine.dispose()

    for operation_id, status, response in cases:
        assert response.status_code == status, (operation_id, response.text)
        assert response.json()["type"] == declared_type(operation_id, status), operation_id


def test_a_write_the_database_kept_refusing_is_sent_with_the_declared_type(
    api: Api, busy_commits: None
) -> None:
    response = api.client.patch(f"{API}/plans/1", json={"title": "x"}, headers=api.editor)
    assert response.status_code == 503, response.text
    assert response.json()["type"] == declared_type("update_plan", 503)


# --------------------------------------------------------------------------------------------
# Optional members: left out when they have no value, never null
# --------------------------------------------------------------------------------------------

# The members of answers that are left out when they have no value; every other member of
# an answer is in every answer (null where the schema allows it).
ABSENT_WHEN_EMPTY = {
    ("Problem", "errors"),
    ("ErrorDetail", "row"),
    ("ErrorDetail", "line"),
    ("RowOutcome", "fiscal_year"),
}


def response_components() -> set[str]:
    """The names of the component schemas an answer (of any status) can contain."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    walk(OPENAPI["components"]["schemas"][name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for item in OPENAPI["paths"].values():
        for found_operation in item.values():
            walk(found_operation["responses"])
    return found


def nullable(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(option.get("type") == "null" for option in options)


def test_answers_members_are_required_or_left_out_never_optional_and_null() -> None:
    optional, optional_null = set(), set()
    for name in response_components():
        schema = OPENAPI["components"]["schemas"][name]
        required = set(schema.get("required", []))
        for member, declared in schema.get("properties", {}).items():
            if member not in required:
                optional.add((name, member))
                if nullable(declared):
                    optional_null.add((name, member))
    assert optional_null == set()
    assert optional == ABSENT_WHEN_EMPTY


def assert_declared_left_out(component: str, member: str) -> None:
    """The schema says what the server does: the member may be absent, and is never null."""
    schema = OPENAPI["components"]["schemas"][component]
    assert member not in schema.get("required", []), (component, member)
    assert not nullable(schema["properties"][member]), (component, member)


def assert_declared_required(component: str, member: str) -> None:
    assert member in OPENAPI["components"]["schemas"][component]["required"], (component, member)


def test_members_left_out_are_absent_and_the_others_present(api: Api) -> None:
    client = api.client
    not_found = client.get(f"{API}/plans/999999").json()
    assert "errors" not in not_found
    assert_declared_left_out("Problem", "errors")
    invalid = client.get(f"{API}/plans", params={"limit": 501}).json()
    assert invalid["errors"] and all("row" not in error for error in invalid["errors"])
    assert all("line" not in error for error in invalid["errors"])
    assert_declared_left_out("ErrorDetail", "row")
    assert_declared_left_out("ErrorDetail", "line")

    bad_rows = client.post(
        f"{API}/bulk/evaluations?plan_id=1",
        content="取組番号,年度,評価\r\nR6-7,令和6年度,だめ\r\n".encode(),
        headers=api.editor | {"Content-Type": "text/csv"},
    )
    assert bad_rows.status_code == 422, bad_rows.text
    [error] = bad_rows.json()["errors"]
    assert (error["row"], error["line"]) == (0, 2)

    initiatives = client.post(
        f"{API}/bulk/initiatives?plan_id=1&dry_run=true",
        json={"items": [{"code": "R6-7"}]},
        headers=api.editor,
    )
    assert initiatives.status_code == 200, initiatives.text
    assert initiatives.json()["rows"] == [{"row": 0, "code": "R6-7", "action": "unchanged"}]
    assert_declared_left_out("RowOutcome", "fiscal_year")
    evaluations = client.post(
        f"{API}/bulk/evaluations?plan_id=1&dry_run=true",
        json={"items": [{"code": "R6-7", "fiscal_year": 2024}]},
        headers=api.editor,
    )
    assert evaluations.status_code == 200, evaluations.text
    [row] = evaluations.json()["rows"]
    assert row["fiscal_year"] == 2024

    for name, component in (
        ("achievement", "Achievement"),
        ("trend", "Trend"),
        ("plans", "PlanComparison"),
    ):
        answer = client.get(f"{API}/stats/{name}").json()
        assert answer["method"], name
        assert_declared_required(component, "method")
