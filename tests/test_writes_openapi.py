"""The write side over HTTP (issue 3): OpenAPI: every status a write can answer is declared, as
problem+json.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded
one) and checks both what the client sees (status, body, headers) and what the database holds
afterwards. Expected values come from the request, the seed file
(seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a response.
"""

from collections.abc import Iterator

from tests.helpers import API, PROBLEM
from tests.writes_helpers import Item

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


def test_a_bulk_uploads_409_is_declared_as_the_key_still_running(openapi: Item) -> None:
    """What a script reads in the schema is what it gets (tests/test_bulk_idempotency.py): the
    409 of a resend while its first upload runs, with its Retry-After."""
    for table in ("initiatives", "evaluations"):
        declared = openapi["paths"][f"{API}/bulk/{table}"]["post"]["responses"]["409"]
        example = declared["content"][PROBLEM]["example"]
        assert example["type"] == "urn:plan-progress:problem:idempotency-key-in-use"
        assert "still running" in example["detail"]
        assert declared["headers"]["Retry-After"]["required"] is False
