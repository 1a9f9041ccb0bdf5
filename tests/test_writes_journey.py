"""The write side over HTTP (issue 3): done when: the whole journey with a token, and the same
without one.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded
one) and checks both what the client sees (status, body, headers) and what the database holds
afterwards. Expected values come from the request, the seed file
(seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a response.
"""

from datetime import date

from app.models import (
    initiatives,
    measures,
    plans,
    report_highlights,
    report_lines,
    reports,
)
from tests.conftest import Api, etag
from tests.helpers import API, LABELS, assert_problem, snapshot
from tests.writes_helpers import (
    CONTENT_TABLES,
    TABLES,
    Item,
    assert_json,
    case,
    count_rows,
    evaluation_row,
    get,
    ids_where,
    must_row,
    new_plan_body,
)

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
    # A line written without a provenance is the published table's own figure: stated.
    assert report["lines"] == [
        {**report_in["lines"][0], "policy_number": 1, "provenance": "stated"}
    ]
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
