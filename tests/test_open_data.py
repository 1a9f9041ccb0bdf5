"""Open data exactly as typed (issue 13, item 6): numbers are numbers, the published
datapackage works from its URL, the catalogue's links are IRIs, and one character can neither
be stored to break an export nor make a CP932 export fail.

Expected values come from the seed file and the contract (../shared/spec/API.md), never from
a response. The shared database (`client`) is only read; tests that write use `api`.
"""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.test_exports import (
    API,
    TABLES,
    export_url,
    get_csv,
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
