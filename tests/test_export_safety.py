"""Exports cannot run code (issue 15, item 5).

A title such as =HYPERLINK("http://x","y") is data. In the .xlsx export it is a text cell,
never a formula (openpyxl makes any string starting with = a formula unless told otherwise).
The CSV keeps it exactly by default (API.md: the round trip, no `="..."` guards); with
`excel_safe=true` (exports and statistics) text a spreadsheet would run (starting with =, +, -,
@, a tab or a carriage return: OWASP's CSV injection list) is written after a single quote,
numbers stay numbers, and the bulk import keeps that quote (such a file is for reading).
"""

import csv
import io
import zipfile
from typing import Any

import pytest
from httpx import Response
from openpyxl import load_workbook

from tests.conftest import Api

API = "/api/v1"
BOM = "\ufeff"
HYPERLINK = '=HYPERLINK("http://x","y")'
# OWASP's characters that make a spreadsheet read a cell as a formula, each in a text cell.
RISKY = [HYPERLINK, "+1+1", "-1+1", "@SUM(A1:A2)"]
RISKY_DESCRIPTIONS = ["\t=1+1", "\r=1+1"]  # multiline text may start with a tab or CR


def initiative_id(api: Api, code: str) -> int:
    response = api.client.get(f"{API}/initiatives", params={"code": code})
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    identifier: int = item["id"]
    return identifier


def patch_initiative(api: Api, code: str, **fields: Any) -> None:
    response = api.client.patch(
        f"{API}/initiatives/{initiative_id(api, code)}", json=fields, headers=api.editor
    )
    assert response.status_code == 200, response.text


def csv_rows(response: Response, encoding: str = "utf-8") -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode(encoding).removeprefix(BOM)
    return list(csv.DictReader(io.StringIO(text, newline="")))


def by_code(rows: list[dict[str, str]], column: str = "取組番号") -> dict[str, dict[str, str]]:
    return {row[column]: row for row in rows}


CODES = ["R6-7", "R6-10", "R6-13", "R6-19"]  # seed initiatives, one per risky title


@pytest.fixture
def risky(api: Api) -> Api:
    """The seed with risky titles (and descriptions starting with a tab or CR) and a negative
    target value, written through the API as any editor could."""
    for code, title in zip(CODES, RISKY, strict=True):
        patch_initiative(api, code, title=title)
    patch_initiative(api, "R6-7", description=RISKY_DESCRIPTIONS[0], target_value=-1.5)
    patch_initiative(api, "R6-10", description=RISKY_DESCRIPTIONS[1], target_unit="-")
    return api


# --------------------------------------------------------------------------------------------
# .xlsx: text is text
# --------------------------------------------------------------------------------------------


def test_xlsx_writes_formula_like_text_as_text_cells(risky: Api) -> None:
    response = risky.client.get(f"{API}/export/initiatives.xlsx", params={"header": "en"})
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    header, *rows = list(sheet.iter_rows())
    column = {cell.value: index for index, cell in enumerate(header)}
    found = {row[column["code"]].value: row for row in rows}
    for code, title in zip(CODES, RISKY, strict=True):
        cell = found[code][column["title"]]
        assert cell.value == title
        assert cell.data_type == "s", f"{code}'s title is a {cell.data_type!r} cell"
    description = found["R6-7"][column["description"]]
    assert (description.value, description.data_type) == (RISKY_DESCRIPTIONS[0], "s")
    target = found["R6-7"][column["target_value"]]
    assert (target.value, target.data_type) == (-1.5, "n")  # a number stays a number
    # What LibreOffice or Excel would evaluate is a <f> element: the sheet has none.
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        sheets = [name for name in archive.namelist() if name.startswith("xl/worksheets/")]
        assert sheets
        for name in sheets:
            xml = archive.read(name).decode("utf-8")
            assert "<f>" not in xml and "<f " not in xml, name
            assert "HYPERLINK" in xml  # the text is there, as text


# --------------------------------------------------------------------------------------------
# CSV: exact by default, excel_safe on request
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_excel_safe_csv_quotes_text_a_spreadsheet_would_run(risky: Api, encoding: str) -> None:
    url = f"{API}/export/initiatives.csv"
    plain = by_code(csv_rows(risky.client.get(url, params={"encoding": encoding}), encoding))
    safe = by_code(
        csv_rows(
            risky.client.get(url, params={"encoding": encoding, "excel_safe": "true"}), encoding
        )
    )
    for code, title in zip(CODES, RISKY, strict=True):
        assert plain[code]["取組事項"] == title  # the default: exactly what is stored
        assert safe[code]["取組事項"] == "'" + title
    assert plain["R6-7"]["内容"] == RISKY_DESCRIPTIONS[0]
    assert safe["R6-7"]["内容"] == "'" + RISKY_DESCRIPTIONS[0]
    assert safe["R6-10"]["内容"] == "'" + RISKY_DESCRIPTIONS[1]
    assert safe["R6-10"]["単位"] == "'-"
    assert safe["R6-7"]["目標値"] == "-1.5"  # a negative number is a number, not text
    # Everything else is as in the default file.
    for code, row in plain.items():
        for name, value in row.items():
            if safe[code][name] != value:
                assert safe[code][name] == "'" + value, (code, name)
                assert value.startswith(("=", "+", "-", "@", "\t", "\r")), (code, name)
                assert name in ("取組事項", "内容", "単位"), (code, name)


def test_excel_safe_applies_to_statistics_csv(risky: Api) -> None:
    patch_initiative(risky, "R6-33", title="=1+1", target_value=-2.5, target_unit="@")
    url = f"{API}/stats/targets"
    params = {"format": "csv", "fiscal_year": "2024", "header": "en"}
    plain = by_code(csv_rows(risky.client.get(url, params=params)), "code")
    safe = by_code(csv_rows(risky.client.get(url, params=params | {"excel_safe": "true"})), "code")
    assert plain["R6-33"]["title"] == "=1+1"
    assert safe["R6-33"]["title"] == "'=1+1"
    assert safe["R6-33"]["target_unit"] == "'@"
    assert safe["R6-33"]["target_value"] == "-2.5"


def test_excel_safe_is_declared_in_the_openapi_schema(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    for path in ("/api/v1/export/{name}.{format}", "/api/v1/stats/targets.csv"):
        (parameter,) = [
            p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "excel_safe"
        ]
        assert parameter["in"] == "query"
        assert parameter["schema"]["type"] == "boolean"
        assert parameter["schema"]["default"] is False
        assert "Excel" in parameter["description"]


def test_bulk_import_keeps_the_quote_of_an_excel_safe_file(risky: Api) -> None:
    """The default file reads back unchanged; an excel_safe one would store the quote (the
    README says: such a file is for reading, not for editing and uploading)."""
    url = f"{API}/export/initiatives.csv"

    def reimport(**params: str) -> dict[str, str]:
        exported = risky.client.get(url, params=params)
        assert exported.status_code == 200, exported.text
        response = risky.client.post(
            f"{API}/bulk/initiatives",
            params={"dry_run": "true"},
            content=exported.content,
            headers={**risky.editor, "Content-Type": "text/csv; charset=utf-8"},
        )
        assert response.status_code == 200, response.text
        return {row["code"]: row["action"] for row in response.json()["rows"]}

    assert set(reimport().values()) == {"unchanged"}
    actions = reimport(excel_safe="true")
    assert {code for code, action in actions.items() if action == "updated"} == {*CODES}
    assert {action for code, action in actions.items() if code not in CODES} == {"unchanged"}
