"""Open data as a user gets it: CSV, JSON and .xlsx exports, the plan's zip bundle, the DCAT
catalogue, HTTP caching, security headers, CORS and Japanese-aware search.

Every test reads the bytes the client receives. Expected values come from the seed file
(seed/kanazawa-2023-2026.toml) and from the contract (../shared/spec/API.md), never from a
response. The shared database (`client`) is only read; tests that write use `api`.
"""

import csv
import gc
import io
import json
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import frictionless
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from frictionless.resources import TableResource
from openpyxl import load_workbook

from app.exports import writers
from tests.conftest import Api
from tests.helpers import SEED, assert_problem, by_code, natural

PLAN: dict[str, Any] = SEED["plan"]
API = "/api/v1"
PROBLEM = "application/problem+json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = b"\xef\xbb\xbf"
UNKNOWN_ID = 999_999

Item = dict[str, Any]
Row = list[str]

TABLES = [
    "plans", "policies", "measures", "initiatives", "evaluations", "reports", "highlights"
]  # fmt: skip
FORMATS = ["csv", "json", "xlsx"]

# API.md, "CSV columns": the Japanese and English names, in order, of the two main tables.
INITIATIVE_COLUMNS = [
    ("全国地方公共団体コード", "municipality_code"),
    ("地方公共団体名", "municipality_name"),
    ("計画", "plan_slug"),
    ("基本方針番号", "policy_number"),
    ("施策番号", "measure_number"),
    ("取組番号", "code"),
    ("取組事項", "title"),
    ("内容", "description"),
    ("掲載ページ", "plan_page"),
    ("年度", "fiscal_year"),
    ("年度（和暦）", "fiscal_year_label"),
    ("数値目標", "numeric_target"),
    ("目標値", "target_value"),
    ("単位", "target_unit"),
]
EVALUATION_COLUMNS = [
    ("全国地方公共団体コード", "municipality_code"),
    ("地方公共団体名", "municipality_name"),
    ("計画", "plan_slug"),
    ("取組番号", "code"),
    ("年度", "fiscal_year"),
    ("年度（和暦）", "fiscal_year_label"),
    ("評価", "status"),
    ("実績値", "actual_value"),
    ("実績", "result"),
    ("出典", "source"),
    ("来歴", "provenance"),
]
COLUMNS = {"initiatives": INITIATIVE_COLUMNS, "evaluations": EVALUATION_COLUMNS}
STATUS_JA = {"achieved": "達成", "not_achieved": "未達成", "unconfirmed": "数値未確定"}


# --------------------------------------------------------------------------------------------
# What the seed file says
# --------------------------------------------------------------------------------------------


def fiscal_year_label(year: int) -> str:
    era = year - 2018
    return f"令和{'元' if era == 1 else era}年度"


INITIATIVES: dict[str, Item] = {item["code"]: item for item in SEED["initiatives"]}
ALL_CODES = by_code(list(INITIATIVES))
EVALUATIONS: dict[str, Item] = {
    code: item["evaluation"] for code, item in INITIATIVES.items() if "evaluation" in item
}
EVALUATED_CODES = sorted(
    EVALUATIONS, key=lambda code: (EVALUATIONS[code]["fiscal_year"], natural(code))
)
MEASURE_COUNT = sum(len(policy["measures"]) for policy in SEED["policies"])
ROW_COUNTS = {
    "plans": 1,
    "policies": len(SEED["policies"]),
    "measures": MEASURE_COUNT,
    "initiatives": len(INITIATIVES),
    "evaluations": len(EVALUATIONS),
}
PLAN_COLUMNS = [PLAN["municipality_code"], PLAN["municipality_name"], PLAN["slug"]]


def expected_initiative_rows() -> list[Row]:
    """The initiatives CSV as the seed and API.md's table make it (cells as text)."""
    rows = []
    for code in ALL_CODES:
        item = INITIATIVES[code]
        rows.append(
            [
                *PLAN_COLUMNS,
                str(item["policy"]),
                str(item["measure"]),
                code,
                item["title"],
                item.get("description", ""),
                str(item["plan_page"]),
                str(item["fiscal_year"]),
                fiscal_year_label(item["fiscal_year"]),
                "true" if item["numeric_target"] else "false",
                "",
                "",
            ]
        )
    return rows


def expected_evaluation_rows() -> list[Row]:
    """The evaluations CSV (Japanese headers: 評価 in Japanese, empty = no status)."""
    rows = []
    for code in EVALUATED_CODES:
        evaluation = EVALUATIONS[code]
        status = evaluation.get("status")
        rows.append(
            [
                *PLAN_COLUMNS,
                code,
                str(evaluation["fiscal_year"]),
                fiscal_year_label(evaluation["fiscal_year"]),
                STATUS_JA[status] if status else "",
                "",
                evaluation["result"],
                evaluation["source"],
                {"stated": "記載", "inferred": "推定", "external": "外部"}[
                    evaluation.get("provenance", "external")
                ],
            ]
        )
    return rows


_HYPHEN_LIKE = re.compile("[\u2010-\u2015\u2212\u2043\u02d7\u2796\ufe58\ufe63\uff0d]")


def fold(text: str) -> str:
    """The contract's search form: NFKC, casefold, hyphen-like characters folded, katakana
    as hiragana."""
    folded = _HYPHEN_LIKE.sub("-", unicodedata.normalize("NFKC", text).casefold())
    folded = "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in folded)
    return re.sub(r"\s+", " ", folded).strip()


def seed_search(query: str, predicate: Callable[[Item], bool] = lambda item: True) -> list[str]:
    """Codes whose code, title, description or evaluation result contain each word of the
    query (a word may be in one, the next in another)."""
    words = fold(query).split(" ")
    found = []
    for code, item in INITIATIVES.items():
        texts = [
            code,
            item["title"],
            item.get("description"),
            EVALUATIONS.get(code, {}).get("result"),
        ]
        folded = [fold(text) for text in texts if text]
        if predicate(item) and all(any(word in text for text in folded) for word in words):
            found.append(code)
    return by_code(found)


# --------------------------------------------------------------------------------------------
# Helpers that read what the client got
# --------------------------------------------------------------------------------------------


def export_url(name: str, fmt: str) -> str:
    return f"{API}/export/{name}.{fmt}"


def media(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip().lower()


def content_type_params(response: httpx.Response) -> dict[str, str]:
    parts = response.headers["content-type"].split(";")[1:]
    pairs = (part.strip().split("=", 1) for part in parts if "=" in part)
    return {key.strip().lower(): value.strip().strip('"') for key, value in pairs}


def parse_csv(text: str) -> list[Row]:
    return list(csv.reader(io.StringIO(text, newline="")))


def csv_text(response: httpx.Response) -> str:
    """The UTF-8 CSV body, checked for status, type, BOM and line ends, without its BOM."""
    assert response.status_code == 200, response.text
    assert media(response) == "text/csv"
    assert content_type_params(response).get("charset", "").lower() == "utf-8"
    assert response.content.startswith(BOM)
    text = response.content[len(BOM) :].decode("utf-8")
    assert_crlf(text)
    return text


def assert_crlf(text: str) -> None:
    assert text.endswith("\r\n")
    assert re.search(r"(?<!\r)\n", text) is None, "a line ends with LF alone"
    assert re.search(r"\r(?!\n)", text) is None, "a line ends with CR alone"


def get_csv(client: TestClient, name: str, **params: Any) -> list[Row]:
    """Header and rows of a CSV export with a BOM (the default)."""
    return parse_csv(csv_text(client.get(export_url(name, "csv"), params=params)))


def links(response: httpx.Response) -> dict[str, str]:
    """The Link header as {rel: url}."""
    header = response.headers.get("link", "")
    return {rel: url for url, rel in re.findall(r'<([^>]*)>\s*;\s*rel="([^"]+)"', header)}


def utf8_filename(response: httpx.Response) -> str:
    """The file name of Content-Disposition's filename*=UTF-8''..."""
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment")
    match = re.search(r"filename\*=UTF-8''([^;\s]+)", disposition, re.IGNORECASE)
    assert match, disposition
    return unquote(match[1], encoding="utf-8", errors="strict")


def as_text(value: Any) -> str:
    """A JSON or spreadsheet value as the plain CSV text the contract writes for it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def same_cell(value: Any, text: str) -> bool:
    """Whether a typed value (JSON or .xlsx) holds what a CSV cell says."""
    if isinstance(value, int | float) and not isinstance(value, bool) and text:
        return float(text) == float(value)
    if isinstance(value, dict):  # a provenance map: an object in JSON, JSON text in a cell
        return bool(value == json.loads(text))
    return as_text(value) == text


def xlsx_rows(content: bytes) -> list[list[Any]]:
    workbook = load_workbook(io.BytesIO(content))
    sheet = workbook.worksheets[0]
    return [[cell for cell in row] for row in sheet.iter_rows()]


def initiative_ids(client: TestClient) -> dict[str, int]:
    response = client.get(f"{API}/initiatives", params={"limit": 500})
    assert response.status_code == 200, response.text
    return {item["code"]: item["id"] for item in response.json()["items"]}


# --------------------------------------------------------------------------------------------
# 1. CSV
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TABLES)
def test_csv_is_utf8_with_bom_crlf_and_a_header_first(client: TestClient, name: str) -> None:
    response = client.get(export_url(name, "csv"))
    text = csv_text(response)
    header, *rows = parse_csv(text)
    assert header[:2] == ["全国地方公共団体コード", "地方公共団体名"]
    assert rows, "the seed has rows in every table"
    if name in ROW_COUNTS:
        assert len(rows) == ROW_COUNTS[name]
    for row in rows:
        assert len(row) == len(header)
        assert row[:2] == [PLAN["municipality_code"], PLAN["municipality_name"]]
    assert '="' not in text, "no Excel formula guards in plain CSV"


@pytest.mark.parametrize("name", TABLES)
def test_csv_without_bom_is_the_same_text(client: TestClient, name: str) -> None:
    with_bom = client.get(export_url(name, "csv"))
    without = client.get(export_url(name, "csv"), params={"bom": "false"})
    assert without.status_code == 200, without.text
    assert not without.content.startswith(BOM)
    assert without.content.decode("utf-8") == csv_text(with_bom)
    assert_crlf(without.content.decode("utf-8"))


@pytest.mark.parametrize("name", TABLES)
def test_english_headers_name_the_same_rows(client: TestClient, name: str) -> None:
    ja_header, *ja_rows = get_csv(client, name)
    en_header, *en_rows = get_csv(client, name, header="en")
    assert en_header[:2] == ["municipality_code", "municipality_name"]
    assert len(en_header) == len(ja_header)
    assert all(re.fullmatch(r"[a-z_]+", column) for column in en_header), en_header
    assert len(en_rows) == len(ja_rows)
    for en_row, ja_row in zip(en_rows, ja_rows, strict=True):
        assert en_row[:2] == ja_row[:2] == [PLAN["municipality_code"], PLAN["municipality_name"]]


@pytest.mark.parametrize("name", sorted(COLUMNS))
@pytest.mark.parametrize("language", ["ja", "en"])
def test_headers_are_api_md_columns(client: TestClient, name: str, language: str) -> None:
    header, *_ = get_csv(client, name, header=language)
    index = 0 if language == "ja" else 1
    assert header == [pair[index] for pair in COLUMNS[name]]


def test_the_default_language_is_japanese(client: TestClient) -> None:
    assert get_csv(client, "initiatives") == get_csv(client, "initiatives", header="ja")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("initiatives", expected_initiative_rows()), ("evaluations", expected_evaluation_rows())],
)
def test_csv_rows_are_the_seed_as_written(
    client: TestClient, name: str, expected: list[Row]
) -> None:
    _, *rows = get_csv(client, name)
    assert rows == expected


def test_csv_has_18_initiatives_and_9_evaluations(client: TestClient) -> None:
    assert len(get_csv(client, "initiatives")) - 1 == 18
    assert len(get_csv(client, "evaluations")) - 1 == 9


@pytest.mark.parametrize("name", TABLES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_downloads_are_named_and_carry_licence_and_source(
    client: TestClient, name: str, fmt: str
) -> None:
    response = client.get(export_url(name, fmt))
    assert response.status_code == 200, response.text
    filename = utf8_filename(response)
    assert filename.startswith(name) and filename.endswith(f".{fmt}"), filename
    found = links(response)
    assert found.get("license") == PLAN["license_url"]
    described = client.get(found["describedby"])
    assert described.status_code == 200, described.text
    # Online, each resource is the URL of its CSV export (tests/test_open_data.py).
    paths = {urlsplit(resource["path"]).path for resource in described.json()["resources"]}
    assert export_url(name, "csv") in paths


@pytest.mark.parametrize("name", TABLES)
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_plan_filter_gives_the_same_rows(client: TestClient, name: str, fmt: str) -> None:
    everything = client.get(export_url(name, fmt))
    filtered = client.get(export_url(name, fmt), params={"plan_id": 1})
    assert everything.status_code == filtered.status_code == 200, filtered.text
    if fmt == "csv":
        assert parse_csv(csv_text(filtered)) == parse_csv(csv_text(everything))
    else:
        assert filtered.json() == everything.json()


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_plan_is_404(client: TestClient, fmt: str) -> None:
    response = client.get(export_url("initiatives", fmt), params={"plan_id": UNKNOWN_ID})
    body = assert_problem(response, 404)
    assert str(UNKNOWN_ID) in body["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/export/programmes.csv",
        "/export/initiatives.txt",
        "/export/initiatives.CSV",
        "/export/initiatives.xls",
        "/export/tokens.json",
    ],
)
def test_unknown_table_or_format_is_422(client: TestClient, path: str) -> None:
    body = assert_problem(client.get(f"{API}{path}"), 422)
    assert body["errors"]


@pytest.mark.parametrize(
    "params",
    [{"bom": "maybe"}, {"encoding": "latin-1"}, {"header": "fr"}, {"plan_id": "one"}],
)
def test_bad_csv_options_are_422(client: TestClient, params: dict[str, str]) -> None:
    body = assert_problem(client.get(export_url("initiatives", "csv"), params=params), 422)
    assert body["errors"][0]["loc"][-1] == next(iter(params))


# --------------------------------------------------------------------------------------------
# 2. CP932
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TABLES)
@pytest.mark.parametrize("language", ["ja", "en"])
def test_cp932_decodes_to_the_utf8_content(client: TestClient, name: str, language: str) -> None:
    utf8 = client.get(export_url(name, "csv"), params={"header": language})
    cp932 = client.get(export_url(name, "csv"), params={"header": language, "encoding": "cp932"})
    assert cp932.status_code == 200, cp932.text
    assert media(cp932) == "text/csv"
    charset = content_type_params(cp932).get("charset", "").lower()
    assert charset in {"cp932", "windows-31j", "shift_jis"}, charset
    assert not cp932.content.startswith(BOM)
    text = cp932.content.decode("cp932")
    assert text == csv_text(utf8)
    assert_crlf(text)


CP932_CASES = [
    # (table, code, what to write, character CP932 cannot hold)
    pytest.param("initiatives", "R6-10", "title", "𠮷", id="title-U+20BB7"),
    pytest.param("initiatives", "R7-14", "description", "♥", id="description-U+2665"),
    pytest.param("evaluations", "R6-13", "result", "©", id="result-U+00A9"),
]


JA_HEADER = {"title": "取組事項", "description": "内容", "result": "実績"}


def _store(api: Api, table: str, code: str, field: str, char: str) -> None:
    initiative_id = initiative_ids(api.client)[code]
    if table == "initiatives":
        original = INITIATIVES[code][field]
        response = api.client.patch(
            f"{API}/initiatives/{initiative_id}",
            json={field: f"{original}{char}"},
            headers=api.editor,
        )
    else:
        evaluation = EVALUATIONS[code]
        response = api.client.put(
            f"{API}/initiatives/{initiative_id}/evaluations/{evaluation['fiscal_year']}",
            json={
                "status": evaluation.get("status"),
                "result": f"{evaluation['result']}{char}",
                "source": evaluation["source"],
            },
            headers=api.editor,
        )
    assert response.status_code == 200, response.text


@pytest.mark.slow
@pytest.mark.parametrize(("table", "code", "field", "char"), CP932_CASES)
def test_cp932_refuses_a_character_it_cannot_hold(
    api: Api, table: str, code: str, field: str, char: str
) -> None:
    """API.md: checked before the first byte, 422 naming the character and its row; and the
    refusal closes what it opened (on PostgreSQL, a server-side cursor)."""
    _store(api, table, code, field, char)
    # UTF-8 holds it: the data is stored and exported as given.
    assert char in csv_text(api.client.get(export_url(table, "csv")))

    response, caught = get_recording_warnings(
        api.client, export_url(table, "csv"), encoding="cp932"
    )
    assert not response.content.startswith("全国地方公共団体コード".encode("cp932"))
    body = assert_problem(response, 422)
    assert response.headers["cache-control"] == "no-store"
    assert "content-disposition" not in response.headers
    order = ALL_CODES if table == "initiatives" else EVALUATED_CODES
    position = order.index(code) + 1  # among the data rows, 1-based
    [error] = body["errors"]
    assert error["loc"] == ["query", "encoding"]
    assert error["type"] == "cp932_unencodable"
    assert body["detail"] == error["msg"]
    assert f"{char!r} (U+{ord(char):04X})" in error["msg"], error["msg"]
    assert f"row {position} (line {position + 1})" in error["msg"], error["msg"]
    assert f"column {JA_HEADER[field]}:" in error["msg"], error["msg"]
    assert "encoding=utf-8" in error["msg"]
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
    assert api.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_cp932_names_the_first_row_it_cannot_hold_in_the_language_of_the_header(
    api: Api,
) -> None:
    _store(api, "initiatives", "R7-14", "description", "♥")
    _store(api, "initiatives", "R6-10", "title", "𠮷")
    response = api.client.get(
        export_url("initiatives", "csv"), params={"encoding": "cp932", "header": "en"}
    )
    [error] = assert_problem(response, 422)["errors"]
    first = min(ALL_CODES.index("R7-14"), ALL_CODES.index("R6-10")) + 1
    assert f"row {first} " in error["msg"], error["msg"]
    name = "title" if ALL_CODES.index("R6-10") < ALL_CODES.index("R7-14") else "description"
    assert f"column {name}:" in error["msg"], error["msg"]


@pytest.mark.parametrize("batch", [1000, 4], ids=["one-chunk", "chunks-of-4"])
def test_cp932_counts_the_row_over_the_whole_file_whichever_chunk_it_is_in(
    api: Api, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(writers, "BATCH", batch)  # streamed in chunks of this many rows
    _store(api, "initiatives", "R7-14", "description", "♥")
    position = ALL_CODES.index("R7-14") + 1
    assert position > 4  # past the first chunk of 4
    response = api.client.get(export_url("initiatives", "csv"), params={"encoding": "cp932"})
    [error] = assert_problem(response, 422)["errors"]
    assert f"row {position} (line {position + 1}), column 内容:" in error["msg"], error["msg"]


def get_recording_warnings(
    client: TestClient, url: str, **params: Any
) -> tuple[httpx.Response, list[warnings.WarningMessage]]:
    """GET url, and return with the answer the warnings raised meanwhile (also in the app's
    threads and by objects collected as garbage), instead of letting them fail the test."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = client.get(url, params=params)
        gc.collect()
    return response, caught


def test_cp932_check_does_not_touch_other_tables(api: Api) -> None:
    _store(api, "initiatives", "R6-10", "title", "𠮷")
    response = api.client.get(export_url("evaluations", "csv"), params={"encoding": "cp932"})
    assert response.status_code == 200, response.text
    assert len(parse_csv(response.content.decode("cp932"))) - 1 == len(EVALUATIONS)


# --------------------------------------------------------------------------------------------
# 3. JSON equals the CSV
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TABLES)
def test_json_export_equals_the_csv(client: TestClient, name: str) -> None:
    response = client.get(export_url(name, "json"))
    assert response.status_code == 200, response.text
    assert media(response) == "application/json"
    records = response.json()
    header, *rows = get_csv(client, name, header="en")
    assert isinstance(records, list) and len(records) == len(rows)
    for record, row in zip(records, rows, strict=True):
        assert list(record) == header
        for key, text in zip(header, row, strict=True):
            assert same_cell(record[key], text), (key, record[key], text)
            if text == "":
                assert record[key] is None, key


def test_json_values_are_typed(client: TestClient) -> None:
    records = client.get(export_url("initiatives", "json")).json()
    assert [record["code"] for record in records] == ALL_CODES
    for record in records:
        item = INITIATIVES[record["code"]]
        assert record["municipality_code"] == PLAN["municipality_code"]  # text, not 172014
        assert record["plan_page"] == item["plan_page"] and type(record["plan_page"]) is int
        assert record["fiscal_year"] == item["fiscal_year"] and type(record["fiscal_year"]) is int
        assert record["numeric_target"] is item["numeric_target"]
        assert record["policy_number"] == item["policy"] and type(record["policy_number"]) is int
        assert record["description"] == item.get("description")  # null when the seed has none
        assert record["target_value"] is None


def test_json_evaluations_keep_a_missing_status_null(client: TestClient) -> None:
    records = client.get(export_url("evaluations", "json")).json()
    assert {record["code"]: record["status"] for record in records} == {
        code: evaluation.get("status") for code, evaluation in EVALUATIONS.items()
    }


def test_numbers_travel_as_numbers(api: Api) -> None:
    """Values the seed leaves empty, written through the API: zero is a number, not empty."""
    ids = initiative_ids(api.client)
    patched = api.client.patch(
        f"{API}/initiatives/{ids['R6-33']}",
        json={"target_value": 1500000, "target_unit": "円"},
        headers=api.editor,
    )
    assert patched.status_code == 200, patched.text
    for code, actual in [("R6-33", 0), ("R6-7", 12.5)]:
        put = api.client.put(
            f"{API}/initiatives/{ids[code]}/evaluations/2024",
            json={"status": "not_achieved", "actual_value": actual},
            headers=api.editor,
        )
        assert put.status_code == 200, put.text

    header, *rows = get_csv(api.client, "initiatives")
    [r6_33] = [row for row in rows if row[header.index("取組番号")] == "R6-33"]
    assert [r6_33[header.index("目標値")], r6_33[header.index("単位")]] == ["1500000", "円"]
    header, *rows = get_csv(api.client, "evaluations")
    actual_values = {row[header.index("取組番号")]: row[header.index("実績値")] for row in rows}
    assert (actual_values["R6-33"], actual_values["R6-7"]) == ("0", "12.5")

    initiatives = api.client.get(export_url("initiatives", "json")).json()
    [record] = [r for r in initiatives if r["code"] == "R6-33"]
    assert record["target_value"] == 1500000 and isinstance(record["target_value"], int | float)
    evaluations = api.client.get(export_url("evaluations", "json")).json()
    values = {r["code"]: r["actual_value"] for r in evaluations}
    assert values["R6-33"] == 0 and values["R6-33"] is not None and values["R6-7"] == 12.5
    assert all(
        isinstance(v, int | float) and not isinstance(v, bool)
        for v in values.values()
        if v is not None
    )

    sheet = xlsx_rows(api.client.get(export_url("evaluations", "xlsx")).content)
    names = [cell.value for cell in sheet[0]]
    cells = {row[names.index("取組番号")].value: row[names.index("実績値")] for row in sheet[1:]}
    assert (cells["R6-33"].data_type, cells["R6-33"].value) == ("n", 0)
    assert (cells["R6-7"].data_type, cells["R6-7"].value) == ("n", 12.5)


# --------------------------------------------------------------------------------------------
# 4. .xlsx
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TABLES)
def test_xlsx_holds_the_csv_rows(client: TestClient, name: str) -> None:
    response = client.get(export_url(name, "xlsx"))
    assert response.status_code == 200, response.text
    assert media(response) == XLSX
    header, *rows = xlsx_rows(response.content)
    csv_header, *csv_rows = get_csv(client, name)
    assert [cell.value for cell in header] == csv_header
    assert len(rows) == len(csv_rows)
    for cells, row in zip(rows, csv_rows, strict=True):
        values = [cell.value for cell in cells]
        assert all(same_cell(v, t) for v, t in zip(values, row, strict=True)), (values, row)
        assert cells[0].data_type == "s" and cells[0].value == PLAN["municipality_code"]


def test_xlsx_cells_are_typed(client: TestClient) -> None:
    header, *rows = xlsx_rows(client.get(export_url("initiatives", "xlsx")).content)
    names = [cell.value for cell in header]
    column = {name: names.index(name) for name, _ in INITIATIVE_COLUMNS}
    assert len(rows) == 18
    codes = []
    for cells in rows:
        code_cell = cells[column["取組番号"]]
        assert code_cell.data_type == "s"
        codes.append(code_cell.value)
        item = INITIATIVES[code_cell.value]
        municipality = cells[column["全国地方公共団体コード"]]
        assert municipality.data_type == "s" and municipality.value == "172014"
        for name, expected in [("掲載ページ", item["plan_page"]), ("年度", item["fiscal_year"])]:
            cell = cells[column[name]]
            assert cell.data_type == "n" and type(cell.value) is int and cell.value == expected
        assert cells[column["数値目標"]].value is item["numeric_target"]
    assert codes == ALL_CODES


def _add_plan_with_tricky_codes(api: Api, codes: list[str]) -> int:
    """A plan whose 団体コード starts with 0, with initiatives whose codes look like numbers."""
    plan = api.client.post(
        f"{API}/plans",
        json={
            "slug": "sapporo-2024-2027",
            "title": "札幌市行政経営プラン",
            "municipality_code": "011002",
            "municipality_name": "札幌市",
            "start_fiscal_year": 2024,
            "end_fiscal_year": 2027,
        },
        headers=api.editor,
    )
    assert plan.status_code == 201, plan.text
    plan_id: int = plan.json()["id"]
    policy = api.client.post(
        f"{API}/policies",
        json={"plan_id": plan_id, "number": 1, "title": "行政組織の質を高める"},
        headers=api.editor,
    )
    assert policy.status_code == 201, policy.text
    measure = api.client.post(
        f"{API}/measures",
        json={"policy_id": policy.json()["id"], "number": 1, "title": "働き方のDX"},
        headers=api.editor,
    )
    assert measure.status_code == 201, measure.text
    for code in codes:
        created = api.client.post(
            f"{API}/initiatives",
            json={
                "measure_id": measure.json()["id"],
                "code": code,
                "title": f"取組 {code}",
                "fiscal_year": 2024,
                "plan_page": 1,
            },
            headers=api.editor,
        )
        assert created.status_code == 201, created.text
    return plan_id


TRICKY_CODES = ["007", "1-2", "2024-10", "1E5"]  # a number, dates, a number in E notation


def test_codes_that_look_like_dates_or_numbers_stay_text(api: Api) -> None:
    plan_id = _add_plan_with_tricky_codes(api, TRICKY_CODES)

    response = api.client.get(export_url("initiatives", "xlsx"), params={"plan_id": plan_id})
    assert response.status_code == 200, response.text
    header, *rows = xlsx_rows(response.content)
    names = [cell.value for cell in header]
    code_at, municipality_at = names.index("取組番号"), names.index("全国地方公共団体コード")
    assert [(row[code_at].value, row[code_at].data_type) for row in rows] == [
        (code, "s") for code in by_code(TRICKY_CODES)
    ]
    assert {(row[municipality_at].value, row[municipality_at].data_type) for row in rows} == {
        ("011002", "s")
    }

    plans = xlsx_rows(api.client.get(export_url("plans", "xlsx")).content)[1:]
    assert {(row[0].value, row[0].data_type) for row in plans} == {
        (PLAN["municipality_code"], "s"),
        ("011002", "s"),
    }

    _, *csv_rows = get_csv(api.client, "initiatives", plan_id=plan_id)
    assert [row[:1] + row[5:6] for row in csv_rows] == [
        ["011002", code] for code in by_code(TRICKY_CODES)
    ]


def test_exports_of_two_plans_name_each_plans_city(api: Api) -> None:
    plan_id = _add_plan_with_tricky_codes(api, ["007"])
    _, *rows = get_csv(api.client, "initiatives")
    assert len(rows) == len(INITIATIVES) + 1
    assert {tuple(row[:2]) for row in rows} == {("172014", "金沢市"), ("011002", "札幌市")}
    _, *only = get_csv(api.client, "initiatives", plan_id=plan_id)
    assert [row[:2] + row[5:6] for row in only] == [["011002", "札幌市", "007"]]


# --------------------------------------------------------------------------------------------
# 5. The plan's bundle
# --------------------------------------------------------------------------------------------

BUNDLE_CSVS = [f"{name}.csv" for name in TABLES]


@pytest.fixture(scope="module")
def bundle_bytes(app: FastAPI) -> bytes:
    with TestClient(app) as test_client:
        response = test_client.get(f"{API}/export/plans/1.zip")
    assert response.status_code == 200, response.text
    assert media(response) == "application/zip"
    assert utf8_filename(response).endswith(".zip")
    assert links(response).get("license") == PLAN["license_url"]
    content: bytes = response.content
    return content


def _member(bundle: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return archive.read(name)


def table(package: frictionless.Package, name: str) -> TableResource:
    resource = package.get_resource(name)
    assert isinstance(resource, TableResource)
    return resource


def test_bundle_holds_every_csv_the_dictionary_licence_and_package(bundle_bytes: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(bundle_bytes)) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
    assert names >= {*BUNDLE_CSVS, "datapackage.json", "README.md", "LICENSE.txt"}


@pytest.mark.parametrize("name", TABLES)
def test_bundle_csvs_are_the_plans_exports(
    client: TestClient, bundle_bytes: bytes, name: str
) -> None:
    member = _member(bundle_bytes, f"{name}.csv")
    text = member.decode("utf-8-sig")
    assert_crlf(text)
    assert parse_csv(text) == get_csv(client, name, plan_id=1)


def test_bundle_readme_describes_columns_in_both_languages(bundle_bytes: bytes) -> None:
    readme = _member(bundle_bytes, "README.md").decode("utf-8")
    for name in BUNDLE_CSVS:
        assert name in readme
    for columns in COLUMNS.values():
        for ja, en in columns:
            assert re.search(rf"\b{en}\b", readme), en
            assert ja in readme, ja


def test_bundle_licence_names_cc_by_and_the_credit_line(bundle_bytes: bytes) -> None:
    licence = _member(bundle_bytes, "LICENSE.txt").decode("utf-8")
    assert "CC BY 4.0" in licence or "CC-BY-4.0" in licence
    assert PLAN["attribution"] in licence
    assert PLAN["license_url"] in licence


def test_bundle_package_validates(bundle_bytes: bytes, tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(bundle_bytes)) as archive:
        archive.extractall(tmp_path)
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])

    package = frictionless.Package(str(tmp_path / "datapackage.json"))
    assert sorted(str(resource.path) for resource in package.resources) == sorted(BUNDLE_CSVS)
    for resource in package.resources:
        field = resource.schema.get_field("全国地方公共団体コード")
        assert field.type == "string", resource.name

    rows = table(package, "initiatives").read_rows()
    assert [row["取組番号"] for row in rows] == ALL_CODES
    for row in rows:
        assert row["全国地方公共団体コード"] == "172014"
        item = INITIATIVES[row["取組番号"]]
        assert type(row["年度"]) is int and row["年度"] == item["fiscal_year"]
        assert type(row["掲載ページ"]) is int and row["掲載ページ"] == item["plan_page"]
        assert row["数値目標"] is item["numeric_target"]


def test_separate_datapackage_equals_the_bundles(client: TestClient, bundle_bytes: bytes) -> None:
    """The same descriptor but for where the files are: next to it in the zip, URLs online
    (tests/test_open_data.py checks that those URLs give the bundle's files)."""
    response = client.get(f"{API}/export/plans/1/datapackage.json")
    assert response.status_code == 200, response.text
    assert media(response) == "application/json"
    online, inside = response.json(), json.loads(_member(bundle_bytes, "datapackage.json"))
    assert [r["path"] for r in inside["resources"]] == BUNDLE_CSVS
    for resource in [*online["resources"], *inside["resources"]]:
        del resource["path"]
    assert online == inside


def test_downloaded_csv_reads_back_with_the_packages_types(
    client: TestClient, tmp_path: Path
) -> None:
    """Done when: the default CSV download reads back with the datapackage's types."""
    descriptor = client.get(f"{API}/export/plans/1/datapackage.json").json()
    for resource in descriptor["resources"]:  # the downloads, saved next to it
        resource["path"] = f"{resource['name']}.csv"
    (tmp_path / "datapackage.json").write_text(json.dumps(descriptor), encoding="utf-8")
    for name in TABLES:  # all of them: the foreign keys reach from one into another
        download = client.get(export_url(name, "csv"))
        assert download.status_code == 200, download.text
        (tmp_path / f"{name}.csv").write_bytes(download.content)
    package = frictionless.Package(str(tmp_path / "datapackage.json"))

    initiatives = table(package, "initiatives")
    report = initiatives.validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    rows = initiatives.read_rows()
    assert [(row["全国地方公共団体コード"], row["取組番号"], row["年度"]) for row in rows] == [
        ("172014", code, INITIATIVES[code]["fiscal_year"]) for code in ALL_CODES
    ]
    evaluations = table(package, "evaluations").read_rows()
    assert [(row["取組番号"], row["年度"], row["評価"]) for row in evaluations] == [
        (code, EVALUATIONS[code]["fiscal_year"], STATUS_JA.get(EVALUATIONS[code].get("status", "")))
        for code in EVALUATED_CODES
    ]


@pytest.mark.parametrize("path", ["/export/plans/{id}.zip", "/export/plans/{id}/datapackage.json"])
def test_bundle_of_an_unknown_plan_is_404(client: TestClient, path: str) -> None:
    assert_problem(client.get(API + path.format(id=UNKNOWN_ID)), 404)


# --------------------------------------------------------------------------------------------
# 6. Catalogue
# --------------------------------------------------------------------------------------------


def _catalog(client: TestClient) -> Item:
    response = client.get(f"{API}/catalog")
    assert response.status_code == 200, response.text
    assert media(response) in {"application/ld+json", "application/json"}
    body: Item = response.json()
    return body


def _datasets(catalog: Item) -> list[Item]:
    datasets = catalog.get("dcat:dataset")
    if datasets is None:
        datasets = [node for node in catalog.get("@graph", []) if node["@type"] == "dcat:Dataset"]
    return datasets if isinstance(datasets, list) else [datasets]


IANA_MEDIA_TYPES = "http://www.iana.org/assignments/media-types/"


def media_type(distribution: Item) -> str:
    """A distribution's media type, an IRI in IANA's registry (declared so in @context)."""
    iri: str = distribution["dcat:mediaType"]
    assert iri.startswith(IANA_MEDIA_TYPES), iri
    return iri.removeprefix(IANA_MEDIA_TYPES)


def _literal(value: Any) -> str:
    return str(value["@value"] if isinstance(value, dict) else value)


def test_catalog_describes_each_plan_as_a_dcat_dataset(client: TestClient) -> None:
    catalog = _catalog(client)
    context = catalog["@context"]
    assert context["dcat"] == "http://www.w3.org/ns/dcat#"
    assert context["dct"] == "http://purl.org/dc/terms/"
    [dataset] = _datasets(catalog)  # the seed has one plan
    assert dataset["@type"] == "dcat:Dataset"
    assert PLAN["municipality_name"] in _literal(dataset["dct:title"])
    assert PLAN["title"] in _literal(dataset["dct:title"])
    assert "dct:publisher" not in dataset  # no publisher is configured: none is invented
    assert dataset["dct:spatial"] == PLAN["municipality_code"]
    licence = dataset["dct:license"]
    assert (licence["@id"] if isinstance(licence, dict) else licence) == PLAN["license_url"]
    modified = datetime.fromisoformat(_literal(dataset["dct:modified"]))
    assert modified.tzinfo is not None
    assert modified <= datetime.now(UTC) + timedelta(minutes=1)
    distributions = dataset["dcat:distribution"]
    assert {media_type(d) for d in distributions} >= {"text/csv", "application/json", XLSX}


def test_catalog_download_urls_answer_with_their_media_type(client: TestClient) -> None:
    [dataset] = _datasets(_catalog(client))
    distributions = dataset["dcat:distribution"]
    urls = {d["dcat:downloadURL"] for d in distributions}
    assert {"initiatives.csv", "evaluations.csv"} <= {
        url.split("?")[0].rsplit("/", 1)[-1] for url in urls
    }
    for distribution in distributions:
        response = client.get(distribution["dcat:downloadURL"])
        assert response.status_code == 200, distribution
        assert media(response) == media_type(distribution), distribution


def test_catalog_lists_a_new_plan(api: Api) -> None:
    _add_plan_with_tricky_codes(api, ["007"])
    datasets = _datasets(_catalog(api.client))
    assert sorted(_literal(d["dct:title"]).split()[0] for d in datasets) == ["札幌市", "金沢市"]


# --------------------------------------------------------------------------------------------
# 7. Caching and security headers
# --------------------------------------------------------------------------------------------

CACHED_READS = [
    "/initiatives",
    "/evaluations?fiscal_year=R6",
    "/export/initiatives.csv",
    "/export/evaluations.csv?encoding=cp932",
    "/export/initiatives.json",
    "/export/initiatives.xlsx",
    "/export/plans/1.zip",
    "/export/plans/1/datapackage.json",
    "/stats/achievement",
    "/stats/summary?format=csv",
    "/catalog",
]


@pytest.mark.parametrize("path", CACHED_READS)
def test_public_reads_are_cacheable_and_revalidate(client: TestClient, path: str) -> None:
    first = client.get(API + path)
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]
    assert re.fullmatch(r'(W/)?"[^"]+"', etag), etag
    cache_control = first.headers["cache-control"]
    # A browser keeps it and asks again each time (an app sees its own writes at once).
    assert cache_control == "no-cache", cache_control

    again = client.get(API + path, headers={"If-None-Match": etag})
    assert again.status_code == 304, again.text
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == cache_control  # RFC 9110 15.4.5
    assert again.headers["vary"] == first.headers["vary"]
    other = client.get(API + path, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.content == first.content or path.endswith(".xlsx")


def test_representations_have_their_own_etags(client: TestClient) -> None:
    tags = {
        client.get(export_url("initiatives", fmt), params=params).headers["etag"]
        for fmt, params in [
            ("csv", {}),
            ("csv", {"bom": "false"}),
            ("csv", {"header": "en"}),
            ("csv", {"encoding": "cp932"}),
            ("json", {}),
            ("xlsx", {}),
        ]
    }
    assert len(tags) == 6


WRITE_WATCHED = [
    "/initiatives",
    "/export/evaluations.csv",
    "/export/initiatives.json",
    "/stats/achievement",
    "/catalog",
]


@pytest.mark.parametrize("path", WRITE_WATCHED)
def test_a_write_changes_the_etag(api: Api, path: str) -> None:
    before = api.client.get(API + path)
    assert before.status_code == 200, before.text
    etag = before.headers["etag"]
    assert api.client.get(API + path, headers={"If-None-Match": etag}).status_code == 304

    initiative_id = initiative_ids(api.client)["R6-7"]
    put = api.client.put(
        f"{API}/initiatives/{initiative_id}/evaluations/2024",
        json={"status": "not_achieved", "result": "未達成に改めた。"},
        headers=api.editor,
    )
    assert put.status_code == 200, put.text

    after = api.client.get(API + path, headers={"If-None-Match": etag})
    assert after.status_code == 200, after.text
    assert after.headers["etag"] != etag


def test_the_export_after_a_write_shows_it(api: Api) -> None:
    initiative_id = initiative_ids(api.client)["R6-7"]
    put = api.client.put(
        f"{API}/initiatives/{initiative_id}/evaluations/2024",
        json={"status": "not_achieved", "result": "未達成に改めた。"},
        headers=api.editor,
    )
    assert put.status_code == 200, put.text
    _, *rows = get_csv(api.client, "evaluations")
    by_code_year = {(row[3], row[4]): row for row in rows}
    assert by_code_year[("R6-7", "2024")][6:9] == ["未達成", "", "未達成に改めた。"]


@pytest.mark.parametrize("path", ["/initiatives", "/export/initiatives.csv", "/stats/achievement"])
def test_authenticated_reads_are_not_stored(api: Api, path: str) -> None:
    response = api.client.get(API + path, headers=api.editor)
    assert response.status_code == 200, response.text
    cache_control = response.headers["cache-control"]
    assert "no-store" in cache_control and "public" not in cache_control


ERRORS = [
    ("/export/initiatives.csv?plan_id=999999", 404),
    ("/export/plans/999999.zip", 404),
    ("/initiatives/999999", 404),
    ("/export/programmes.csv", 422),
    ("/export/initiatives.csv?encoding=latin-1", 422),
    ("/initiatives?limit=501", 422),
    ("/stats/achievement?fiscal_year=R99", 422),
]


@pytest.mark.parametrize(("path", "status"), ERRORS)
def test_errors_are_problems_and_not_stored(client: TestClient, path: str, status: int) -> None:
    response = client.get(API + path)
    assert_problem(response, status)
    assert "no-store" in response.headers["cache-control"]
    assert "etag" not in response.headers


SECURITY_CASES: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/export/initiatives.csv", {}),
    ("GET", "/export/initiatives.xlsx", {}),
    ("GET", "/export/plans/1.zip", {}),
    ("GET", "/catalog", {}),
    ("GET", "/initiatives", {}),
    ("GET", "/export/programmes.csv", {}),
    ("GET", "/export/initiatives.csv?plan_id=999999", {}),
    ("GET", "/nowhere", {}),
    ("PATCH", "/initiatives/1", {}),
    (
        "OPTIONS",
        "/initiatives/1",
        {"Origin": "https://example.org", "Access-Control-Request-Method": "PATCH"},
    ),
]


@pytest.mark.parametrize(("method", "path", "headers"), SECURITY_CASES)
def test_every_response_has_security_headers(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = client.request(method, API + path, headers=headers)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src" in response.headers["content-security-policy"]


def test_not_modified_has_security_headers(client: TestClient) -> None:
    etag = client.get(export_url("initiatives", "csv")).headers["etag"]
    response = client.get(export_url("initiatives", "csv"), headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" in response.headers


# --------------------------------------------------------------------------------------------
# 8. CORS
# --------------------------------------------------------------------------------------------

ORIGIN = "https://example.org"


@pytest.mark.parametrize(
    ("method", "path", "asked"),
    [
        ("PATCH", "/initiatives/1", ["If-Match", "Idempotency-Key", "Authorization"]),
        ("PUT", "/initiatives/1/evaluations/2024", ["If-Match", "Authorization", "Content-Type"]),
        ("GET", "/export/initiatives.csv", ["If-None-Match"]),
    ],
)
def test_preflight_from_a_browser_origin_is_allowed(
    client: TestClient, method: str, path: str, asked: list[str]
) -> None:
    response = client.options(
        API + path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ", ".join(asked),
        },
    )
    assert response.status_code in (200, 204), response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers.get("access-control-allow-credentials", "false") != "true"
    methods = {
        m.strip().upper() for m in response.headers["access-control-allow-methods"].split(",")
    }
    assert method in methods
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {header.lower() for header in asked} <= allowed


@pytest.mark.parametrize("path", ["/initiatives", "/export/initiatives.csv", "/catalog"])
def test_simple_get_exposes_the_headers_a_client_needs(client: TestClient, path: str) -> None:
    response = client.get(API + path, headers={"Origin": ORIGIN})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers.get("access-control-allow-credentials", "false") != "true"
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"etag", "link", "location", "content-disposition"} <= exposed


# --------------------------------------------------------------------------------------------
# 9. Search
# --------------------------------------------------------------------------------------------


def search(client: TestClient, **params: Any) -> list[str]:
    response = client.get(f"{API}/initiatives", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return [item["code"] for item in body["items"]]


@pytest.mark.parametrize(
    ("query", "must_find"),
    [("ＤＸ", "R7-11"), ("DX", "R7-11"), ("dx", "R7-11"), ("通学", "R6-10"), ("車", "R6-7")],
)
def test_short_words_are_found(client: TestClient, query: str, must_find: str) -> None:
    found = search(client, q=query)
    assert must_find in found
    assert found == seed_search(query)


def test_full_width_and_case_find_the_same(client: TestClient) -> None:
    assert search(client, q="ＤＸ") == search(client, q="DX") == search(client, q="dx")


@pytest.mark.parametrize("query", ["R6-1", "R6－1", "R6‐1", "ｒ６－１"])
def test_codes_are_found_however_the_hyphen_is_typed(client: TestClient, query: str) -> None:
    assert search(client, q=query) == seed_search("R6-1") != []


@pytest.mark.parametrize("query", ["%", "_", "\\", "'", "R6_7", "R%7"])
def test_like_metacharacters_match_literally(client: TestClient, query: str) -> None:
    assert search(client, q=query) == seed_search(query) == []


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        (
            {"q": "ＤＸ", "fiscal_year": "R7", "numeric_target": "true"},
            lambda item: item["fiscal_year"] == 2025 and item["numeric_target"],
        ),
        ({"q": "DX", "fiscal_year": "R6"}, lambda item: item["fiscal_year"] == 2024),
        (
            {"q": "車", "fiscal_year": "令和6年度", "numeric_target": "false"},
            lambda item: item["fiscal_year"] == 2024 and not item["numeric_target"],
        ),
        ({"q": "金沢", "fiscal_year": "2025"}, lambda item: item["fiscal_year"] == 2025),
    ],
)
def test_search_combines_with_filters(
    client: TestClient, params: dict[str, str], predicate: Callable[[Item], bool]
) -> None:
    assert search(client, **params) == seed_search(params["q"], predicate)


def test_search_and_filter_find_r7_11(client: TestClient) -> None:
    assert search(client, q="ＤＸ", fiscal_year="R7", numeric_target="true") == ["R7-11"]


def test_search_reaches_evaluation_results(client: TestClient) -> None:
    # 伝票 appears only in R6-7's evaluation result, not in its title.
    assert "伝票" not in INITIATIVES["R6-7"]["title"]
    assert search(client, q="伝票") == ["R6-7"]
