"""Statistics: the city's rule exactly, its published table back, and agreement with brute force."""

import csv
import io
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import Engine, delete, insert, select, update
from sqlmodel import Session

from app.config import Settings
from app.main import create_app
from app.models import (
    Evaluation,
    Initiative,
    data_version,
    evaluations,
    initiatives,
    measures,
    policies,
)
from app.rates import achievement_rate, percent_of
from app.stats.schemas import Achievement, PlanComparison
from tests.conftest import Api
from tests.helpers import assert_problem

STATS = "/api/v1/stats"
COUNT_FIELDS = (
    "items",
    "achieved",
    "not_achieved",
    "unconfirmed",
    "no_status",
    "not_evaluated",
    "inferred",
)
PUBLISHED = {1: (39, 38, 0, 97.4), 2: (45, 38, 0, 84.4), 3: (40, 32, 2, 80.0)}


@pytest.mark.parametrize(
    ("achieved", "items", "rate"),
    [(108, 124, 87.1), (38, 39, 97.4), (38, 45, 84.4), (32, 40, 80.0), (1, 16, 6.3), (0, 0, None)],
)
def test_rate_is_rounded_half_up_with_decimal(
    achieved: int, items: int, rate: float | None
) -> None:
    assert achievement_rate(achieved, items) == rate


def test_percent_of_target_may_exceed_100() -> None:
    assert percent_of(150, 100) == 150.0
    assert percent_of(1, 3) == 33.3
    assert percent_of(None, 100) is None
    assert percent_of(5, 0) is None


def test_published_block_is_the_documents_table(client: TestClient) -> None:
    response = client.get(f"{STATS}/achievement", params={"fiscal_year": "令和6年度"})
    _same_json_as_the_model(response)
    body = response.json()
    assert body["fiscal_year"] == 2024 and body["fiscal_year_label"] == "令和6年度"
    assert "unconfirmed stay in the denominator" in body["method"]
    published = body["published"]
    assert published["total"] == {"items": 124, "achieved": 108, "unconfirmed": 2, "rate": 87.1}
    lines = {
        line["number"]: (line["items"], line["achieved"], line["unconfirmed"], line["rate"])
        for line in published["policies"]
    }
    assert lines == PUBLISHED
    # The seed names 9 R6 items: 8 inferred achieved, R6-33 without a status.
    assert body["total"] == {
        "items": 8,
        "achieved": 8,
        "not_achieved": 0,
        "unconfirmed": 0,
        "no_status": 1,
        "not_evaluated": 0,
        "inferred": 8,
        "rate": 100.0,
        "rate_all_items": 88.9,
    }
    assert body["matches_published"] is False


def test_the_year_defaults_to_the_latest_evaluated(client: TestClient) -> None:
    assert client.get(f"{STATS}/achievement").json()["fiscal_year"] == 2024


def test_achievement_csv_shows_the_citys_87_1(client: TestClient) -> None:
    response = client.get(
        f"{STATS}/achievement", params={"fiscal_year": "令和6年度", "format": "csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv; charset=utf-8")
    assert (
        "filename*=UTF-8''achievement-kanazawa-2023-2026-2024.csv"
        in (response.headers["content-disposition"])
    )
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in response.content
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    total = rows[0]
    assert total["区分"] == "total"
    assert (total["全国地方公共団体コード"], total["地方公共団体名"]) == ("172014", "金沢市")
    assert (total["公表項目数"], total["公表達成"], total["公表達成率"]) == ("124", "108", "87.1")
    assert (total["項目数"], total["達成"], total["達成率"]) == ("8", "8", "100.0")
    policy_rows = [row for row in rows if row["区分"] == "policy"]
    assert [row["公表達成率"] for row in policy_rows] == ["97.4", "84.4", "80.0"]
    assert len([row for row in rows if row["区分"] == "measure"]) == 9


def test_csv_by_accept_header_in_english_and_cp932(client: TestClient) -> None:
    response = client.get(
        f"{STATS}/achievement",
        params={"header": "en", "encoding": "cp932"},
        headers={"Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert "Windows-31J" in response.headers["content-type"]
    text = response.content.decode("cp932")
    assert text.startswith("scope,municipality_code,municipality_name,plan_slug,fiscal_year")
    assert "金沢市" in text


@pytest.mark.parametrize("endpoint", ["trend", "summary", "targets", "plans"])
def test_every_stats_endpoint_answers_json_and_csv(client: TestClient, endpoint: str) -> None:
    as_json = client.get(f"{STATS}/{endpoint}")
    as_csv = client.get(f"{STATS}/{endpoint}", params={"format": "csv", "bom": "false"})
    assert as_json.status_code == as_csv.status_code == 200
    assert as_json.headers["content-type"] == "application/json"
    assert not as_csv.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8"))))
    assert len(rows) >= 2 and all(len(row) == len(rows[0]) for row in rows)


def test_trend_covers_every_year_of_the_period(client: TestClient) -> None:
    years = client.get(f"{STATS}/trend").json()["years"]
    assert [year["fiscal_year"] for year in years] == [2023, 2024, 2025, 2026]
    by_year = {year["fiscal_year"]: year for year in years}
    assert by_year[2024]["published"]["rate"] == 87.1
    assert by_year[2025]["published"] is None
    assert by_year[2025]["computed"]["not_evaluated"] == 18  # every R6 and R7 item


def test_summary_counts_the_structure(client: TestClient) -> None:
    body = client.get(f"{STATS}/summary").json()
    assert (body["policies"], body["measures"], body["initiatives"]) == (3, 9, 18)
    assert body["numeric_targets"] == 2
    by_year = {row["fiscal_year"]: row["count"] for row in body["initiatives_by_fiscal_year"]}
    assert by_year == {2024: 9, 2025: 9}
    statuses = {
        (row["fiscal_year"], row["status"]): row["count"] for row in body["evaluations_by_status"]
    }
    assert statuses == {(2024, "achieved"): 8, (2024, "none"): 1}


def test_targets_list_the_numeric_target_initiatives(client: TestClient) -> None:
    body = client.get(f"{STATS}/targets", params={"fiscal_year": "R6"}).json()
    assert [row["code"] for row in body["items"]] == ["R6-33", "R7-11"]
    assert all(row["percent_of_target"] is None for row in body["items"])  # no targets stated


def test_plans_compares_one_row_per_plan(client: TestClient) -> None:
    response = client.get(f"{STATS}/plans", params={"fiscal_year": 2024})
    _same_json_as_the_model(response, PlanComparison)
    body = response.json()
    [row] = body["items"]
    assert (row["municipality_code"], row["items"], row["published_rate"]) == ("172014", 8, 87.1)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"fiscal_year": "R0"}, 422),
        ({"plan_id": 0}, 422),
        ({"plan_id": 999999}, 404),
        ({"plan_id": 999999, "fiscal_year": 2024}, 404),
        ({"format": "xml"}, 422),
        ({"encoding": "latin-1"}, 422),
    ],
)
def test_bad_parameters_are_problems(
    client: TestClient, params: dict[str, Any], status: int
) -> None:
    response = client.get(f"{STATS}/achievement", params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def _initiative_id(api: Api, code: str) -> int:
    found = api.client.get("/api/v1/initiatives", params={"code": code}).json()["items"]
    assert len(found) == 1, found
    initiative_id: int = found[0]["id"]
    return initiative_id


@pytest.mark.slow
def test_etag_and_cache_follow_writes(api: Api) -> None:
    first = api.client.get(f"{STATS}/achievement")
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    again = api.client.get(f"{STATS}/achievement", headers={"If-None-Match": tag})
    assert again.status_code == 304
    put = api.client.put(  # R6-33's 2024 evaluation had no status
        f"/api/v1/initiatives/{_initiative_id(api, 'R6-33')}/evaluations/R6",
        json={"status": "not_achieved"},
        headers=api.editor,
    )
    assert put.status_code == 200
    after = api.client.get(f"{STATS}/achievement", headers={"If-None-Match": tag})
    assert after.status_code == 200
    assert after.headers["etag"] != tag
    assert after.json()["total"]["not_achieved"] == 1
    assert after.json()["total"]["rate"] == 88.9  # 8 of 9
    # An authorized request passes the kept answers by, so the route reads the data version
    # itself, with the answer's statements: it must name the same version.
    private = api.client.get(f"{STATS}/achievement", headers=api.editor)
    assert private.headers["etag"] == after.headers["etag"]
    assert "no-store" in private.headers["cache-control"]
    assert private.content == after.content
    for endpoint in ("trend", "summary", "targets", "plans"):
        public = api.client.get(f"{STATS}/{endpoint}")
        assert (
            api.client.get(f"{STATS}/{endpoint}", headers=api.editor).headers["etag"]
            == (public.headers["etag"])
        )


def test_with_nothing_cached_the_version_is_read_with_the_answer(api: Api) -> None:
    # With no kept answers and no statistics cache, the route reads the data version in the
    # same batch as the answer (one round trip on PostgreSQL): the ETag must be the one the
    # default server gives for the same data, before and after a write.
    uncached = create_app(
        Settings(database_url=str(api.engine.url.render_as_string(hide_password=False)),
                 answer_cache_bytes=0, stats_cache_size=0)
    )  # fmt: skip
    path = f"{STATS}/achievement?plan_id=1&fiscal_year=2024"
    with TestClient(uncached) as plain:
        for status in ("not_achieved", "achieved"):
            expected = api.client.get(path)
            answer = plain.get(path)
            assert answer.status_code == 200
            assert answer.headers["etag"] == expected.headers["etag"]
            assert answer.content == expected.content
            assert (
                plain.get(path, headers={"If-None-Match": answer.headers["etag"]}).status_code
                == 304
            )
            put = api.client.put(
                f"/api/v1/initiatives/{_initiative_id(api, 'R6-33')}/evaluations/R6",
                json={"status": status},
                headers=api.editor,
            )
            assert put.status_code in (200, 201), put.text
        assert plain.get(path).headers["etag"] != answer.headers["etag"]
    uncached.state.engine.dispose()


def _add_other_city(api: Api) -> int:
    """A second plan (Sapporo's), with nothing in it yet; its id."""
    created = api.client.post(
        "/api/v1/plans",
        json={
            "slug": "other-city",
            "title": "行政経営プラン",
            "municipality_code": "011002",
            "municipality_name": "札幌市",
            "start_fiscal_year": 2024,
            "end_fiscal_year": 2027,
        },
        headers=api.editor,
    )
    assert created.status_code == 201
    plan_id: int = created.json()["id"]
    return plan_id


def test_plan_id_is_required_once_there_are_two_plans(api: Api) -> None:
    _add_other_city(api)
    response = api.client.get(f"{STATS}/achievement")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "plan_id"]
    assert api.client.get(f"{STATS}/achievement", params={"plan_id": 1}).status_code == 200
    answer = api.client.get(f"{STATS}/plans", params={"fiscal_year": 2024})
    _same_json_as_the_model(answer, PlanComparison)
    rows = answer.json()["items"]
    assert [row["municipality_code"] for row in rows] == ["011002", "172014"]
    empty = dict.fromkeys(COUNT_FIELDS, 0) | {"rate": None, "published_items": None}
    assert {name: rows[0][name] for name in empty} == empty  # a plan with nothing yet


def _same_json_as_the_model(response: Any, model: type[BaseModel] = Achievement) -> None:
    """Achievement and plans are shaped as plain data (app/stats/service.py); the JSON must
    still be exactly what their response models would send."""
    assert response.status_code == 200
    assert (
        response.content == model.model_validate_json(response.content).model_dump_json().encode()
    )


def test_achievement_of_a_plan_without_policies_and_a_policy_without_measures(api: Api) -> None:
    plan_id = _add_other_city(api)
    params = {"plan_id": plan_id, "fiscal_year": "R6"}
    empty = api.client.get(f"{STATS}/achievement", params=params)
    _same_json_as_the_model(empty)
    zero = dict.fromkeys(COUNT_FIELDS, 0) | {"rate": None, "rate_all_items": None}
    assert empty.json() | {"method": None} == {
        "plan_id": plan_id,
        "fiscal_year": 2024,
        "fiscal_year_label": "令和6年度",
        "method": None,
        "total": zero,
        "policies": [],
        "published": None,
        "matches_published": False,
        "caveats": [],  # nothing to count, nothing to caution about
    }
    policy = api.client.post(
        "/api/v1/policies",
        json={"plan_id": plan_id, "number": 1, "title": "市民目線の行政サービス"},
        headers=api.editor,
    )
    assert policy.status_code == 201, policy.text
    one = api.client.get(f"{STATS}/achievement", params=params)
    _same_json_as_the_model(one)
    assert one.json()["policies"] == [
        {"policy_id": policy.json()["id"], "number": 1, "title": "市民目線の行政サービス"}
        | zero
        | {"measures": []}
    ]
    csv_answer = api.client.get(f"{STATS}/achievement", params=params | {"format": "csv"})
    assert csv_answer.status_code == 200
    assert "achievement-other-city-2024.csv" in csv_answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(csv_answer.content.decode("utf-8-sig"))))
    assert [row[:4] for row in rows[1:]] == [
        ["total", "011002", "札幌市", "other-city"],
        ["policy", "011002", "札幌市", "other-city"],
    ]


# -- the city's whole table, computed --------------------------------------------------------


def _add_evaluated_initiatives(engine: Engine, policy_number: int, statuses: list[str]) -> None:
    with Session(engine) as session:
        session.info["actor"] = "test"
        measure_id = session.scalar(
            select(measures.c.id)
            .join(policies, policies.c.id == measures.c.policy_id)
            .where(policies.c.number == policy_number, measures.c.number == 1)
        )
        assert measure_id is not None
        for index, status in enumerate(statuses):
            code = f"X{policy_number}-{index}"
            initiative = Initiative(
                plan_id=1,
                measure_id=measure_id,
                code=code,
                code_sort=code,
                title=f"合成{code}",
                fiscal_year=2024,
            )
            session.add(initiative)
            session.flush()
            assert initiative.id is not None
            session.add(Evaluation(initiative_id=initiative.id, fiscal_year=2024, status=status))
        session.commit()


def test_124_evaluations_reproduce_the_published_table(api: Api) -> None:
    # The seed holds 3, 3 and 2 achieved (and R6-33 without status) for policies 1, 2, 3.
    _add_evaluated_initiatives(api.engine, 1, ["achieved"] * 35 + ["not_achieved"])
    _add_evaluated_initiatives(api.engine, 2, ["achieved"] * 35 + ["not_achieved"] * 7)
    _add_evaluated_initiatives(
        api.engine, 3, ["achieved"] * 30 + ["not_achieved"] * 6 + ["unconfirmed"] * 2
    )
    answer = api.client.get(f"{STATS}/achievement", params={"fiscal_year": 2024})
    _same_json_as_the_model(answer)
    body = answer.json()
    assert body["matches_published"] is True
    assert (body["total"]["items"], body["total"]["achieved"], body["total"]["rate"]) == (
        124,
        108,
        87.1,
    )
    assert [(p["items"], p["achieved"], p["unconfirmed"], p["rate"]) for p in body["policies"]] == [
        PUBLISHED[1],
        PUBLISHED[2],
        PUBLISHED[3],
    ]
    trend = api.client.get(f"{STATS}/trend").json()["years"]
    assert [year["matches_published"] for year in trend] == [False, True, False, False]


# -- property: every figure equals a brute-force count ---------------------------------------


@dataclass(frozen=True)
class Item:
    initiative_id: int
    policy_id: int
    measure_id: int
    fiscal_year: int


def _items(engine: Engine) -> list[Item]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                initiatives.c.id,
                measures.c.policy_id,
                initiatives.c.measure_id,
                initiatives.c.fiscal_year,
            ).join(measures, measures.c.id == initiatives.c.measure_id)
        ).all()
    return [Item(*row) for row in rows]


def _half_up_rate(achieved: int, items: int) -> float | None:
    """An independent rounding: integer arithmetic, half away from zero, to 0.1."""
    if items == 0:
        return None
    return ((2000 * achieved + items) // (2 * items)) / 10


def _brute(
    items: list[Item], written: dict[tuple[int, int], str | None], year: int, key: str
) -> dict[int, dict[str, Any]]:
    groups: dict[int, dict[str, Any]] = {}
    for item in items:
        group = groups.setdefault(
            getattr(item, key),
            dict.fromkeys(COUNT_FIELDS, 0),
        )
        if (item.initiative_id, year) in written:
            status = written[item.initiative_id, year]
            if status is None:
                group["no_status"] += 1
            else:
                group["items"] += 1
                group[status] += 1
        elif item.fiscal_year <= year:
            group["not_evaluated"] += 1
    for group in groups.values():
        group["rate"] = _half_up_rate(group["achieved"], group["items"])
    return groups


STATUS = st.sampled_from([None, "achieved", "not_achieved", "unconfirmed"])


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_figure_equals_a_brute_force_count(api: Api, data: st.DataObject) -> None:
    items = _items(api.engine)
    years = [2023, 2024, 2025, 2026]
    written: dict[tuple[int, int], str | None] = {}
    for item in items:
        for year in years:
            if data.draw(st.booleans()):
                written[item.initiative_id, year] = data.draw(STATUS)
    with api.engine.begin() as connection:
        connection.execute(delete(evaluations))
        if written:
            connection.execute(
                insert(evaluations),
                [
                    {"initiative_id": initiative, "fiscal_year": year, "status": status}
                    for (initiative, year), status in written.items()
                ],
            )
        # Writers move the data version on; so must a test that writes behind the API's back.
        connection.execute(update(data_version).values(version=data_version.c.version + 1))
    year = data.draw(st.sampled_from(years))
    answer = api.client.get(f"{STATS}/achievement", params={"fiscal_year": year})
    _same_json_as_the_model(answer)
    body = answer.json()
    fields = (*COUNT_FIELDS, "rate")
    by_policy = _brute(items, written, year, "policy_id")
    by_measure = _brute(items, written, year, "measure_id")
    for policy in body["policies"]:
        expected = by_policy.get(policy["policy_id"])
        assert expected is not None
        assert {name: policy[name] for name in fields} == expected
        for measure in policy["measures"]:
            assert {name: measure[name] for name in fields} == by_measure[measure["measure_id"]]
    summed = {
        name: sum(group[name] for group in by_policy.values()) for name in fields if name != "rate"
    }
    summed["rate"] = _half_up_rate(summed["achieved"], summed["items"])
    assert {name: body["total"][name] for name in fields} == summed
    trend = api.client.get(f"{STATS}/trend").json()["years"]
    computed = {entry["fiscal_year"]: entry["computed"] for entry in trend}
    assert {name: computed[year][name] for name in fields} == summed
    compared = api.client.get(f"{STATS}/plans", params={"fiscal_year": year})
    _same_json_as_the_model(compared, PlanComparison)
    [plan] = compared.json()["items"]
    assert {name: plan[name] for name in fields} == summed


def test_the_query_model_is_documented_and_read_as_fastapi_reads_parameters(
    client: TestClient,
) -> None:
    # The stats routes take their query as one model (app/web/query.py), not as FastAPI
    # parameters: the docs must still list each parameter, with schemas that resolve.
    # The JSON operation lists the JSON parameters; the .csv one the CSV options too.
    schema = client.get("/openapi.json").json()
    names = ["plan_id", "fiscal_year", "bom", "encoding", "header", "excel_safe"]
    for path, listed in (("achievement", names[:2]), ("achievement.csv", names)):
        parameters = schema["paths"][f"{STATS}/{path}"]["get"]["parameters"]
        assert [parameter["name"] for parameter in parameters] == listed
        assert {(parameter["in"], parameter["required"]) for parameter in parameters} == {
            ("query", False)
        }
        for parameter in parameters:
            ref = parameter["schema"].get("$ref")
            if ref is not None:
                name = ref.removeprefix("#/components/schemas/")
                assert name in schema["components"]["schemas"]
    plans = schema["paths"][f"{STATS}/plans.csv"]["get"]["parameters"]
    assert [parameter["name"] for parameter in plans] == names[1:]
    # A repeated name gives its last value, as FastAPI's parameters do; a name the model does
    # not have is refused, as a route's undeclared parameter is (app/web/jsonbody.py).
    answer = client.get(f"{STATS}/achievement?plan_id=7&plan_id=1&fiscal_year=R6")
    assert answer.status_code == 200
    assert answer.json()["plan_id"] == 1 and answer.json()["fiscal_year"] == 2024
    unknown = client.get(f"{STATS}/achievement?plan_id=1&fiscal_year=R6&page=2")
    assert unknown.status_code == 422
    assert [error["loc"] for error in unknown.json()["errors"]] == [["query", "page"]]
    refused = client.get(f"{STATS}/achievement?plan_id=1&plan_id=x&bom=perhaps")
    assert refused.status_code == 422
    assert [error["loc"] for error in refused.json()["errors"]] == [
        ["query", "plan_id"],
        ["query", "bom"],
    ]


@pytest.mark.parametrize("name", ["achievement", "targets"])
def test_a_year_the_plan_does_not_run_is_refused(client: TestClient, name: str) -> None:
    """令和元年度 is before Kanazawa's plan (令和5年度～令和8年度): its figures would be zeros
    that look like an answer, so the year is refused, naming the period."""
    for path in (f"{STATS}/{name}", f"{STATS}/{name}.csv"):
        response = client.get(path, params={"fiscal_year": "R1"})
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["loc"] == ["query", "fiscal_year"]
        assert problem["errors"][0]["type"] == "outside_period"
        assert "令和5年度～令和8年度" in problem["detail"]
    assert client.get(f"{STATS}/{name}", params={"fiscal_year": "R8"}).status_code == 200


@pytest.mark.parametrize(
    ("accept", "csv_wanted"),
    [
        ("text/csv", True),
        ("text/csv, application/json;q=0.5", True),
        ("application/json;q=0.9, text/csv", True),
        ("text/csv;q=0, application/json", False),  # q=0: not acceptable at all
        ("text/csv;q=0.5, application/json", False),
        ("text/csv;q=0.5, */*;q=0.8", False),
        ("text/csv, */*;q=0.8", True),  # a browser-like list that names CSV first
        ("*/*", False),
        ("", False),
    ],
)
def test_accept_picks_csv_by_its_q_values(
    client: TestClient, accept: str, csv_wanted: bool
) -> None:
    """Accept's q-values decide between CSV and JSON (RFC 9110 12.5.1); a tie is JSON."""
    response = client.get(f"{STATS}/achievement", headers={"Accept": accept})
    assert response.status_code == 200
    kind = response.headers["content-type"].split(";")[0]
    assert kind == ("text/csv" if csv_wanted else "application/json")
    assert "Accept" in response.headers["vary"]
