"""Every resource read through the one read path (app/reads.py: Prepared statements, a
Listing, a Projection) answers exactly what its response model writes from the rows as
SQLAlchemy reads them: the same JSON in a list, in a GET of one, and after a write."""

import inspect
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import Table, select, text
from sqlmodel import Session

from app.changes.schemas import ChangeFeed
from app.config import Settings
from app.db import get_session
from app.evaluations.schemas import EvaluationPublic
from app.main import create_app
from app.measures.schemas import MeasurePublic
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
from app.plans.schemas import PlanPublic
from app.policies.schemas import PolicyPublic
from app.reports.schemas import ReportPublic
from app.wareki import fiscal_year_label, period_label
from tests.conftest import Api

Expected = Callable[[Session], dict[int, BaseModel]]


def _plans(session: Session) -> dict[int, BaseModel]:
    return {
        row["id"]: PlanPublic.model_validate(
            {**row, "period_label": period_label(row["start_fiscal_year"], row["end_fiscal_year"])}
        )
        for row in session.execute(select(plans)).mappings()
    }


def _policies(session: Session) -> dict[int, BaseModel]:
    rows = session.execute(select(policies)).mappings()
    return {row["id"]: PolicyPublic.model_validate(row) for row in rows}


def _measures(session: Session) -> dict[int, BaseModel]:
    query = select(measures, policies.c.number.label("policy_number")).join(
        policies, policies.c.id == measures.c.policy_id
    )
    return {
        row["id"]: MeasurePublic.model_validate(row) for row in session.execute(query).mappings()
    }


def _evaluations(session: Session) -> dict[int, BaseModel]:
    query = select(evaluations, initiatives.c.code).join(
        initiatives, initiatives.c.id == evaluations.c.initiative_id
    )
    return {
        row["id"]: EvaluationPublic.model_validate(
            {**row, "fiscal_year_label": fiscal_year_label(row["fiscal_year"])}
        )
        for row in session.execute(query).mappings()
    }


def _reports(session: Session) -> dict[int, BaseModel]:
    lines = session.execute(
        select(report_lines, policies.c.number.label("policy_number"))
        .join(policies, policies.c.id == report_lines.c.policy_id)
        .order_by(policies.c.number)
    ).mappings()
    highlights = session.execute(
        select(report_highlights, initiatives.c.code)
        .join(initiatives, initiatives.c.id == report_highlights.c.initiative_id)
        .order_by(report_highlights.c.section.desc(), initiatives.c.code_sort)
    ).mappings()
    parts: dict[int, dict[str, list[Any]]] = {}
    for line in lines:
        parts.setdefault(line["report_id"], {"lines": [], "highlights": []})["lines"].append(line)
    for highlight in highlights:
        report = parts.setdefault(highlight["report_id"], {"lines": [], "highlights": []})
        report["highlights"].append(highlight)
    return {
        row["id"]: ReportPublic.model_validate(
            {
                **row,
                "fiscal_year_label": fiscal_year_label(row["fiscal_year"]),
                **parts.get(row["id"], {"lines": [], "highlights": []}),
            }
        )
        for row in session.execute(select(reports)).mappings()
    }


RESOURCES: list[tuple[str, Table, Expected]] = [
    ("plans", plans, _plans),
    ("policies", policies, _policies),
    ("measures", measures, _measures),
    ("evaluations", evaluations, _evaluations),
    ("reports", reports, _reports),
]


def _one_url(name: str, item: dict[str, Any]) -> str:
    if name == "evaluations":
        return f"/api/v1/initiatives/{item['initiative_id']}/evaluations/{item['fiscal_year']}"
    return f"/api/v1/{name}/{item['id']}"


@pytest.mark.parametrize(("name", "table", "expected"), RESOURCES, ids=[r[0] for r in RESOURCES])
def test_the_read_path_writes_what_the_model_writes(
    api: Api, name: str, table: Table, expected: Expected
) -> None:
    # A whole-second timestamp (SQLite leaves its fraction out) beside the fractional ones.
    with api.engine.begin() as connection:
        first = connection.execute(select(table.c.id).order_by(table.c.id)).scalars().first()
        assert first is not None, f"the seed has {name}"
        connection.execute(
            text(f"UPDATE {table.name} SET updated_at = :at WHERE id = :id"),
            {"at": "2026-04-01 00:00:00.000000", "id": first},
        )
        connection.execute(text("UPDATE data_version SET version = version + 1"))
    with Session(api.engine) as session:
        models = {
            key: json.loads(model.model_dump_json()) for key, model in expected(session).items()
        }

    answer = api.client.get(f"/api/v1/{name}", params={"limit": 500})
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert answer.json()["total"] == len(items) == len(models) > 0
    assert {item["id"]: item for item in items} == models
    assert models[first]["updated_at"] == "2026-04-01T00:00:00Z"
    for item in items:
        one = api.client.get(_one_url(name, item))
        assert one.status_code == 200
        assert one.json() == models[item["id"]]
        assert one.headers["etag"] == f'"{item["id"]}.{item["version"]}"'


def test_a_page_of_reports_carries_only_its_own_lines(api: Api) -> None:
    with Session(api.engine) as session:
        every = {key: json.loads(m.model_dump_json()) for key, m in _reports(session).items()}
    seen = {}
    for offset in range(len(every)):
        page = api.client.get("/api/v1/reports", params={"limit": 1, "offset": offset}).json()
        (item,) = page["items"]
        seen[item["id"]] = item
    assert seen == every
    assert any(report["lines"] for report in every.values())


def test_the_change_feed_writes_what_its_model_writes(api: Api) -> None:
    answer = api.client.patch(
        "/api/v1/policies/1", json={"focus": "変更のテスト"}, headers=api.editor
    )
    assert answer.status_code == 200
    with Session(api.engine) as session:
        rows = list(session.execute(select(changes).order_by(changes.c.id)).mappings())
    assert rows[-1]["entity"] == "policy" and rows[-1]["changes"]["focus"][1] == "変更のテスト"
    since = rows[-3]["id"]
    expected = ChangeFeed.model_validate({"items": rows[-2:], "next": rows[-1]["id"]})
    feed = api.client.get("/api/v1/changes", params={"since": since, "limit": 500})
    assert feed.status_code == 200
    assert feed.json() == json.loads(expected.model_dump_json())
    empty = api.client.get("/api/v1/changes", params={"since": rows[-1]["id"]}).json()
    assert empty == {"items": [], "next": rows[-1]["id"]}


def _calls(dependant: Dependant) -> list[Any]:
    """Every function FastAPI calls to answer a route: its endpoint and each dependency."""
    return [dependant.call] + [call for sub in dependant.dependencies for call in _calls(sub)]


def test_every_public_read_is_async_and_reads_through_the_reader(database_url: str) -> None:
    """No GET of the API opens a session (a worker thread's synchronous read): exports and
    the catalogue included, they read through the reader like the rest."""
    application = create_app(Settings(database_url=database_url))
    application.state.engine.dispose()
    included = [
        route.original_router for route in application.routes if hasattr(route, "original_router")
    ]
    reads = [
        route
        for router in included
        for route in router.routes
        if isinstance(route, APIRoute)
        and "GET" in (route.methods or set())
        and not route.path.startswith(("/healthz", "/readyz", "/metrics"))
    ]
    paths = {route.path for route in reads}
    assert {"/export/{name}.{format}", "/catalog", "/initiatives/{initiative_id}"} <= paths
    for route in reads:
        assert inspect.iscoroutinefunction(route.endpoint), route.path
        assert get_session not in _calls(route.dependant), route.path
