"""The OpenAPI schema tells clients the truth: what it declares is what the server sends.

Each test makes real requests and compares the answers with the schema the app serves:
problem types, members left out rather than null, parameter limits, response headers.
"""

import re
import sqlite3
import tempfile
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
# The schema as the app serves it (this app never opens its database).
SCHEMA_ONLY = Settings(database_url=f"sqlite:///{tempfile.gettempdir()}/never-opened.db")
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
    the write is tried three times, then answered 503 (app/web/faults.py)."""

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


# --------------------------------------------------------------------------------------------
# Parameter limits: the declared bounds are the server's
# --------------------------------------------------------------------------------------------

# Path values of a request that passes validation and names nothing (404 after validation),
# so that nothing is written and no rule about stored data answers 422 instead.
PATH_VALUES = {
    "plan_id": 999999,
    "policy_id": 999999,
    "measure_id": 999999,
    "initiative_id": 999999,
    "report_id": 999999,
    "fiscal_year": 2024,
    "name": "plans",
    "format": "csv",
}
# A value of a given length that the parameter's pattern (if any) accepts.
FILLERS = {
    "code": lambda n: "A" * n,
    "q": lambda n: "あ" * n,
    "Idempotency-Key": lambda n: "k" * n,
    "If-Match": lambda n: '"' + "3" * (n - 2) + '"',
}
# For patterns: a value the pattern accepts (at its edge where it has one) and one it refuses.
PATTERN_CASES: dict[str, tuple[str, str]] = {
    "municipality_code": ("172014", "1720145"),
    "slug": ("a" * 64, "a" * 65),
    "sort": ("-id,id", "id,"),
    "code": ("R6-7", "-R6"),
    "Idempotency-Key": ("a key", "a\tkey"),
    "If-Match": ('"3"', "3"),
    "fiscal_year": ("令和6年度", "令和6年度x"),
    "q": ("デジタル 市民", "デジタル\x1b市民"),
}
LIMITS = ("maximum", "minimum", "maxLength", "minLength", "pattern")


def limit_cases(name: str, schema: dict[str, Any]) -> list[tuple[Any, bool, str]]:
    """(value, accepted, why) at and just past each limit the schema declares."""
    cases: list[tuple[Any, bool, str]] = []
    for branch in schema.get("anyOf", [schema]):
        if "maximum" in branch:
            top = branch["maximum"]
            cases += [(top, True, "at maximum"), (top + 1, False, "past maximum")]
        if "minimum" in branch:
            low = branch["minimum"]
            cases += [(low, True, "at minimum"), (low - 1, False, "past minimum")]
        if "maxLength" in branch:
            most = branch["maxLength"]
            cases += [
                (FILLERS[name](most), True, "at maxLength"),
                (FILLERS[name](most + 1), False, "past maxLength"),
            ]
        if branch.get("minLength", 0) > 1:
            raise AssertionError(f"{name}: add the cases of a minLength above 1")
        if branch.get("minLength") == 1:
            cases.append(("", False, "past minLength"))
        if "pattern" in branch:
            good, bad = PATTERN_CASES[name]
            cases += [(good, True, "matches pattern"), (bad, False, "breaks pattern")]
    return cases


def satisfies(schema: dict[str, Any], value: Any) -> bool:
    """Whether value meets the schema's type and limits (the keywords parameters use)."""
    if "anyOf" in schema:
        return any(satisfies(branch, value) for branch in schema["anyOf"])
    if schema.get("type") == "integer":
        return (
            isinstance(value, int)
            and value <= schema.get("maximum", value)
            and value >= schema.get("minimum", value)
        )
    if schema.get("type") == "string":
        return (
            isinstance(value, str)
            and schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value))
            and re.search(schema.get("pattern", ""), value) is not None
        )
    raise AssertionError(f"a parameter of another kind: {schema}")


def limited_parameters() -> list[tuple[str, str, str, dict[str, Any], dict[str, Any]]]:
    """(operationId, method, path, parameter, its schema) of every parameter with a limit."""
    found = []
    for path, item in OPENAPI["paths"].items():
        for method, declared in item.items():
            for parameter in declared.get("parameters", []):
                schema = resolve(parameter["schema"])
                branches = schema.get("anyOf", [schema])
                if any(limit in branch for branch in branches for limit in LIMITS):
                    found.append((declared["operationId"], method, path, parameter, schema))
    return found


def send(api: Api, method: str, path: str, location: str, name: str, value: Any) -> Any:
    values = {
        key: value if (location, key) == ("path", name) else v for key, v in PATH_VALUES.items()
    }
    url = path.format(**values)
    query = {name: value} if location == "query" else {}
    headers = dict(api.admin) if method.upper() in ("POST", "PUT", "PATCH", "DELETE") else {}
    if location == "header":
        headers[name] = str(value)
    body: dict[str, Any] = {"items": []} if "/bulk/" in path else {}
    if method.upper() in ("POST", "PUT", "PATCH"):
        return api.client.request(method, url, params=query, json=body, headers=headers)
    return api.client.request(method, url, params=query, headers=headers)


# Refusals of a value within its limits by a rule of the data it names (a fiscal year the
# plan does not run): not the parameter's limit.
DATA_RULES = {"outside_period"}


def names_parameter(response: Any, location: str, name: str) -> bool:
    """Whether the answer is a 422 with an error about this parameter's value as such."""
    if response.status_code != 422:
        return False
    return any(
        [str(part).lower() for part in error["loc"][:2]] == [location, name.lower()]
        and error["type"] not in DATA_RULES
        for error in response.json().get("errors", [])
    )


@pytest.mark.slow
def test_every_parameters_declared_limits_are_the_servers(api: Api) -> None:
    """At each declared limit the server accepts the value (no error about that parameter),
    one past it the server refuses it (422 naming the parameter); and the values used are
    at and past the limit by the schema's own reckoning."""
    wrong = []
    parameters = limited_parameters()
    assert len(parameters) > 60  # every operation's ids, pages, filters and headers
    for operation_id, method, path, parameter, schema in parameters:
        location, name = parameter["in"], parameter["name"]
        for value, accepted, why in limit_cases(name, schema):
            assert satisfies(schema, value) is accepted, (operation_id, name, why, value)
            refused = names_parameter(
                send(api, method, path, location, name, value), location, name
            )
            if refused is accepted:
                wrong.append(f"{operation_id} {location} {name}: {why} {str(value)[:40]!r}")
    assert wrong == [], "\n".join(wrong)


# --------------------------------------------------------------------------------------------
# Statistics: the JSON operation's answer is exactly its model; CSV is declared on its own
# --------------------------------------------------------------------------------------------

STATS = {
    "achievement": "Achievement",
    "trend": "Trend",
    "summary": "Summary",
    "targets": "Targets",
    "plans": "PlanComparison",
}


@pytest.mark.parametrize("name", STATS)
def test_a_statistics_json_answer_is_declared_as_its_model_alone(
    client: TestClient, name: str
) -> None:
    """A generated client gets the model, not `Model | string`, from the JSON operation; the
    CSV is another operation's answer. Both ways to CSV on the JSON path still work."""
    ok = operation(f"stats_{name}")["responses"]["200"]
    assert ok["content"] == {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{STATS[name]}"}}
    }
    as_csv = operation(f"stats_{name}_csv")["responses"]["200"]
    assert list(as_csv["content"]) == ["text/csv"]

    url = f"{API}/stats/{name}"
    answer = client.get(url)
    assert answer.headers["content-type"] == "application/json"
    csv = client.get(f"{url}.csv", params={"header": "en"})
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    for same in (
        client.get(url, params={"format": "csv", "header": "en"}),
        client.get(url, params={"header": "en"}, headers={"Accept": "text/csv"}),
    ):
        assert same.headers["content-type"] == csv.headers["content-type"]
        assert same.content == csv.content


# --------------------------------------------------------------------------------------------
# Response headers: declared where they are sent, sent where they are declared required
# --------------------------------------------------------------------------------------------

WATCHED = (
    "ETag",
    "Cache-Control",
    "Vary",
    "Link",
    "Location",
    "Content-Disposition",
    "WWW-Authenticate",
    "Retry-After",
    "X-Request-ID",
)


def assert_headers_as_declared(operation_id: str, response: Any) -> None:
    declared = operation(operation_id)["responses"][str(response.status_code)].get("headers", {})
    sent = {name for name in WATCHED if name.lower() in response.headers}
    assert sent <= set(declared), (operation_id, response.status_code, sent - set(declared))
    required = {name for name, header in declared.items() if header.get("required")}
    assert required <= sent, (operation_id, response.status_code, required - sent)


def test_response_headers_are_declared_where_they_are_sent(
    api: Api, fresh_url: str, scratch_url: str
) -> None:
    client, editor = api.client, api.editor
    answers: list[tuple[str, Any]] = []

    def read(operation_id: str, url: str, **params: Any) -> Any:
        """A read, and the same read again with the ETag it sent (304)."""
        first = client.get(url, params=params)
        again = client.get(url, params=params, headers={"If-None-Match": first.headers["etag"]})
        answers.extend([(operation_id, first), (operation_id, again)])
        return first

    read("get_plan", f"{API}/plans/1")
    read("get_initiative", f"{API}/initiatives/1")
    paged = read("list_plans", f"{API}/plans", limit=1)
    assert "link" not in paged.headers  # one plan: no other page
    paged = read("list_initiatives", f"{API}/initiatives", limit=1, offset=1)
    assert 'rel="next"' in paged.headers["link"] and 'rel="prev"' in paged.headers["link"]
    read("list_evaluations", f"{API}/evaluations")
    read("list_changes", f"{API}/changes")
    read("stats_achievement", f"{API}/stats/achievement")
    read("stats_achievement_csv", f"{API}/stats/achievement.csv")
    read("stats_plans_csv", f"{API}/stats/plans.csv")
    read("export_table", f"{API}/export/initiatives.csv")
    read("export_table", f"{API}/export/plans.json", plan_id=1)
    read("export_bundle", f"{API}/export/plans/1.zip")
    read("get_datapackage", f"{API}/export/plans/1/datapackage.json")
    read("get_catalog", f"{API}/catalog")
    answers += [
        ("healthz", client.get("/healthz")),
        ("readyz", client.get("/readyz")),
        ("get_plan", client.get(f"{API}/plans/999999")),
        ("list_plans", client.get(f"{API}/plans", params={"limit": 501})),
        ("create_plan", client.post(f"{API}/plans", json={})),
        ("create_plan", client.post(f"{API}/plans", json={}, headers=editor)),
    ]
    plan = {
        "slug": "nonoichi-2025-2028",
        "title": "野々市市行政経営プラン",
        "municipality_code": "172120",
        "municipality_name": "野々市市",
        "start_fiscal_year": 2025,
        "end_fiscal_year": 2028,
    }
    created = client.post(f"{API}/plans", json=plan, headers=editor)
    answers.append(("create_plan", created))
    plan_url = created.headers["location"]
    answers += [
        ("update_plan", client.patch(plan_url, json={"title": "変更"}, headers=editor)),
        ("update_plan", client.patch(plan_url, json={}, headers=editor | {"If-Match": '"1"'})),
        ("delete_report", client.delete(f"{API}/reports/1", headers=editor)),
    ]
    evaluation = f"{API}/initiatives/1/evaluations/2025"
    for _ in range(2):  # created (201), then replaced (200)
        put = client.put(evaluation, json={"status": "achieved"}, headers=editor)
        answers.append(("put_initiative_evaluation", put))
    answers.append(
        (
            "bulk_initiatives",
            client.post(
                f"{API}/bulk/initiatives?plan_id=1&dry_run=true",
                json={"items": [{"code": "R6-7"}]},
                headers=editor,
            ),
        )
    )
    limited = create_app(Settings(database_url=fresh_url, write_rate_limit="1/3600"))
    with TestClient(limited) as slow:
        slow.patch(f"{API}/plans/1", json={}, headers=editor)
        answers.append(("update_plan", slow.patch(f"{API}/plans/1", json={}, headers=editor)))
    limited.state.engine.dispose()
    unmigrated = create_app(Settings(database_url=scratch_url))
    with TestClient(unmigrated) as empty:
        answers.append(("readyz", empty.get("/readyz")))
    unmigrated.state.engine.dispose()

    statuses = {(operation_id, response.status_code) for operation_id, response in answers}
    assert statuses >= {
        ("get_plan", 304),
        ("create_plan", 201),
        ("create_plan", 401),
        ("update_plan", 412),
        ("update_plan", 429),
        ("put_initiative_evaluation", 201),
        ("put_initiative_evaluation", 200),
        ("delete_report", 204),
        ("readyz", 503),
    }, statuses
    for operation_id, response in answers:
        assert_headers_as_declared(operation_id, response)


def test_a_busy_writes_retry_after_is_declared(api: Api, busy_commits: None) -> None:
    response = api.client.patch(f"{API}/plans/1", json={"title": "x"}, headers=api.editor)
    assert response.status_code == 503
    assert_headers_as_declared("update_plan", response)


# --------------------------------------------------------------------------------------------
# Links: each declared link, followed from a real answer, leads to a successful call
# --------------------------------------------------------------------------------------------


def evaluate(expression: str, response: Any) -> Any:
    if expression.startswith("$response.header."):
        return response.headers[expression.removeprefix("$response.header.")]
    pointer = expression.removeprefix("$response.body#/")
    return response.json()[pointer]


def operation_at(operation_id: str) -> tuple[str, str]:
    for path, item in OPENAPI["paths"].items():
        for method, found in item.items():
            if found["operationId"] == operation_id:
                return method, path
    raise KeyError(operation_id)


def test_each_declared_link_leads_to_a_successful_call(api: Api) -> None:
    client, admin = api.client, api.admin
    made = iter(range(90, 200))

    def create(operation_id: str) -> Any:
        """A new resource of the operation's kind (its answer is the link's source)."""
        n = next(made)
        bodies: dict[str, tuple[str, dict[str, Any]]] = {
            "create_plan": (
                "/plans",
                {
                    "slug": f"plan-{n}",
                    "title": "行政経営プラン",
                    "municipality_code": "172120",
                    "municipality_name": "野々市市",
                    "start_fiscal_year": 2025,
                    "end_fiscal_year": 2028,
                },
            ),
            "create_policy": ("/policies", {"plan_id": 1, "number": n, "title": "基本方針"}),
            "create_measure": ("/measures", {"policy_id": 1, "number": n, "title": "施策"}),
            "create_initiative": (
                "/initiatives",
                {"measure_id": 1, "code": f"R7-{n}", "title": "取組"},
            ),
            "create_report": (
                "/reports",
                {"plan_id": 1, "fiscal_year": 2025, "title": "取組状況"},
            ),
        }
        if operation_id == "put_initiative_evaluation":
            initiative = create("create_initiative").json()["id"]
            url = f"{API}/initiatives/{initiative}/evaluations/2025"
            return client.put(url, json={"status": "achieved"}, headers=admin)
        path, body = bodies[operation_id]
        if operation_id == "create_report":  # one report per plan and year: free the year
            for listed in client.get(f"{API}/reports").json()["items"]:
                client.delete(f"{API}/reports/{listed['id']}", headers=admin)
        return client.post(f"{API}{path}", json=body, headers=admin)

    followed = []
    # From the answers that create (201): reads and updates have the same links, which take
    # the same values from the same members.
    for item in OPENAPI["paths"].values():
        for source in item.values():
            created = source["responses"].get("201", {})
            for name, link in created.get("links", {}).items():
                answer = create(source["operationId"])
                assert answer.status_code == 201, answer.text
                method, target = operation_at(link["operationId"])
                values, query, headers = {}, {}, dict(admin)
                for qualified, expression in link["parameters"].items():
                    location, parameter = qualified.split(".", 1)
                    value = evaluate(expression, answer)
                    if location == "path":
                        values[parameter] = value
                    elif location == "query":
                        query[parameter] = value
                    else:
                        headers[parameter] = value
                body = {"status": "not_achieved"} if method == "put" else {}
                called = client.request(
                    method,
                    target.format(**values),
                    params=query,
                    headers=headers,
                    **({"json": body} if method in ("put", "patch") else {}),
                )
                assert 200 <= called.status_code < 300, (name, called.text)
                followed.append((source["operationId"], name))
    assert len(followed) >= 20, followed
