"""Open data exactly as typed (issue 13, item 6): numbers are numbers, the published
datapackage works from its URL, the catalogue's links are IRIs, and one character can neither
be stored to break an export nor make a CP932 export fail.

Expected values come from the seed file and the contract (../shared/spec/API.md), never from
a response. The shared database (`client`) is only read; tests that write use `api`.
"""

import io
import json
import re
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import frictionless
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.config import Settings
from app.main import create_app
from tests.conftest import Api, wait_until_ready
from tests.helpers import SEED, assert_problem, child_env, free_port
from tests.test_exports import (
    API,
    EVALUATED_CODES,
    TABLES,
    XLSX,
    export_url,
    get_csv,
    media,
    xlsx_rows,
)

# The seed's report (API.md: rates are JSON numbers with one decimal): 38/39, 38/45, 32/40.
REPORT_RATES = [97.4, 84.4, 80.0]


def _package(client: TestClient) -> dict[str, Any]:
    response = client.get(f"{API}/export/plans/1/datapackage.json")
    assert response.status_code == 200, response.text
    descriptor: dict[str, Any] = response.json()
    return descriptor


# --------------------------------------------------------------------------------------------
# 1. Numbers are numbers
# --------------------------------------------------------------------------------------------


def test_report_rates_are_json_numbers_with_one_decimal(client: TestClient) -> None:
    response = client.get(export_url("reports", "json"))
    assert response.status_code == 200, response.text
    assert [record["rate"] for record in response.json()] == REPORT_RATES
    assert all(type(record["rate"]) is float for record in response.json())
    assert '"rate": 80.0' in response.text  # one decimal, as the document writes it


def test_report_rates_are_spreadsheet_numbers_shown_with_one_decimal(client: TestClient) -> None:
    header, *rows = xlsx_rows(client.get(export_url("reports", "xlsx")).content)
    at = [cell.value for cell in header].index("達成率")
    cells = [row[at] for row in rows]
    assert [(cell.data_type, cell.value) for cell in cells] == [("n", r) for r in REPORT_RATES]
    assert {cell.number_format for cell in cells} == {"0.0"}


def test_report_rates_in_csv_keep_one_decimal(client: TestClient) -> None:
    header, *rows = get_csv(client, "reports")
    at = header.index("達成率")
    assert [row[at] for row in rows] == ["97.4", "84.4", "80.0"]


@pytest.mark.parametrize("name", TABLES)
def test_every_numeric_column_is_a_number_in_json_and_xlsx(client: TestClient, name: str) -> None:
    """The datapackage's integer and number columns are numbers (or empty) in both formats."""
    [resource] = [r for r in _package(client)["resources"] if r["name"] == name]
    fields = resource["schema"]["fields"]
    numeric = {field["title"] for field in fields if field["type"] in ("integer", "number")}
    assert numeric
    records = client.get(export_url(name, "json")).json()
    assert records
    for record in records:
        for key in numeric:
            value = record[key]
            assert value is None or type(value) in (int, float), (key, value)
    header, *rows = xlsx_rows(client.get(export_url(name, "xlsx")).content)
    titles = [cell.value for cell in header]
    for row in rows:
        for field in fields:
            if field["title"] in numeric:
                cell = row[titles.index(field["name"])]
                assert cell.value is None or cell.data_type == "n", (field["name"], cell.value)


# --------------------------------------------------------------------------------------------
# 2. The datapackage, in the bundle and online
# --------------------------------------------------------------------------------------------


@contextmanager
def _serving(url: str, log: Path) -> Iterator[str]:
    """Serve the app with uvicorn on a free port of 127.0.0.1 until the block ends."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = child_env()
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]
            + ["--port", str(port)],
            env=env | {"DATABASE_URL": url, "PYTHONUNBUFFERED": "1"},
            cwd=Path(__file__).resolve().parent.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(server, base, log, 60)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=30)


@pytest.mark.slow
def test_the_published_datapackage_validates_from_its_url(fresh_url: str, tmp_path: Path) -> None:
    """`frictionless validate <URL>`: every resource is fetched over HTTP, typed, and its
    primary and foreign keys hold."""
    with _serving(fresh_url, tmp_path / "server.log") as base:
        url = f"{base}{API}/export/plans/1/datapackage.json"
        descriptor = httpx.get(url).json()
        report = frictionless.validate(url)
        assert report.valid, report.flatten(["resourceName", "rowNumber", "type", "note"])
        assert [task.stats["rows"] for task in report.tasks] == [
            1,
            len(SEED["policies"]),
            sum(len(policy["measures"]) for policy in SEED["policies"]),
            len(SEED["initiatives"]),
            len(EVALUATED_CODES),
            len(SEED["report"]["lines"]),
            len(SEED["report"]["highlights"]),
        ]
        for resource in descriptor["resources"]:
            assert resource["path"].startswith(f"{base}{API}/export/{resource['name']}.csv?")
            download = httpx.get(resource["path"])
            assert download.status_code == 200, resource["path"]
            assert media(download) == resource["mediatype"]


def test_online_paths_give_exactly_the_bundles_files(client: TestClient) -> None:
    bundle = client.get(f"{API}/export/plans/1.zip")
    assert bundle.status_code == 200, bundle.text
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        inside = json.loads(archive.read("datapackage.json"))
        online = _package(client)
        assert [r["path"] for r in inside["resources"]] == [f"{name}.csv" for name in TABLES]
        for resource in online["resources"]:
            download = client.get(resource["path"])
            assert download.status_code == 200, resource["path"]
            assert download.content == archive.read(f"{resource['name']}.csv")
    # Apart from where the files are, the two descriptors are the same.
    for resource in [*inside["resources"], *online["resources"]]:
        del resource["path"]
    assert online == inside


def test_the_online_paths_follow_the_requests_origin(api: Api) -> None:
    # An app of its own: the shared one may keep an answer made for another origin
    # (app/web/caching.py keys kept answers by data version, path, query and Accept, not host).
    response = api.client.get(f"https://data.example.jp{API}/export/plans/1/datapackage.json")
    assert response.status_code == 200, response.text
    for resource in response.json()["resources"]:
        assert resource["path"].startswith(f"https://data.example.jp{API}/export/")


def test_bundle_members_are_readable_by_everyone(client: TestClient) -> None:
    bundle = client.get(f"{API}/export/plans/1.zip")
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert {name: stat.S_IMODE(mode) for name, mode in modes.items()} == {
        name: 0o644 for name in modes
    }
    assert all(stat.S_ISREG(mode) for mode in modes.values())


def test_the_package_names_its_encoding_by_its_iana_name(client: TestClient) -> None:
    """A BOM does not make UTF-8 another encoding: "utf-8", which frictionless reads."""
    assert {r["encoding"] for r in _package(client)["resources"]} == {"utf-8"}


def test_the_package_declares_the_keys_that_join_the_tables(client: TestClient) -> None:
    schemas = {r["name"]: r["schema"] for r in _package(client)["resources"]}
    assert schemas["plans"]["primaryKey"] == ["計画"]
    assert schemas["initiatives"]["primaryKey"] == ["計画", "取組番号"]
    assert schemas["evaluations"]["primaryKey"] == ["計画", "取組番号", "年度"]
    references = {
        name: [(fk["fields"], fk["reference"]["resource"]) for fk in schema["foreignKeys"]]
        for name, schema in schemas.items()
    }
    assert references == {
        "plans": [],
        "policies": [(["計画"], "plans")],
        "measures": [(["計画", "基本方針番号"], "policies")],
        "initiatives": [(["計画", "基本方針番号", "施策番号"], "measures")],
        "evaluations": [(["計画", "取組番号"], "initiatives")],
        # By the number alone: a report without lines has none (and a bundle one plan).
        "reports": [(["計画"], "plans"), (["基本方針番号"], "policies")],
        "highlights": [(["計画", "取組番号"], "initiatives")],
    }


def test_the_bundle_package_refuses_an_evaluation_of_no_initiative(
    client: TestClient, tmp_path: Path
) -> None:
    """The declared foreign keys are checked: a row pointing at nothing is an error."""
    bundle = client.get(f"{API}/export/plans/1.zip")
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        archive.extractall(tmp_path)
    assert frictionless.validate(str(tmp_path / "datapackage.json")).valid
    evaluations = tmp_path / "evaluations.csv"
    text = evaluations.read_bytes().decode("utf-8")
    evaluations.write_bytes(text.replace(f",{EVALUATED_CODES[0]},", ",R9-999,", 1).encode())
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert not report.valid
    assert {row[0] for row in report.flatten(["type"])} == {"foreign-key"}


# --------------------------------------------------------------------------------------------
# 3. The catalogue
# --------------------------------------------------------------------------------------------

IRI_TERMS = ["dcat:downloadURL", "dcat:accessURL", "dcat:mediaType", "dct:format", "dct:license"]


def _catalog(client: TestClient) -> dict[str, Any]:
    response = client.get(f"{API}/catalog")
    assert response.status_code == 200, response.text
    assert media(response) == "application/ld+json"
    catalog: dict[str, Any] = response.json()
    return catalog


def _is_iri(value: Any) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return parts is not None and parts.scheme in ("http", "https") and bool(parts.netloc)


def test_catalog_links_are_iris_not_strings(client: TestClient) -> None:
    """In JSON-LD a plain string is a literal: links a harvester follows must be typed @id."""
    catalog = _catalog(client)
    context = catalog["@context"]
    for term in IRI_TERMS:
        assert context.get(term) == {"@type": "@id"}, term
    [dataset] = catalog["dcat:dataset"]
    assert _is_iri(dataset["dct:license"])
    for distribution in dataset["dcat:distribution"]:
        for term in IRI_TERMS:
            assert _is_iri(distribution[term]), (term, distribution)
        assert distribution["dcat:accessURL"] == distribution["dcat:downloadURL"]


def test_catalog_offers_every_table_as_xlsx_too(client: TestClient) -> None:
    [dataset] = _catalog(client)["dcat:dataset"]
    spreadsheets = [
        d for d in dataset["dcat:distribution"] if d["dcat:mediaType"].endswith("/" + XLSX)
    ]
    assert sorted(urlsplit(d["dcat:downloadURL"]).path for d in spreadsheets) == sorted(
        export_url(name, "xlsx") for name in TABLES
    )
    for distribution in spreadsheets:
        assert distribution["dct:format"].endswith("/file-type/XLSX")
        response = client.get(distribution["dcat:downloadURL"])
        assert response.status_code == 200, distribution
        assert media(response) == XLSX


def test_catalog_formats_name_what_the_files_are(client: TestClient) -> None:
    [dataset] = _catalog(client)["dcat:dataset"]
    formats = {
        urlsplit(d["dcat:downloadURL"]).path.rsplit(".", 1)[-1]: d["dct:format"].rsplit("/")[-1]
        for d in dataset["dcat:distribution"]
    }
    assert formats == {"csv": "CSV", "json": "JSON", "xlsx": "XLSX", "zip": "ZIP"}


def test_the_catalogue_has_a_title_and_description_and_invents_no_publisher(
    client: TestClient,
) -> None:
    catalog = _catalog(client)
    assert catalog["@type"] == "dcat:Catalog"
    assert catalog["dct:title"] and catalog["dct:description"]
    # By default the operator is not named: the catalogue is not the city's own, and no
    # dataset names the city as its publisher either.
    assert "dct:publisher" not in catalog
    assert all("dct:publisher" not in dataset for dataset in catalog["dcat:dataset"])
    # Keywords only from the data: the plan's title and its city (行政改革 is not in the
    # document, so it is no keyword).
    [dataset] = catalog["dcat:dataset"]
    assert dataset["dcat:keyword"] == ["金沢市行政経営プラン", "金沢市"]
    assert "金沢市" not in json.dumps(
        {key: value for key, value in catalog.items() if key != "dcat:dataset"},
        ensure_ascii=False,
    )


def test_the_catalogues_publisher_is_the_configured_operator(database_url: str) -> None:
    settings = Settings(
        database_url=database_url,
        publisher_name="オープンデータ推進協議会",
        publisher_url="https://opendata.example.jp/",
        catalog_keywords="行政改革, オープンデータ,金沢市",
    )
    application = create_app(settings)
    try:
        with TestClient(application) as client:
            catalog = _catalog(client)
    finally:
        application.state.engine.dispose()
    assert catalog["dct:publisher"] == {
        "@type": "foaf:Agent",
        "foaf:name": "オープンデータ推進協議会",
        "foaf:homepage": "https://opendata.example.jp/",
    }
    assert catalog["@context"]["foaf:homepage"] == {"@type": "@id"}
    # The operator's keywords follow the data's, each once.
    assert catalog["dcat:dataset"][0]["dcat:keyword"] == [
        "金沢市行政経営プラン",
        "金沢市",
        "行政改革",
        "オープンデータ",
    ]
    # Each plan's data is published by the operator too: the city publishes its document.
    [dataset] = catalog["dcat:dataset"]
    assert dataset["dct:publisher"] == catalog["dct:publisher"]


# --------------------------------------------------------------------------------------------
# 4. Control characters, and CP932 that names what it cannot hold
# --------------------------------------------------------------------------------------------

# (method, path, field, a value with a control character), for every kind of text field.
# Single-line fields (titles, names, units) refuse line breaks too.
REFUSED_TEXT = [
    pytest.param("POST", "/plans", "title", "金沢市\x82プラン", id="plan-title-U+0082"),
    pytest.param("PATCH", "/plans/1", "municipality_name", "金沢\x1b市", id="plan-name-ESC"),
    pytest.param("PATCH", "/plans/1", "philosophy", "理念\x85", id="plan-philosophy-NEL"),
    pytest.param("PATCH", "/policies/1", "focus", "重点\n二行目", id="policy-focus-LF"),
    pytest.param("PATCH", "/measures/1", "title", "施策\t名", id="measure-title-tab"),
    pytest.param("PATCH", "/initiatives/1", "title", "取組\r\n", id="initiative-title-CRLF"),
    pytest.param("PATCH", "/initiatives/1", "description", "内容\x07", id="description-BEL"),
    pytest.param("PATCH", "/initiatives/1", "target_unit", "件\x7f", id="unit-DEL"),
    pytest.param("PATCH", "/reports/1", "title", "公表\x9f", id="report-title-U+009F"),
    pytest.param(
        "PUT", "/initiatives/1/evaluations/2024", "result", "実績\x0c", id="result-form-feed"
    ),
]
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
NEW_PLAN = {
    "slug": "toyama-2024-2027",
    "title": "富山市行政経営プラン",
    "municipality_code": "162019",
    "municipality_name": "富山市",
    "start_fiscal_year": 2024,
    "end_fiscal_year": 2027,
}


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path", "field", "value"), REFUSED_TEXT)
def test_a_control_character_in_text_is_refused_naming_the_field(
    api: Api, method: str, path: str, field: str, value: str
) -> None:
    before = api.client.get(f"{API}{path}").json() if method != "POST" else None
    body = {**NEW_PLAN, field: value} if method == "POST" else {field: value}
    response = api.client.request(method, f"{API}{path}", json=body, headers=api.editor)
    assert response.status_code == 422, response.text
    assert media(response) == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["loc"][-1] == field
    assert f"U+{ord(CONTROL.findall(value)[0]):04X}" in error["msg"]
    if method == "POST":
        plans = api.client.get(f"{API}/plans", params={"slug": NEW_PLAN["slug"]}).json()
        assert plans["total"] == 0
    else:
        assert api.client.get(f"{API}{path}").json() == before


MULTI_LINE = [
    pytest.param("PATCH", "/plans/1", "philosophy", id="plan-philosophy"),
    pytest.param("PATCH", "/initiatives/1", "description", id="initiative-description"),
    pytest.param("PUT", "/initiatives/1/evaluations/2024", "result", id="evaluation-result"),
]


@pytest.mark.parametrize(("method", "path", "field"), MULTI_LINE)
def test_multi_line_text_keeps_tabs_and_line_breaks(
    api: Api, method: str, path: str, field: str
) -> None:
    value = "一行目\r\n二行目\n\t字下げ"
    response = api.client.request(method, f"{API}{path}", json={field: value}, headers=api.editor)
    assert response.status_code in (200, 201), response.text
    assert api.client.get(f"{API}{path}").json()[field] == value


def test_bulk_json_refuses_a_control_character_and_writes_nothing(api: Api) -> None:
    before = api.client.get(f"{API}/export/initiatives.json").json()
    response = api.client.post(
        f"{API}/bulk/initiatives",
        params={"plan_id": 1},
        json={"items": [{"code": "R6-7", "title": "取組\x82"}, {"code": "R6-10", "title": "可"}]},
        headers=api.editor,
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["row"] == 0 and error["loc"] == [0, "title"]
    assert "U+0082" in error["msg"]
    assert api.client.get(f"{API}/export/initiatives.json").json() == before


def test_bulk_csv_refuses_a_control_character_and_writes_nothing(api: Api) -> None:
    before = api.client.get(f"{API}/export/evaluations.json").json()
    csv_body = "取組番号,年度,実績\r\nR6-7,2024,ok\r\nR6-10,2024,実績\x1b\r\n"
    response = api.client.post(
        f"{API}/bulk/evaluations",
        params={"plan_id": 1},
        content=csv_body.encode("utf-8"),
        headers=api.editor | {"Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["row"], error["line"], error["loc"]) == (1, 3, [1, "result"])
    assert "U+001B" in error["msg"]
    assert api.client.get(f"{API}/export/evaluations.json").json() == before


def test_a_control_character_stored_earlier_is_named_by_cp932(api: Api) -> None:
    """Data written before the rule (U+0082 was accepted): CP932 names it, UTF-8 carries it."""
    with api.engine.begin() as connection:
        connection.execute(
            text("UPDATE initiatives SET title = :title WHERE code = 'R6-7'"),
            {"title": "取組\x82事項"},
        )
    response = api.client.get(export_url("initiatives", "csv"), params={"encoding": "cp932"})
    [error] = assert_problem(response, 422)["errors"]
    assert "U+0082" in error["msg"], error["msg"]
    utf8 = api.client.get(export_url("initiatives", "csv"))
    assert "取組\x82事項" in utf8.content.decode("utf-8-sig")


@pytest.mark.parametrize("stats", ["achievement", "plans"])
def test_cp932_statistics_refuse_what_it_cannot_hold_too(api: Api, stats: str) -> None:
    patched = api.client.patch(
        f"{API}/policies/1", json={"title": "𠮷野家♥の基本方針"}, headers=api.editor
    )
    assert patched.status_code == 200, patched.text
    if stats == "plans":  # the comparison names plans: give the plan's title the characters
        patched = api.client.patch(
            f"{API}/plans/1", json={"title": "𠮷野家♥のプラン"}, headers=api.editor
        )
        assert patched.status_code == 200, patched.text
    utf8 = api.client.get(f"{API}/stats/{stats}", params={"format": "csv"})
    assert utf8.status_code == 200
    lines = utf8.content.decode("utf-8-sig").split("\r\n")
    line = next(number for number, text in enumerate(lines, start=1) if "𠮷野家♥の" in text)
    params = {"format": "csv", "encoding": "cp932"}
    response = api.client.get(f"{API}/stats/{stats}", params=params)
    [error] = assert_problem(response, 422)["errors"]
    assert f"'𠮷' (U+20BB7), in row {line - 1} (line {line})" in error["msg"], error["msg"]
    assert response.headers["cache-control"] == "no-store"
    # Refused again: a refusal is never a kept answer.
    assert api.client.get(f"{API}/stats/{stats}", params=params).status_code == 422
