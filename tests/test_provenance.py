"""Provenance as data (#19 parts 1–4): where each evaluation, report line and plan-level fact
comes from, what the statistics rest on, and the bundle holding all of it.

The seed is Kanazawa's R6 report: no status is stated item by item (all nine are inferred),
the table states policy 3's 2 unconfirmed items and leaves policies 1 and 2's 0 unsaid, and
the 団体コード and licence are not in the document.
"""

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import frictionless
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import Api
from tests.helpers import API, assert_problem

PLAN_FACTS = {
    "title": "stated",
    "municipality_code": "external",
    "municipality_name": "stated",
    "philosophy": "stated",
    "start_fiscal_year": "stated",
    "end_fiscal_year": "stated",
    "license": "external",
}
REPORT_FACTS = {"fiscal_year": "inferred", "title": "stated", "published_on": "external"}
DOCUMENT = "金沢市行政経営プランの取組状況等について"


def _csv(client: TestClient, path: str) -> list[dict[str, str]]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _evaluation(client: TestClient, code: str, year: str = "R6") -> dict[str, Any]:
    [initiative] = client.get(f"{API}/initiatives", params={"code": code}).json()["items"]
    response = client.get(f"{API}/initiatives/{initiative['id']}/evaluations/{year}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- 1. A field, not prose --------------------------------------------------------------------


def test_the_seeds_evaluations_say_they_are_inferred(client: TestClient) -> None:
    items = client.get(f"{API}/evaluations", params={"limit": 100}).json()["items"]
    assert len(items) == 9
    assert {item["provenance"] for item in items} == {"inferred"}
    # R6-33's missing status is a judgement on the text too, said in its source.
    r6_33 = next(item for item in items if item["code"] == "R6-33")
    assert r6_33["status"] is None and r6_33["provenance"] == "inferred"


def test_evaluations_filter_by_provenance(client: TestClient) -> None:
    inferred = client.get(f"{API}/evaluations", params={"provenance": "inferred"}).json()
    assert inferred["total"] == 9
    stated = client.get(f"{API}/evaluations", params={"provenance": "stated"}).json()
    assert stated["total"] == 0 and stated["items"] == []
    assert_problem(client.get(f"{API}/evaluations", params={"provenance": "guessed"}), 422)


def test_the_published_lines_say_which_figure_is_a_guess(client: TestClient) -> None:
    [report] = client.get(f"{API}/reports").json()["items"]
    lines = {line["policy_number"]: line for line in report["lines"]}
    assert {number: line["provenance"] for number, line in lines.items()} == {
        1: "inferred",  # 0 unconfirmed: the ※ note marks only policy 3
        2: "inferred",
        3: "stated",
    }
    assert report["provenance"] == REPORT_FACTS
    assert report["title"] == DOCUMENT  # the published document's name


def test_the_plans_facts_say_where_each_comes_from(client: TestClient) -> None:
    [plan] = client.get(f"{API}/plans").json()["items"]
    assert plan["provenance"] == PLAN_FACTS


def test_a_put_sets_provenance_and_one_left_out_is_external(api: Api) -> None:
    path = f"{API}/initiatives/1/evaluations/R6"
    stated = {"status": "achieved", "result": "公表資料に記載", "provenance": "stated"}
    response = api.client.put(path, json=stated, headers=api.editor)
    assert response.status_code == 200, response.text
    assert response.json()["provenance"] == "stated"
    assert api.client.get(path).json()["provenance"] == "stated"

    # The Japanese label, as a CSV with Japanese headers writes it, is accepted too.
    response = api.client.put(
        path, json={"status": "achieved", "provenance": "推定"}, headers=api.editor
    )
    assert response.json()["provenance"] == "inferred"

    # A whole evaluation that does not say: a status from the city's own records.
    response = api.client.put(path, json={"status": "not_achieved"}, headers=api.editor)
    assert response.json()["provenance"] == "external"
    with api.engine.connect() as connection:
        stored = connection.execute(
            text(
                "SELECT provenance FROM evaluations WHERE initiative_id = 1 AND fiscal_year = 2024"
            )
        ).scalar_one()
    assert stored == "external"
    assert_problem(
        api.client.put(
            path, json={"status": "achieved", "provenance": "maybe"}, headers=api.editor
        ),
        422,
    )


def test_bulk_sets_provenance_and_keeps_it_when_a_row_does_not_say(api: Api) -> None:
    body = "取組番号,年度,評価,来歴\r\nR6-7,R6,達成,記載\r\nR7-1,R7,達成,\r\n".encode()
    response = api.client.post(
        f"{API}/bulk/evaluations",
        content=body,
        headers=api.editor | {"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert [row["action"] for row in response.json()["rows"]] == ["updated", "created"]
    assert _evaluation(api.client, "R6-7")["provenance"] == "stated"
    assert _evaluation(api.client, "R7-1", "R7")["provenance"] == "external"  # new, unsaid

    # A later upload without the column changes the result, not the provenance.
    again = api.client.post(
        f"{API}/bulk/evaluations",
        json={"items": [{"code": "R6-7", "fiscal_year": 2024, "result": "書き直し"}]},
        headers=api.editor,
    )
    assert again.status_code == 200, again.text
    kept = _evaluation(api.client, "R6-7")
    assert (kept["result"], kept["provenance"]) == ("書き直し", "stated")

    refused = api.client.post(
        f"{API}/bulk/evaluations",
        json={"items": [{"code": "R6-7", "fiscal_year": 2024, "provenance": "rumour"}]},
        headers=api.editor,
    )
    assert_problem(refused, 422)
    assert _evaluation(api.client, "R6-7")["provenance"] == "stated"


def test_a_plans_facts_change_one_by_one_and_unknown_facts_are_refused(api: Api) -> None:
    changed = api.client.patch(
        f"{API}/plans/1", json={"provenance": {"municipality_code": "stated"}}, headers=api.editor
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["provenance"] == PLAN_FACTS | {"municipality_code": "stated"}

    unknown = api.client.patch(
        f"{API}/plans/1", json={"provenance": {"budget": "stated"}}, headers=api.editor
    )
    problem = assert_problem(unknown, 422)
    assert "budget" in json.dumps(problem, ensure_ascii=False)
    assert api.client.get(f"{API}/plans/1").json()["provenance"]["municipality_code"] == "stated"

    created = api.client.post(
        f"{API}/plans",
        json={
            "slug": "toyama-2025-2028",
            "title": "富山市行政改革実施計画",
            "municipality_code": "162019",
            "municipality_name": "富山市",
            "start_fiscal_year": 2025,
            "end_fiscal_year": 2028,
        },
        headers=api.editor,
    )
    assert created.status_code == 201, created.text
    assert set(created.json()["provenance"].values()) == {"external"}


def test_a_report_line_written_through_the_api_keeps_its_provenance(api: Api) -> None:
    [report] = api.client.get(f"{API}/reports").json()["items"]
    lines = [
        {"policy_id": line["policy_id"], "items": line["items"], "achieved": line["achieved"],
         "unconfirmed": line["unconfirmed"], "provenance": "stated"}
        for line in report["lines"]
    ]  # fmt: skip
    response = api.client.patch(
        f"{API}/reports/{report['id']}",
        json={"lines": lines, "provenance": {"fiscal_year": "stated"}},
        headers=api.editor,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert {line["provenance"] for line in body["lines"]} == {"stated"}
    assert body["provenance"] == REPORT_FACTS | {"fiscal_year": "stated"}


# --- 2. Statistics say what they rest on ------------------------------------------------------


def test_achievement_counts_inferred_and_gives_the_rate_both_ways(client: TestClient) -> None:
    stats = client.get(f"{API}/stats/achievement", params={"fiscal_year": "R6"}).json()
    total = stats["total"]
    assert (total["items"], total["achieved"], total["no_status"]) == (8, 8, 1)
    assert total["inferred"] == 8
    assert total["rate"] == 100.0
    assert total["rate_all_items"] == 88.9  # 8 of the 9 registered, R6-33 counted in
    assert "rate_all_items" in stats["method"] and "no_status" in stats["method"]
    assert sum(policy["inferred"] for policy in stats["policies"]) == 8
    # A page showing the answer as it comes cannot pass 100.0 off as the city's 87.1.
    caveats = " ".join(stats["caveats"])
    assert "9件" in caveats and "124項目" in caveats and "87.1％" in caveats
    assert "評価8件" in caveats and "推定" in caveats
    assert "88.9％" in caveats
    assert stats["published"]["total"]["rate"] == 87.1


def test_a_year_with_stated_statuses_has_no_caveat_about_them(api: Api) -> None:
    for code in ("R6-7", "R6-10"):
        initiative = api.client.get(f"{API}/initiatives", params={"code": code}).json()["items"][0]
        response = api.client.put(
            f"{API}/initiatives/{initiative['id']}/evaluations/R6",
            json={"status": "achieved", "provenance": "stated"},
            headers=api.editor,
        )
        assert response.status_code == 200, response.text
    stats = api.client.get(f"{API}/stats/achievement", params={"fiscal_year": "R6"}).json()
    assert stats["total"]["inferred"] == 6
    assert any("評価6件" in caveat for caveat in stats["caveats"])


def test_the_achievement_csv_carries_the_counts_and_the_caveats(client: TestClient) -> None:
    rows = _csv(client, f"{API}/stats/achievement?fiscal_year=R6&format=csv")
    total = rows[0]
    assert total["区分"] == "total"
    assert total["うち推定"] == "8"
    assert (total["達成率"], total["達成率（評価なしを含む）"]) == ("100.0", "88.9")
    assert "124項目" in total["注記"]
    assert all(row["注記"] == "" for row in rows[1:])


def test_the_summary_says_the_registered_initiatives_are_a_selection(client: TestClient) -> None:
    summary = client.get(f"{API}/stats/summary").json()
    assert summary["initiatives"] == 18
    caveats = " ".join(summary["caveats"])
    assert "18件" in caveats and "124項目" in caveats
    rows = _csv(client, f"{API}/stats/summary?format=csv")
    assert any(row["集計項目"] == "caveat" and "124項目" in row["注記"] for row in rows)


# --- 4. Every export and the bundle hold it ---------------------------------------------------


def test_the_exports_carry_provenance(client: TestClient) -> None:
    evaluations = _csv(client, f"{API}/export/evaluations.csv")
    assert {row["来歴"] for row in evaluations} == {"推定"}
    english = _csv(client, f"{API}/export/evaluations.csv?header=en")
    assert {row["provenance"] for row in english} == {"inferred"}
    [plan] = _csv(client, f"{API}/export/plans.csv")
    assert json.loads(plan["来歴"]) == PLAN_FACTS
    reports = _csv(client, f"{API}/export/reports.csv?header=en")
    assert [row["provenance"] for row in reports] == ["inferred", "inferred", "stated"]
    assert {row["title"] for row in reports} == {DOCUMENT}
    assert json.loads(reports[0]["report_provenance"]) == REPORT_FACTS
    # JSON gives the maps as objects.
    [plan_json] = client.get(f"{API}/export/plans.json").json()
    assert plan_json["provenance"] == PLAN_FACTS


def test_the_bundle_describes_and_moves_provenance(api: Api) -> None:
    bundle = api.client.get(f"{API}/export/plans/1.zip").content
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        package = json.loads(archive.read("datapackage.json"))
        dictionary = archive.read("README.md").decode()
    fields = {
        resource["name"]: {field["title"]: field for field in resource["schema"]["fields"]}
        for resource in package["resources"]
    }
    assert fields["plans"]["provenance"]["type"] == "object"
    assert fields["evaluations"]["provenance"]["type"] == "string"
    assert fields["reports"]["report_provenance"]["type"] == "object"
    assert "来歴" in dictionary and "公表資料の来歴" in dictionary

    # Moved into another plan's place and out again: the same bundle, provenance included.
    api.client.patch(
        f"{API}/plans/1", json={"provenance": {"license": "stated"}}, headers=api.editor
    )
    changed = api.client.get(f"{API}/export/plans/1.zip").content
    replaced = api.client.post(
        f"{API}/plans/import?replace=true",
        content=changed,
        headers=api.admin | {"Content-Type": "application/zip"},
    )
    assert replaced.status_code == 201, replaced.text
    plan_id = replaced.json()["id"]
    assert replaced.json()["provenance"]["license"] == "stated"
    evaluations = api.client.get(f"{API}/evaluations", params={"plan_id": plan_id}).json()
    assert {item["provenance"] for item in evaluations["items"]} == {"inferred"}
    [report] = api.client.get(f"{API}/reports", params={"plan_id": plan_id}).json()["items"]
    assert [line["provenance"] for line in report["lines"]] == ["inferred", "inferred", "stated"]
    assert report["provenance"] == REPORT_FACTS


def test_a_report_without_lines_is_in_the_bundle_and_comes_back(api: Api, tmp_path: Path) -> None:
    created = api.client.post(
        f"{API}/reports",
        json={"plan_id": 1, "fiscal_year": "R7", "title": DOCUMENT, "source": "作成中"},
        headers=api.editor,
    )
    assert created.status_code == 201, created.text
    rows = _csv(api.client, f"{API}/export/reports.csv?plan_id=1&header=en")
    empty = [row for row in rows if row["fiscal_year"] == "2025"]
    assert len(empty) == 1 and empty[0]["policy_number"] == "" and empty[0]["items"] == ""

    bundle = api.client.get(f"{API}/export/plans/1.zip").content
    # The package stays valid as its users read it (an empty policy number is no broken key).
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        archive.extractall(tmp_path)
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "type", "note"])
    replaced = api.client.post(
        f"{API}/plans/import?replace=true",
        content=bundle,
        headers=api.admin | {"Content-Type": "application/zip"},
    )
    assert replaced.status_code == 201, replaced.text
    reports = api.client.get(
        f"{API}/reports", params={"plan_id": replaced.json()["id"], "sort": "fiscal_year"}
    ).json()["items"]
    assert [(report["fiscal_year"], len(report["lines"])) for report in reports] == [
        (2024, 3),
        (2025, 0),
    ]
    assert reports[1]["source"] == "作成中"


# --- 4. Nothing a read returns is missing from the bundle -------------------------------------

# A row's identity in this service: a bundle names rows by natural keys instead.
BY_IDENTITY = {"id", "version", "created_at", "updated_at"}


def _bundle_holds() -> dict[str, tuple[type[Any], str, dict[str, str]]]:
    """Each public schema, its bundle CSV, and the column of each field its CSV names another
    way ("" for a field derived from others, which the bundle need not hold)."""
    from app.evaluations.schemas import EvaluationPublic
    from app.initiatives.schemas import InitiativePublic
    from app.measures.schemas import MeasurePublic
    from app.plans.schemas import PlanPublic
    from app.policies.schemas import PolicyPublic
    from app.reports.schemas import ReportHighlightPublic, ReportLinePublic, ReportPublic

    parent = {"plan_id": "plan_slug", "policy_id": "policy_number", "measure_id": "measure_number"}
    return {
        "plans": (PlanPublic, "plans", {"slug": "plan_slug", "period_label": ""}),
        "policies": (PolicyPublic, "policies", parent | {"number": "policy_number"}),
        "measures": (MeasurePublic, "measures", parent | {"number": "measure_number"}),
        "initiatives": (
            InitiativePublic,
            "initiatives",
            parent | {"fiscal_year_label": "", "latest_evaluation": ""},  # both derived
        ),
        "evaluations": (EvaluationPublic, "evaluations", {"initiative_id": "code"}),
        "reports": (
            ReportPublic,
            "reports",
            parent
            | {"lines": "policy_number", "highlights": "", "provenance": "report_provenance"},
        ),
        "report lines": (ReportLinePublic, "reports", parent),
        "report highlights": (
            ReportHighlightPublic,
            "highlights",
            {"initiative_id": "code", "section": "section"},
        ),
    }


def test_every_field_a_read_returns_is_in_the_bundle(client: TestClient) -> None:
    """The bundle holds all the API holds: each field of every public schema has its column
    in the bundle's CSVs (by natural key where the API gives an id), so a field added to the
    API and forgotten in the open data fails here."""
    bundle = client.get(f"{API}/export/plans/1.zip").content
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        headers = {
            name.removesuffix(".csv"): next(csv.reader(io.StringIO(archive.read(name).decode())))
            for name in archive.namelist()
            if name.endswith(".csv")
        }
        english = {
            resource["name"]: [field["title"] for field in resource["schema"]["fields"]]
            for resource in json.loads(archive.read("datapackage.json"))["resources"]
        }
    assert set(headers) == set(english)
    missing = []
    for kind, (model, table, renamed) in _bundle_holds().items():
        for name in model.model_fields:
            column = renamed.get(name, name)
            if name in BY_IDENTITY or column == "":
                continue
            if column not in english[table]:
                missing.append(f"{kind}.{name} (looked for {table}.csv {column})")
    assert missing == []
