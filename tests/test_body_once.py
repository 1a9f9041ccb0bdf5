"""A write's JSON body is parsed once, by the strict parser (app/web/jsonbody.py)."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
import starlette.requests
from fastapi.routing import APIRoute

import app.bulk.parse
import app.web.jsonbody
from app.main import create_app
from app.web.edge import WRITE_METHODS
from app.web.jsonbody import StrictJsonRoute
from tests.conftest import Api


class _CountingJson:
    """The json module, with its loads counted."""

    def __init__(self) -> None:
        self.calls = 0

    def loads(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return json.loads(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(json, name)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[_CountingJson]:
    counting = _CountingJson()
    monkeypatch.setattr(app.web.jsonbody, "json", counting)
    monkeypatch.setattr(starlette.requests, "json", counting)
    # The bulk routes read their own bodies: any json module of theirs counts too.
    monkeypatch.setattr(app.bulk.parse, "json", counting, raising=False)
    yield counting


def test_every_api_route_reads_json_strictly() -> None:
    included = [
        route.original_router  # FastAPI keeps an included router as it was declared
        for route in create_app().routes
        if hasattr(route, "original_router")
    ]
    routes = [
        route
        for router in included
        for route in router.routes
        if isinstance(route, APIRoute)
        and not route.path.startswith(("/healthz", "/readyz", "/metrics"))
    ]
    writes = [route for route in routes if (route.methods or set()) & WRITE_METHODS]
    assert writes
    assert [route.path for route in routes if not isinstance(route, StrictJsonRoute)] == []


def test_a_write_parses_its_body_once(api: Api, parses: _CountingJson) -> None:
    answer = api.client.put(
        "/api/v1/initiatives/1/evaluations/R6",
        content=b'{"status": "achieved"}',
        headers={**api.editor, "Content-Type": "application/json"},
    )
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["status"] == "achieved"
    assert parses.calls == 1


def test_a_member_twice_is_still_refused_at_the_one_parse(api: Api, parses: _CountingJson) -> None:
    answer = api.client.put(
        "/api/v1/initiatives/1/evaluations/R6",
        content=b'{"status": "achieved", "status": "unconfirmed"}',
        headers={**api.editor, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert "'status' appears twice" in answer.json()["detail"]
    assert parses.calls == 1


def test_a_bulk_upload_parses_its_body_once(api: Api, parses: _CountingJson) -> None:
    answer = api.client.post(
        "/api/v1/bulk/evaluations?plan_id=1",
        content=json.dumps(
            {"items": [{"code": "R6-7", "fiscal_year": 2024, "status": "achieved"}]}
        ).encode(),
        headers={**api.editor, "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    assert parses.calls == 1
