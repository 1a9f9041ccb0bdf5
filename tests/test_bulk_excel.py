"""Bulk uploads take Excel back: the .xlsx /export gives, edited in a spreadsheet, and an HTML
form's file field (multipart/form-data), besides JSON and CSV.

Each test gets a database of its own (the `api` fixture). Expected values come from the
request or the seed file (seed/kanazawa-2023-2026.toml), never from a response.
"""

import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook, load_workbook

from tests.bulk_helpers import (
    CODES,
    EVALUATED,
    EVERYTHING,
    SEED_EVALUATION_YEAR,
    Item,
    must_evaluation,
    row_outcomes,
)
from tests.conftest import Api
from tests.helpers import API, assert_problem, snapshot

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EDITED = "公用車の給油をクレジットカード払いとし、伝票を廃止しました（Excel で更新）。"


def _exported(api: Api, table: str) -> bytes:
    response = api.client.get(f"{API}/export/{table}.xlsx")
    assert response.status_code == 200
    content: bytes = response.content
    return content


def _edit(content: bytes, code: str, column: str, value: Any) -> tuple[bytes, int]:
    """Set one cell of the row of `code`, as a person does in Excel; return the workbook and
    the row's number in the sheet."""
    workbook = load_workbook(io.BytesIO(content))
    sheet = workbook.worksheets[0]
    header = [cell.value for cell in sheet[1]]
    code_at, column_at = header.index("取組番号") + 1, header.index(column) + 1
    (number,) = [
        row for row in range(2, sheet.max_row + 1) if sheet.cell(row, code_at).value == code
    ]
    sheet.cell(number, column_at).value = value
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue(), number


def _post(api: Api, table: str, content_type: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = api.editor | ({"Content-Type": content_type} if content_type else {})
    response: httpx.Response = api.client.post(f"{API}/bulk/{table}", headers=headers, **kwargs)
    return response


def test_an_edited_export_uploads_and_changes_only_the_edited_cell(api: Api) -> None:
    code = EVALUATED[0]
    content, _ = _edit(_exported(api, "evaluations"), code, "実績", EDITED)
    before = must_evaluation(api.engine, code, SEED_EVALUATION_YEAR)
    response = _post(api, "evaluations", content=content, content_type=XLSX)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (0, 1, len(EVALUATED) - 1)
    after = must_evaluation(api.engine, code, SEED_EVALUATION_YEAR)
    assert after["result"] == EDITED
    assert after["version"] == before["version"] + 1
    assert {
        k: v
        for k, v in after.items()
        if k not in ("result", "search_text", "version", "updated_at")
    } == {
        k: v
        for k, v in before.items()
        if k not in ("result", "search_text", "version", "updated_at")
    }


def test_the_initiatives_workbook_uploads_back_unchanged(api: Api) -> None:
    before = snapshot(api.engine, EVERYTHING)
    response = _post(
        api,
        "initiatives",
        content=_exported(api, "initiatives"),
        content_type=XLSX,
    )
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == row_outcomes(CODES, "unchanged")
    assert snapshot(api.engine, EVERYTHING) == before


def test_a_bad_cell_is_named_by_its_row_as_excel_numbers_it_and_nothing_is_written(
    api: Api,
) -> None:
    content, number = _edit(_exported(api, "evaluations"), EVALUATED[2], "評価", "たぶん達成")
    before = snapshot(api.engine, EVERYTHING)
    response = _post(api, "evaluations", content=content, content_type=XLSX)
    problem = assert_problem(response, 422)
    assert [(error["line"], error["loc"][-1]) for error in problem["errors"]] == [
        (number, "status")
    ]
    assert snapshot(api.engine, EVERYTHING) == before


def test_what_is_not_a_workbook_is_a_422_problem_and_nothing_is_written(api: Api) -> None:
    before = snapshot(api.engine, EVERYTHING)
    for content in (b"not a zip at all", b"PK\x03\x04" + b"\x00" * 64, _zip_without_sheet()):
        response = _post(api, "evaluations", content=content, content_type=XLSX)
        problem = assert_problem(response, 422)
        assert "xlsx" in problem["detail"]
    empty = Workbook()
    out = io.BytesIO()
    empty.save(out)
    response = _post(api, "evaluations", content=out.getvalue(), content_type=XLSX)
    assert "header" in assert_problem(response, 422)["detail"]
    assert snapshot(api.engine, EVERYTHING) == before


def _zip_without_sheet() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "a zip, but no workbook")
    return out.getvalue()


def test_an_html_forms_file_uploads_as_csv_xlsx_or_json(api: Api) -> None:
    code = EVALUATED[1]
    csv_export = api.client.get(f"{API}/export/evaluations.csv").content
    content, _ = _edit(_exported(api, "evaluations"), code, "実績", EDITED)
    item = {"code": EVALUATED[3], "fiscal_year": SEED_EVALUATION_YEAR, "result": "JSON で更新"}
    json_body = json.dumps({"items": [item]}, ensure_ascii=False).encode()
    answers: list[Item] = []
    for name, data, part_type in (
        ("evaluations.csv", csv_export, "application/vnd.ms-excel"),  # as Windows labels CSV
        ("評価.xlsx", content, "application/octet-stream"),  # the name says what it is
        ("upload", json_body, "application/json"),  # no extension: its own type
    ):
        response = _post(api, "evaluations", files={"file": (name, data, part_type)})
        assert response.status_code == 200, (name, response.text)
        answers.append(response.json())
    assert [(a["updated"], a["created"], a["unchanged"]) for a in answers] == [
        (0, 0, len(EVALUATED)),
        (1, 0, len(EVALUATED) - 1),
        (1, 0, 0),
    ]
    assert must_evaluation(api.engine, code, SEED_EVALUATION_YEAR)["result"] == EDITED
    assert (
        must_evaluation(api.engine, EVALUATED[3], SEED_EVALUATION_YEAR)["result"] == item["result"]
    )


def test_a_form_without_one_readable_file_is_a_clear_problem(api: Api) -> None:
    before = snapshot(api.engine, EVERYTHING)
    no_file = _post(api, "evaluations", files={"note": (None, "no file here")})
    assert "file" in assert_problem(no_file, 422)["detail"]
    # A form with no file input at all is sent url-encoded: not a kind the route reads.
    assert_problem(_post(api, "evaluations", data={"note": "no file here"}), 415)
    unknown = _post(
        api, "evaluations", files={"file": ("data.bin", b"\x00\x01", "application/octet-stream")}
    )
    assert "data.bin" in assert_problem(unknown, 415)["detail"]
    two = _post(
        api,
        "evaluations",
        files=[("file", ("a.csv", b"x", "text/csv")), ("file", ("b.csv", b"y", "text/csv"))],
    )
    assert_problem(two, 422)
    assert snapshot(api.engine, EVERYTHING) == before


def test_a_retried_form_upload_replays_its_answer_though_its_boundary_is_new(api: Api) -> None:
    content, _ = _edit(_exported(api, "evaluations"), EVALUATED[0], "実績", EDITED)
    headers = {**api.editor, "Idempotency-Key": "excel-upload-1"}
    first = api.client.post(
        f"{API}/bulk/evaluations", headers=headers, files={"file": ("a.xlsx", content, XLSX)}
    )
    again = api.client.post(
        f"{API}/bulk/evaluations", headers=headers, files={"file": ("a.xlsx", content, XLSX)}
    )
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.request.headers["content-type"] != again.request.headers["content-type"]
    assert again.json()["updated"] == 1


SOFFICE = shutil.which("soffice")


@pytest.mark.slow
def test_a_workbook_saved_by_libreoffice_uploads(api: Api, tmp_path: Path) -> None:
    """Debian's LibreOffice Calc re-saves the edited export (its own XML, its own styles): the
    upload reads it the same. Skipped without LibreOffice, unless REQUIRE_SYSTEM_TOOLS=1 (as
    .ci/run sets, after installing libreoffice-calc-nogui), where it fails."""
    if SOFFICE is None:
        if os.environ.get("REQUIRE_SYSTEM_TOOLS") == "1":
            pytest.fail("REQUIRE_SYSTEM_TOOLS=1, and LibreOffice (soffice) is missing")
        pytest.skip("LibreOffice (soffice) is not installed")
    code = EVALUATED[4]
    content, _ = _edit(_exported(api, "evaluations"), code, "実績", EDITED)
    (tmp_path / "edited.xlsx").write_bytes(content)
    saved = tmp_path / "calc"
    done = subprocess.run(
        [SOFFICE, f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless",
         "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(saved),
         str(tmp_path / "edited.xlsx")],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    resaved = (saved / "edited.xlsx").read_bytes()
    assert resaved != content  # LibreOffice wrote a workbook of its own
    response = _post(api, "evaluations", content=resaved, content_type=XLSX)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (0, 1, len(EVALUATED) - 1)
    assert must_evaluation(api.engine, code, SEED_EVALUATION_YEAR)["result"] == EDITED
