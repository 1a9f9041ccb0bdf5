"""Bulk uploads for staff scripts (issue 6): Export → import: every row unchanged, nothing written.

Each test gets a database of its own (the `api` fixture: a copy of the migrated and seeded one)
and checks what a staff script sees (status, body, headers) and what the database holds
afterwards: rows, versions, change-log entries, stored Idempotency-Keys. "Nothing written" is
shown by a snapshot of every table before and after. Expected values come from the request, the
seed file (seed/kanazawa-2023-2026.toml) or the contract (../shared/spec/API.md), never from a
response.
"""

import pytest

from app.models import (
    idempotency_keys,
)
from tests.bulk_helpers import (
    BOM,
    CODES,
    CONTENT,
    EVALUATED,
    EVERYTHING,
    SEED_EVALUATION_YEAR,
    Item,
    assert_result,
    post_bulk,
    row_outcomes,
    send_json,
)
from tests.conftest import Api
from tests.helpers import API, snapshot

ROUND_TRIPS = {
    # name: (export query, Content-Type of the upload; None = as the export declared it)
    "ja, UTF-8 with BOM, undeclared": ("", "text/csv"),
    "ja, UTF-8 with BOM, as served": ("", None),
    "ja, UTF-8 without BOM, charset=utf-8": ("?bom=false", "text/csv; charset=utf-8"),
    "en headers": ("?header=en", "text/csv"),
    "en headers without BOM": ("?header=en&bom=false", "text/csv"),
    "CP932 undeclared (detected)": ("?encoding=cp932", "text/csv"),
    "CP932 as charset=Shift_JIS": ("?encoding=cp932", "text/csv; charset=Shift_JIS"),
    "CP932 as charset=cp932": ("?encoding=cp932", "text/csv; charset=cp932"),
    "CP932 as served": ("?encoding=cp932", None),
}


def expected_round_trip(table: str) -> list[Item]:
    if table == "initiatives":
        return row_outcomes(CODES, "unchanged")
    return row_outcomes(EVALUATED, "unchanged", SEED_EVALUATION_YEAR)


@pytest.mark.slow
@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
@pytest.mark.parametrize("variant", list(ROUND_TRIPS))
def test_export_read_back_is_unchanged(api: Api, table: str, variant: str) -> None:
    query, content_type = ROUND_TRIPS[variant]
    exported = api.client.get(f"{API}/export/{table}.csv{query}")
    assert exported.status_code == 200, exported.text
    content = exported.content
    # The variant really is what it says.
    if "CP932" in variant:
        with pytest.raises(UnicodeDecodeError):
            content.decode("utf-8")
        text = content.decode("cp932")
    else:
        assert content.startswith(BOM.encode()) is ("without BOM" not in variant)
        text = content.decode("utf-8-sig")
    first = text.split("\r\n", 1)[0]
    assert first.startswith(
        "municipality_code" if "header=en" in query else "全国地方公共団体コード"
    )
    before = snapshot(api.engine, (*CONTENT, idempotency_keys))

    response = post_bulk(api, table, content, content_type or exported.headers["content-type"])

    expected = expected_round_trip(table)
    body = assert_result(response, unchanged=len(expected))
    assert body["rows"] == expected
    assert snapshot(api.engine, (*CONTENT, idempotency_keys)) == before


@pytest.mark.parametrize("table", ["initiatives", "evaluations"])
def test_json_export_read_back_is_unchanged(api: Api, table: str) -> None:
    exported = api.client.get(f"{API}/export/{table}.json")
    assert exported.status_code == 200, exported.text
    before = snapshot(api.engine, (*CONTENT, idempotency_keys))

    response = send_json(api, table, exported.json())

    expected = expected_round_trip(table)
    assert assert_result(response, unchanged=len(expected))["rows"] == expected
    assert snapshot(api.engine, (*CONTENT, idempotency_keys)) == before


def test_upload_that_changes_nothing_keeps_cached_reads_valid(api: Api) -> None:
    """Nothing written means nothing for caches to notice: the data version (behind every
    list's ETag) stays, so a client's conditional GET still gets 304."""
    exported = api.client.get(f"{API}/export/evaluations.csv")
    listed = api.client.get(f"{API}/initiatives")
    etag = listed.headers["etag"]
    assert api.client.get(f"{API}/initiatives", headers={"If-None-Match": etag}).status_code == 304
    before = snapshot(api.engine, EVERYTHING)

    response = post_bulk(api, "evaluations", exported.content, "text/csv")

    assert_result(response, unchanged=len(EVALUATED))
    assert snapshot(api.engine, EVERYTHING) == before
    again = api.client.get(f"{API}/initiatives", headers={"If-None-Match": etag})
    assert again.status_code == 304
