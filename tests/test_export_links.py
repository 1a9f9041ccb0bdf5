"""A plan's licence URL is the writer's text, and goes into every download's Link header: one
with Japanese in it, or with what would end the header's `<…>`, still downloads (found by
Schemathesis as a 500 on every export), and names only itself.
"""

import io
import re
import struct
import zipfile
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from app.models import changes
from tests.conftest import Api
from tests.helpers import API

DEFAULT_LICENCE = "https://creativecommons.org/licenses/by/4.0/deed.ja"  # the seeded plan's
PLAN = {
    "title": "サンプル町行政経営プラン",
    "municipality_code": "012025",
    "municipality_name": "サンプル町",
    "start_fiscal_year": 2025,
    "end_fiscal_year": 2028,
    "license": "CC-BY-4.0",
}
CASES = {
    "japanese": (
        "https://www.town.example.lg.jp/オープンデータ利用規約.html",
        "https://www.town.example.lg.jp/%E3%82%AA%E3%83%BC%E3%83%97%E3%83%B3%E3%83%87%E3%83%BC"
        "%E3%82%BF%E5%88%A9%E7%94%A8%E8%A6%8F%E7%B4%84.html",
    ),
    "a_link_of_its_own": (
        'https://a.example/x>; rel="next", <https://evil.example/',
        "https://a.example/x%3E;%20rel=%22next%22,%20%3Chttps://evil.example/",
    ),
    "already_encoded": ("https://a.example/terms%20of%20use", "https://a.example/terms%20of%20use"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_download_of_the_plan_carries_its_licence_url_encoded(api: Api, case: str) -> None:
    written, sent = CASES[case]
    created = api.client.post(
        f"{API}/plans",
        json=PLAN | {"slug": f"town-{case.replace('_', '-')}", "license_url": written},
        headers=api.editor,
    )
    assert created.status_code == 201, created.text
    assert created.json()["license_url"] == written  # kept as written; encoded only in headers
    plan_id = created.json()["id"]
    for path in (
        "/export/initiatives.csv",
        "/export/initiatives.xlsx",
        f"/export/plans.json?plan_id={plan_id}",
        f"/export/plans/{plan_id}.zip",
    ):
        response = api.client.get(f"{API}{path}")
        assert response.status_code == 200, (path, response.text)
        link = response.headers["link"]
        assert f'<{sent}>; rel="license"' in link, (path, link)
        for target in re.findall(r"<([^>]*)>", link):  # no link but the plans' own
            assert target in (sent, DEFAULT_LICENCE) or target.endswith("/datapackage.json")


def test_a_workbook_is_sent_whole_even_when_a_range_is_asked(api: Api) -> None:
    """`curl -C -` resumes with a bare Range; a workbook made again differs in its bytes, so
    a resumed one would be corrupt. The answer is the whole workbook, and says no ranges."""
    whole = api.client.get(f"{API}/export/initiatives.xlsx")
    assert whole.status_code == 200
    assert "accept-ranges" not in whole.headers
    assert "last-modified" not in whole.headers  # the file's time would be the request's
    resumed = api.client.get(f"{API}/export/initiatives.xlsx", headers={"Range": "bytes=4000-"})
    assert resumed.status_code == 200
    assert "content-range" not in resumed.headers
    assert whole_rows(resumed.content) == whole_rows(whole.content)  # a whole workbook
    assert len(whole_rows(whole.content)) == 19  # the header and the seed's 18 initiatives


def test_a_bundle_is_dated_by_its_data_so_a_range_of_it_resumes(api: Api) -> None:
    """A bundle is made for each request, but from the data alone: its members and its
    Last-Modified carry the time of the last write, not of the request. So it is the same
    bytes until the data changes, its ETag is strong, and `curl -C -` (a bare Range) or a
    browser's If-Range with that ETag joins a second download to the first. After a write,
    the old ETag resumes nothing."""
    url = f"{API}/export/plans/1.zip"
    written = datetime(2024, 4, 1, 9, 30, 16, tzinfo=UTC)  # an even second: ZIP counts by 2
    with api.engine.begin() as connection:
        connection.execute(update(changes).values(at=written))
    whole = api.client.get(url)
    assert whole.status_code == 200
    assert whole.headers["last-modified"] == "Mon, 01 Apr 2024 09:30:16 GMT"
    assert whole.headers["accept-ranges"] == "bytes"
    etag = whole.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]+"', etag), etag  # strong: the bytes are the data's
    assert api.client.get(url, headers={"If-None-Match": etag}).status_code == 304
    with zipfile.ZipFile(io.BytesIO(whole.content)) as archive:
        members = archive.infolist()
    assert len(members) == 10
    for member in members:  # the wall-clock date in UTC, and the instant in a "UT" field
        assert member.date_time == (2024, 4, 1, 9, 30, 16), member.filename
        assert member.extra == struct.pack("<HHBL", 0x5455, 5, 1, 1711963816), member.filename

    rest = api.client.get(url, headers={"Range": "bytes=1000-"})
    assert rest.status_code == 206
    assert whole.content[:1000] + rest.content == whole.content
    resumed = api.client.get(url, headers={"Range": "bytes=1000-", "If-Range": etag})
    assert (resumed.status_code, resumed.content) == (206, whole.content[1000:])

    created = api.client.post(f"{API}/plans", json=PLAN | {"slug": "town"}, headers=api.editor)
    assert created.status_code == 201, created.text
    after = api.client.get(url, headers={"Range": "bytes=1000-", "If-Range": etag})
    assert after.status_code == 200  # the old tag: the whole new bundle
    assert after.headers["etag"] != etag
    moved = parsedate_to_datetime(after.headers["last-modified"])
    assert moved > written
    with zipfile.ZipFile(io.BytesIO(after.content)) as archive:
        assert {member.date_time for member in archive.infolist()} == {
            moved.timetuple()[:5] + (moved.second // 2 * 2,)
        }


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        # A date is no strong validator: two writes in one second share it (RFC 9110 13.1.5).
        ({"Range": "bytes=100-", "If-Range": "{last_modified}"}, 200),
        ({"Range": "bytes=100-", "If-Range": '"another"'}, 200),
        ({"Range": "bytes=100-", "If-Range": "W/{etag}"}, 200),
        # Not a valid range set: ignored (RFC 9110 14.2), not a 400.
        ({"Range": "bytes=abc"}, 200),
        ({"Range": "items=0-5"}, 200),
        ({"Range": "bytes=5-3"}, 200),
        ({"Range": "bytes=-"}, 200),
        ({"Range": "bytes=0-99, -100"}, 206),
        ({"Range": "bytes=-100"}, 206),
        ({"Range": "bytes=999999999-"}, 416),
        ({"Range": "bytes=-0"}, 416),
        ({"Range": "bytes=999999999-", "If-Range": "{etag}"}, 416),
    ],
)
def test_a_bundles_ranges_follow_the_rfc(api: Api, headers: dict[str, str], status: int) -> None:
    url = f"{API}/export/plans/1.zip"
    whole = api.client.get(url)
    filled = {
        name: value.format(etag=whole.headers["etag"], last_modified=whole.headers["last-modified"])
        for name, value in headers.items()
    }
    answer = api.client.get(url, headers=filled)
    assert answer.status_code == status, answer.text
    size = len(whole.content)
    if status == 200:
        assert answer.content == whole.content
    elif status == 206 and "," not in filled["Range"]:
        assert answer.content == whole.content[-100:]
    elif status == 206:
        assert answer.headers["content-type"].startswith("multipart/byteranges")
    else:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith(":range-not-satisfiable")
        assert answer.headers["content-range"] == f"bytes */{size}"


def whole_rows(content: bytes) -> list[tuple[object, ...]]:
    return list(load_workbook(io.BytesIO(content), read_only=True).worksheets[0].values)


@pytest.mark.parametrize("name", ["achievement", "trend", "summary", "targets"])
def test_a_statistics_csv_carries_its_plans_licence(api: Api, name: str) -> None:
    """A statistic downloaded as CSV is open data of its plan too: its licence goes with it,
    on the kept answer as on the first (the header is the plan's, not the client's)."""
    written, sent = CASES["japanese"]
    assert api.client.get(f"{API}/stats/{name}.csv").headers["link"] == (
        f'<{DEFAULT_LICENCE}>; rel="license"'
    )
    changed = api.client.patch(f"{API}/plans/1", json={"license_url": written}, headers=api.editor)
    assert changed.status_code == 200, changed.text
    for _ in range(2):  # computed, then served from the kept answers
        response = api.client.get(f"{API}/stats/{name}?format=csv")
        assert response.status_code == 200, response.text
        assert response.headers["link"] == f'<{sent}>; rel="license"'
    assert "link" not in api.client.get(f"{API}/stats/{name}").headers  # JSON: no download
