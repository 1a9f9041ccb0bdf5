"""The write side over HTTP (issue 3): validation: lengths, text, numbers, JSON, types, body size.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded
one) and checks both what the client sees (status, body, headers) and what the database holds
afterwards. Expected values come from the request, the seed file
(seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a response.
"""

import json
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, Table

from app.models import (
    evaluations,
    initiatives,
    plans,
)
from tests.conftest import Api
from tests.helpers import API, assert_problem, snapshot
from tests.writes_helpers import (
    BODY_LIMIT,
    CONTENT_TABLES,
    R7,
    R7_YEAR,
    TABLES,
    TARGET_IDS,
    TARGETS,
    Item,
    Target,
    assert_invalid,
    assert_json,
    case,
    create_body,
    evaluation_row,
    evaluation_url,
    initiative_id,
    measure_id,
    must_row,
    new_plan_body,
    path_of,
    policy_id,
    report_id,
    send_raw,
)


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


@pytest.mark.slow
def test_strings_over_their_maximum_are_422(api: Api, openapi: Item) -> None:
    before = snapshot(api.engine, CONTENT_TABLES)
    for kind, schema, field in STRING_FIELDS:
        with case(f"{schema}.{field}"):
            limit = max_length(openapi, schema, field)
            response, _ = write_string(api, kind, field, "あ" * (limit + 1))
            assert_invalid(response, field)
            assert snapshot(api.engine, CONTENT_TABLES) == before


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_not_sent_as_json_is_told_so(api: Api, content_type: str | None) -> None:
    """A script that forgot `-H 'Content-Type: application/json'` (curl sends a form's type)
    is told what to send, not that its body is no "valid dictionary"."""
    headers = dict(api.editor) | ({"Content-Type": content_type} if content_type else {})
    before = snapshot(api.engine, (plans,))
    response = api.client.patch(f"{API}/plans/1", content=b'{"philosophy": "x"}', headers=headers)
    body = assert_problem(response, 422)
    assert body["errors"] == [
        {
            "loc": ["body"],
            "msg": "send the body as JSON, with Content-Type: application/json"
            f" (it was {content_type or 'none'!r})",
            "type": "body_not_json",
        }
    ]
    assert snapshot(api.engine, (plans,)) == before
