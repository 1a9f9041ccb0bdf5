"""The public read API, as a client sees it, against the seeded Kanazawa plan.

Every expected value comes from the seed file (seed/kanazawa-2023-2026.toml) or from the API
contract (../shared/spec/API.md), never from a response. The database is shared by the whole
session and only read here.
"""

import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.conftest import Api, etag
from tests.helpers import ROOT, SEED, assert_problem, by_code, natural

API = "/api/v1"
PROBLEM = "application/problem+json"
UNKNOWN_ID = 999_999
LARGEST_ID = 2**31 - 1  # the largest id a PostgreSQL integer column holds: valid, but absent
TODAY = date.today()

Item = dict[str, Any]


# --------------------------------------------------------------------------------------------
# What the seed file says
# --------------------------------------------------------------------------------------------


INITIATIVES: dict[str, Item] = {item["code"]: item for item in SEED["initiatives"]}
ALL_CODES = by_code(list(INITIATIVES))
EVALUATIONS: dict[str, Item] = {
    code: item["evaluation"] for code, item in INITIATIVES.items() if "evaluation" in item
}
EVALUATED_CODES = by_code(list(EVALUATIONS))


def codes_where(predicate: Callable[[Item], bool]) -> list[str]:
    return by_code([code for code, item in INITIATIVES.items() if predicate(item)])


def latest_status(code: str) -> str | None:
    evaluation = EVALUATIONS.get(code)
    return None if evaluation is None else evaluation.get("status")


R6 = codes_where(lambda item: item["fiscal_year"] == 2024)
R7 = codes_where(lambda item: item["fiscal_year"] == 2025)
NUMERIC = codes_where(lambda item: item["numeric_target"])
ACHIEVED = by_code([code for code in ALL_CODES if latest_status(code) == "achieved"])
NO_STATUS = by_code([code for code in ALL_CODES if latest_status(code) is None])
EVALUATED_WITHOUT_STATUS = by_code([c for c, e in EVALUATIONS.items() if "status" not in e])
POLICIES: list[Item] = SEED["policies"]
MEASURES: list[tuple[int, Item]] = [
    (policy["number"], measure) for policy in POLICIES for measure in policy["measures"]
]
FY_LABELS = {2024: "令和6年度", 2025: "令和7年度"}  # the contract's labels, written out

_HYPHEN_LIKE = re.compile("[\u2010-\u2015\u2212\u2043\u02d7\u2796\ufe58\ufe63\uff0d]")


def fold(text: str) -> str:
    """The contract's search form: NFKC, casefold, hyphen-like characters folded, katakana
    as hiragana, spaces."""
    folded = _HYPHEN_LIKE.sub("-", unicodedata.normalize("NFKC", text).casefold())
    folded = "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in folded)
    return re.sub(r"\s+", " ", folded).strip()


def seed_texts(code: str) -> list[str]:
    item = INITIATIVES[code]
    result = EVALUATIONS.get(code, {}).get("result")
    return [text for text in (code, item["title"], item.get("description"), result) if text]


def seed_search(query: str) -> list[str]:
    """Codes whose code, title, description or evaluation result contain each word of the
    query (a word may be in one, the next in another)."""
    words = fold(query).split(" ")
    return by_code(
        [
            code
            for code in ALL_CODES
            if all(any(word in fold(t) for t in seed_texts(code)) for word in words)
        ]
    )


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    return response.json()


def get_page(client: TestClient, path: str, **params: Any) -> Any:
    return ok(client.get(f"{API}{path}", params=params))


def get_all(client: TestClient, path: str, **params: Any) -> list[Item]:
    body = get_page(client, path, limit=500, **params)
    assert body["total"] == len(body["items"])
    items: list[Item] = body["items"]
    return items


def codes_of(items: list[Item]) -> list[str]:
    return [item["code"] for item in items]


def assert_invalid(response: httpx.Response, loc: list[str | int]) -> None:
    body = assert_problem(response, 422)
    assert body["errors"], body
    assert body["errors"][0]["loc"] == loc
    for error in body["errors"]:
        assert isinstance(error["msg"], str) and error["msg"]
        assert isinstance(error["type"], str) and error["type"]


def links(response: httpx.Response) -> dict[str, str]:
    """The Link header as {rel: url}."""
    header = response.headers.get("link", "")
    return {rel: url for url, rel in re.findall(r'<([^>]*)>\s*;\s*rel="([^"]+)"', header)}


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


class Ids:
    """Ids the database gave to the seed's rows, looked up by natural key through the API."""

    def __init__(self, client: TestClient) -> None:
        plans = get_all(client, "/plans", slug=SEED["plan"]["slug"])
        assert len(plans) == 1
        self.plan: int = plans[0]["id"]
        self.policies: dict[int, int] = {
            item["number"]: item["id"] for item in get_all(client, "/policies")
        }
        self.measures: dict[tuple[int, int], int] = {
            (item["policy_number"], item["number"]): item["id"]
            for item in get_all(client, "/measures")
        }
        self.initiatives: dict[str, int] = {
            item["code"]: item["id"] for item in get_all(client, "/initiatives")
        }
        reports = get_all(client, "/reports")
        assert len(reports) == 1
        self.report: int = reports[0]["id"]


@pytest.fixture
def ids(client: TestClient) -> Ids:
    return Ids(client)


# --------------------------------------------------------------------------------------------
# 1. Done when: the R6 initiatives, however the fiscal year is written
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "year"),
    [
        ("R6", 2024),
        ("令和６年度", 2024),
        ("令和6年度", 2024),
        ("令和6", 2024),
        ("2024", 2024),
        ("r6", 2024),
        ("㋿6", 2024),
        ("R7", 2025),
        ("令和7年度", 2025),
        ("2025", 2025),
    ],
)
def test_initiatives_of_a_fiscal_year(client: TestClient, written: str, year: int) -> None:
    body = get_page(client, "/initiatives", fiscal_year=written)
    expected = R6 if year == 2024 else R7
    assert len(expected) == 9
    assert body["total"] == 9
    assert codes_of(body["items"]) == expected
    for item in body["items"]:
        assert item["plan_page"] == INITIATIVES[item["code"]]["plan_page"]
        assert item["fiscal_year"] == year
        assert item["fiscal_year_label"] == FY_LABELS[year]


def test_r6_codes_come_in_natural_order(client: TestClient) -> None:
    codes = codes_of(get_page(client, "/initiatives", fiscal_year="R6")["items"])
    assert codes[:4] == ["R6-7", "R6-10", "R6-13", "R6-19"]


def test_initiatives_carry_the_seed_fields(client: TestClient, ids: Ids) -> None:
    items = get_all(client, "/initiatives")
    assert codes_of(items) == ALL_CODES
    for item in items:
        seed = INITIATIVES[item["code"]]
        assert item["title"] == seed["title"]
        assert item["description"] == seed.get("description")
        assert item["plan_page"] == seed["plan_page"]
        assert item["fiscal_year"] == seed["fiscal_year"]
        assert item["fiscal_year_label"] == FY_LABELS[seed["fiscal_year"]]
        assert item["numeric_target"] is seed["numeric_target"]
        assert item["target_value"] is None and item["target_unit"] is None
        assert item["plan_id"] == ids.plan
        assert item["policy_id"] == ids.policies[seed["policy"]]
        assert item["measure_id"] == ids.measures[seed["policy"], seed["measure"]]
        assert item["version"] >= 1


# --------------------------------------------------------------------------------------------
# 2. Lists: envelope, limits, Link headers
# --------------------------------------------------------------------------------------------

COLLECTIONS = {
    "/plans": 1,
    "/policies": len(POLICIES),
    "/measures": len(MEASURES),
    "/initiatives": len(INITIATIVES),
    "/evaluations": len(EVALUATIONS),
    "/reports": 1,
}


@pytest.mark.parametrize(("path", "count"), COLLECTIONS.items())
def test_list_envelope(client: TestClient, path: str, count: int) -> None:
    response = client.get(f"{API}{path}")
    body = ok(response)
    assert set(body) == {"items", "total", "limit", "offset"}
    assert (body["total"], body["limit"], body["offset"]) == (count, 50, 0)
    assert len(body["items"]) == count
    assert links(response) == {}


@pytest.mark.slow
@pytest.mark.parametrize("path", COLLECTIONS)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", 501),
        ("limit", 0),
        ("limit", -1),
        ("limit", "ten"),
        ("offset", -1),
        ("offset", "x"),
    ],
)
def test_bad_page_parameters(client: TestClient, path: str, name: str, value: object) -> None:
    assert_invalid(client.get(f"{API}{path}", params={name: value}), ["query", name])


def test_limit_500_is_allowed(client: TestClient) -> None:
    body = get_page(client, "/initiatives", limit=500)
    assert (body["limit"], body["total"], len(body["items"])) == (500, 18, 18)


@pytest.mark.parametrize(
    ("offset", "codes", "next_offset", "prev_offset"),
    [
        (0, ALL_CODES[0:5], 5, None),
        (5, ALL_CODES[5:10], 10, 0),
        (15, ALL_CODES[15:], None, 10),
        # Past the end, prev leads back to the last items, not to another empty page.
        (100, [], None, 13),
        (18, [], None, 13),
    ],
)
def test_link_header(
    client: TestClient,
    offset: int,
    codes: list[str],
    next_offset: int | None,
    prev_offset: int | None,
) -> None:
    response = client.get(f"{API}/initiatives", params={"limit": 5, "offset": offset})
    body = ok(response)
    assert (body["total"], body["limit"], body["offset"]) == (18, 5, offset)
    assert codes_of(body["items"]) == codes
    found = links(response)
    assert set(found) == {
        rel for rel, at in (("next", next_offset), ("prev", prev_offset)) if at is not None
    }
    for rel, at in (("next", next_offset), ("prev", prev_offset)):
        if at is not None:
            query = query_of(found[rel])
            assert query["offset"] == [str(at)] and query["limit"] == ["5"]


def follow(client: TestClient, url: str) -> Iterator[Item]:
    for _ in range(50):
        response = client.get(url)
        yield from ok(response)["items"]
        if "next" not in links(response):
            return
        url = links(response)["next"]
    raise AssertionError("the next links never end")


def test_following_next_links_visits_every_initiative_once(client: TestClient) -> None:
    assert codes_of(list(follow(client, f"{API}/initiatives?limit=5"))) == ALL_CODES


def test_next_links_keep_filters_and_sort(client: TestClient) -> None:
    url = f"{API}/initiatives?fiscal_year=R6&sort=-code&limit=4"
    assert codes_of(list(follow(client, url))) == R6[::-1]


# --------------------------------------------------------------------------------------------
# 3. Sort
# --------------------------------------------------------------------------------------------


def _by_policy_measure(code: str) -> tuple[int, int, list[tuple[int, int, str]]]:
    item = INITIATIVES[code]
    return item["policy"], item["measure"], natural(code)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, ALL_CODES),
        ("code", ALL_CODES),
        ("-code", ALL_CODES[::-1]),
        ("fiscal_year,-code", R6[::-1] + R7[::-1]),
        ("-fiscal_year,code", R7 + R6),
        ("policy_number,measure_number,code", sorted(ALL_CODES, key=_by_policy_measure)),
    ],
)
def test_initiative_sort(client: TestClient, sort: str | None, expected: list[str]) -> None:
    params = {} if sort is None else {"sort": sort}
    assert codes_of(get_all(client, "/initiatives", **params)) == expected


@pytest.mark.parametrize("descending", [False, True])
def test_initiative_sort_by_plan_page(client: TestClient, descending: bool) -> None:
    items = get_all(client, "/initiatives", sort="-plan_page" if descending else "plan_page")
    pages = sorted((item["plan_page"] for item in INITIATIVES.values()), reverse=descending)
    assert [item["plan_page"] for item in items] == pages
    assert sorted(codes_of(items), key=natural) == ALL_CODES


@pytest.mark.slow
@pytest.mark.parametrize("path", [*COLLECTIONS, "/initiatives/{initiative}/evaluations"])
@pytest.mark.parametrize(
    "sort", ["bogus", "code,", ",code", "--code", "code desc", "search_text", "code_sort", ""]
)
def test_unknown_sort_is_rejected(client: TestClient, ids: Ids, path: str, sort: str) -> None:
    url = API + path.format(initiative=ids.initiatives["R6-7"])
    assert_invalid(client.get(url, params={"sort": sort}), ["query", "sort"])


def test_policies_in_number_order(client: TestClient, ids: Ids) -> None:
    items = get_all(client, "/policies")
    assert [item["number"] for item in items] == [1, 2, 3]
    assert [(i["number"], i["title"], i["focus"], i["plan_id"]) for i in items] == [
        (p["number"], p["title"], p["focus"], ids.plan) for p in POLICIES
    ]
    reverse = get_all(client, "/policies", sort="-number")
    assert [item["number"] for item in reverse] == [3, 2, 1]


def test_measures_in_policy_then_number_order(client: TestClient, ids: Ids) -> None:
    items = get_all(client, "/measures")
    assert [(i["policy_number"], i["number"], i["title"]) for i in items] == [
        (policy, measure["number"], measure["title"]) for policy, measure in MEASURES
    ]
    for item in items:
        assert item["policy_id"] == ids.policies[item["policy_number"]]
        assert item["plan_id"] == ids.plan
    reverse = get_all(client, "/measures", sort="policy_number,-number")
    assert [(i["policy_number"], i["number"]) for i in reverse] == [
        (p, n) for p in (1, 2, 3) for n in (3, 2, 1)
    ]


def test_evaluation_sort(client: TestClient) -> None:
    assert codes_of(get_all(client, "/evaluations")) == EVALUATED_CODES
    assert codes_of(get_all(client, "/evaluations", sort="-code")) == EVALUATED_CODES[::-1]


def test_evaluation_sort_by_status_puts_no_status_last(client: TestClient) -> None:
    """The same request orders the same way on SQLite and PostgreSQL (PRODUCT.md: switching
    the database changes nothing else): an evaluation without a status sorts after every
    status ascending, and first when descending (the reverse)."""
    ascending = get_all(client, "/evaluations", sort="status,code")
    assert codes_of(ascending) == ACHIEVED + EVALUATED_WITHOUT_STATUS
    descending = get_all(client, "/evaluations", sort="-status,code")
    assert codes_of(descending) == EVALUATED_WITHOUT_STATUS + ACHIEVED


# --------------------------------------------------------------------------------------------
# 4. Single resources: ETag, If-None-Match, 404, 422
# --------------------------------------------------------------------------------------------

SINGLE = [
    "plan",
    "policy",
    "measure",
    "initiative",
    "report",
    "evaluation:2024",
    "evaluation:R6",
    "evaluation:令和6年度",
]


def single(client: TestClient, ids: Ids, kind: str) -> tuple[str, Item, Item]:
    """The URL of one seeded resource, the fields the seed gives it, and its list item."""
    if kind == "plan":
        url, expected = f"/plans/{ids.plan}", {"slug": SEED["plan"]["slug"]}
        listed = get_all(client, "/plans")[0]
    elif kind == "policy":
        url = f"/policies/{ids.policies[1]}"
        expected = {"number": 1, "title": POLICIES[0]["title"], "focus": POLICIES[0]["focus"]}
        listed = get_all(client, "/policies")[0]
    elif kind == "measure":
        url = f"/measures/{ids.measures[1, 1]}"
        expected = {"policy_number": 1, "number": 1, "title": MEASURES[0][1]["title"]}
        listed = get_all(client, "/measures")[0]
    elif kind == "initiative":
        url = f"/initiatives/{ids.initiatives['R6-7']}"
        expected = {"code": "R6-7", "title": INITIATIVES["R6-7"]["title"]}
        listed = get_all(client, "/initiatives", code="R6-7")[0]
    elif kind == "report":
        url = f"/reports/{ids.report}"
        expected = {"fiscal_year": 2024, "title": SEED["report"]["title"]}
        listed = get_all(client, "/reports")[0]
    else:
        written = kind.split(":", 1)[1]
        url = f"/initiatives/{ids.initiatives['R6-7']}/evaluations/{written}"
        expected = {
            "code": "R6-7",
            "initiative_id": ids.initiatives["R6-7"],
            "fiscal_year": 2024,
            "fiscal_year_label": "令和6年度",
            "result": EVALUATIONS["R6-7"]["result"],
        }
        listed = get_all(client, "/evaluations", fiscal_year=2024)[0]
        assert listed["code"] == "R6-7"
    return API + url, expected, listed


@pytest.mark.parametrize("kind", SINGLE)
def test_get_one_sends_its_version_as_etag(client: TestClient, ids: Ids, kind: str) -> None:
    url, expected, listed = single(client, ids, kind)
    response = client.get(url)
    body = ok(response)
    assert {key: body[key] for key in expected} == expected
    assert body == listed
    assert isinstance(body["version"], int) and body["version"] >= 1
    assert response.headers["etag"] == etag(body["id"], body["version"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", SINGLE)
@pytest.mark.parametrize("form", ["{}", "W/{}", '"999", {}', "*"])
def test_if_none_match_gives_304(client: TestClient, ids: Ids, kind: str, form: str) -> None:
    url, _, _ = single(client, ids, kind)
    tag = client.get(url).headers["etag"]
    response = client.get(url, headers={"If-None-Match": form.format(tag)})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == tag


@pytest.mark.parametrize("kind", SINGLE)
def test_other_etag_gives_200(client: TestClient, ids: Ids, kind: str) -> None:
    url, _, _ = single(client, ids, kind)
    body = ok(client.get(url))
    row_id, version = body["id"], body["version"]
    others = (
        f"{etag(row_id, version + 1)}, W/{etag(row_id, version + 2)}, {etag(row_id + 1, version)}"
    )
    response = client.get(url, headers={"If-None-Match": others})
    assert ok(response)["version"] == version
    assert response.headers["etag"] == etag(row_id, version)


ID_PATHS = [
    ("/plans/{}", "plan_id"),
    ("/policies/{}", "policy_id"),
    ("/measures/{}", "measure_id"),
    ("/initiatives/{}", "initiative_id"),
    ("/initiatives/{}/evaluations", "initiative_id"),
    ("/initiatives/{}/evaluations/2024", "initiative_id"),
    ("/reports/{}", "report_id"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("path", "name"), ID_PATHS)
@pytest.mark.parametrize("unknown", [UNKNOWN_ID, LARGEST_ID])
def test_unknown_id_is_404(client: TestClient, path: str, name: str, unknown: int) -> None:
    body = assert_problem(client.get(API + path.format(unknown)), 404)
    assert str(unknown) in body["detail"]
    assert "errors" not in body or body["errors"] is None


@pytest.mark.slow
@pytest.mark.parametrize(("path", "name"), ID_PATHS)
@pytest.mark.parametrize("bad", ["0", "-1", str(2**63), "abc", "1.5"])
def test_malformed_id_is_422(client: TestClient, path: str, name: str, bad: str) -> None:
    assert_invalid(client.get(API + path.format(bad)), ["path", name])


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        ("/initiatives/{}/evaluations/R0", ["path", "fiscal_year"]),
        ("/initiatives/{}/evaluations/abc", ["path", "fiscal_year"]),
        ("/initiatives/{}/evaluations?limit=501", ["query", "limit"]),
        ("/initiatives/{}/evaluations?sort=bogus", ["query", "sort"]),
    ],
)
@pytest.mark.parametrize("which", ["existing", "unknown"])
def test_validation_comes_before_not_found(
    client: TestClient, ids: Ids, path: str, loc: list[str | int], which: str
) -> None:
    """API.md: checks run in this order: validation (422), then state (404)."""
    initiative = ids.initiatives["R6-7"] if which == "existing" else UNKNOWN_ID
    assert_invalid(client.get(API + path.format(initiative)), loc)


# --------------------------------------------------------------------------------------------
# 5. Initiative filters
# --------------------------------------------------------------------------------------------


def test_filter_by_plan(client: TestClient, ids: Ids) -> None:
    assert codes_of(get_all(client, "/initiatives", plan_id=ids.plan)) == ALL_CODES
    assert get_all(client, "/initiatives", plan_id=UNKNOWN_ID) == []


def test_filter_by_policy_and_measure(client: TestClient, ids: Ids) -> None:
    for number, policy_id in ids.policies.items():
        expected = [c for c in ALL_CODES if INITIATIVES[c]["policy"] == number]
        assert len(expected) == 6
        assert codes_of(get_all(client, "/initiatives", policy_id=policy_id)) == expected
    assert len(ids.measures) == 9
    for key, measure_id in ids.measures.items():
        expected = [
            c for c in ALL_CODES if (INITIATIVES[c]["policy"], INITIATIVES[c]["measure"]) == key
        ]
        assert len(expected) == 2
        assert codes_of(get_all(client, "/initiatives", measure_id=measure_id)) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"code": "R6-7"}, ["R6-7"]),
        ({"code": "Ｒ６－７"}, ["R6-7"]),
        ({"code": "R9-99"}, []),
        ({"numeric_target": "true"}, NUMERIC),
        ({"numeric_target": "false"}, [c for c in ALL_CODES if c not in NUMERIC]),
        ({"status": "achieved"}, ACHIEVED),
        ({"status": "none"}, NO_STATUS),
        ({"status": "not_achieved"}, []),
        ({"status": "unconfirmed"}, []),
        ({"fiscal_year": "R6", "status": "none"}, EVALUATED_WITHOUT_STATUS),
        ({"fiscal_year": "R7", "numeric_target": "true"}, ["R7-11"]),
        ({"fiscal_year": "令和元年度"}, []),
    ],
)
def test_initiative_filters(
    client: TestClient, params: dict[str, str], expected: list[str]
) -> None:
    body = get_page(client, "/initiatives", **params)
    assert codes_of(body["items"]) == expected
    assert body["total"] == len(expected)


def test_filter_counts_from_the_brief(client: TestClient) -> None:
    assert NUMERIC == ["R6-33", "R7-11"]
    assert len(ACHIEVED) == 8 and set(ACHIEVED) < set(R6)
    assert NO_STATUS == by_code(["R6-33", *R7]) and len(NO_STATUS) == 10
    for status, count in (("achieved", 8), ("none", 10)):
        assert get_page(client, "/initiatives", status=status)["total"] == count


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("code", "R6 7"),
        ("code", "R6-7;"),
        ("code", "R6_7"),
        ("code", "-R6"),
        ("code", "R6-7' OR 1=1--"),
        ("code", "A" * 33),
        ("status", "done"),
        ("numeric_target", "maybe"),
        ("plan_id", "0"),
        ("policy_id", "abc"),
        ("measure_id", "-1"),
        ("q", "x" * 201),
    ],
)
def test_bad_initiative_filter(client: TestClient, name: str, value: str) -> None:
    assert_invalid(client.get(f"{API}/initiatives", params={name: value}), ["query", name])


SEARCHES = ["通学", "DX", "ＤＸ", "dx", "車", "伝票", "R6-3", "Ｒ６‐７", "%", "_", "R6_7", "R6%10"]
SEARCHES += ["' OR 1=1--", "\\", "ＤＸ 通学"]


@pytest.mark.parametrize("q", SEARCHES)
def test_search(client: TestClient, q: str) -> None:
    body = get_page(client, "/initiatives", q=q)
    assert codes_of(body["items"]) == seed_search(q)
    assert body["total"] == len(seed_search(q))


def test_search_examples_from_the_brief(client: TestClient) -> None:
    def found(q: str) -> list[str]:
        return codes_of(get_all(client, "/initiatives", q=q))

    assert "R6-10" in found("通学")
    assert found("DX") == found("ＤＸ") == found("dx") != []
    assert "R6-7" in found("車")
    assert found("Ｒ６‐７") == ["R6-7"]
    for literal in ("%", "_", "R6_7", "R6%10", "' OR 1=1--"):
        assert found(literal) == [], literal
    # 伝票 is only in R6-7's evaluation result, not in any code, title or description.
    fields = [(c, i["title"], i.get("description") or "") for c, i in INITIATIVES.items()]
    assert not any("伝票" in text for field in fields for text in field)
    assert found("伝票") == ["R6-7"]


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/initiatives", "/evaluations", "/reports"])
@pytest.mark.parametrize(
    "value",
    [
        "R0",
        "令和0年度",
        "令和99年度",
        "abc",
        "1988",
        "昭和63年度",
        "H32",
        "",
        "令和 6 年度",
        str(TODAY.year + 11),
        f"R{TODAY.year + 11 - 2018}",
    ],
)
def test_bad_fiscal_year(client: TestClient, path: str, value: str) -> None:
    assert_invalid(client.get(API + path, params={"fiscal_year": value}), ["query", "fiscal_year"])


@pytest.mark.parametrize(
    "value", ["1989", "平成元年度", "H31", "平成31年度", str(TODAY.year + 10), " 令和６年度\u3000"]
)
def test_fiscal_year_range_edges_are_accepted(client: TestClient, value: str) -> None:
    body = get_page(client, "/initiatives", fiscal_year=value)
    assert codes_of(body["items"]) == (R6 if "令和" in value else [])


# --------------------------------------------------------------------------------------------
# 6. Evaluations
# --------------------------------------------------------------------------------------------


def test_evaluations_are_the_seeded_ones(client: TestClient, ids: Ids) -> None:
    items = get_all(client, "/evaluations")
    assert len(items) == 9
    assert codes_of(items) == EVALUATED_CODES == R6
    for item in items:
        seed = EVALUATIONS[item["code"]]
        assert item["initiative_id"] == ids.initiatives[item["code"]]
        assert item["fiscal_year"] == seed["fiscal_year"] == 2024
        assert item["fiscal_year_label"] == "令和6年度"
        assert item["status"] == seed.get("status")
        assert item["result"] == seed["result"]
        assert item["source"] == seed["source"]
        assert item["actual_value"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"fiscal_year": "R6"}, EVALUATED_CODES),
        ({"fiscal_year": "令和６年度"}, EVALUATED_CODES),
        ({"fiscal_year": "R7"}, []),
        ({"status": "achieved"}, ACHIEVED),
        ({"status": "none"}, EVALUATED_WITHOUT_STATUS),
        ({"status": "unconfirmed"}, []),
        ({"fiscal_year": "2024", "status": "achieved"}, ACHIEVED),
    ],
)
def test_evaluation_filters(
    client: TestClient, params: dict[str, str], expected: list[str]
) -> None:
    body = get_page(client, "/evaluations", **params)
    assert codes_of(body["items"]) == expected
    assert body["total"] == len(expected)


def test_evaluation_without_status(client: TestClient) -> None:
    assert EVALUATED_WITHOUT_STATUS == ["R6-33"]
    (item,) = get_all(client, "/evaluations", status="none")
    assert item["code"] == "R6-33" and item["status"] is None
    assert item["result"] == EVALUATIONS["R6-33"]["result"] != ""
    assert item["source"] == EVALUATIONS["R6-33"]["source"] != ""
    assert len(get_all(client, "/evaluations", status="achieved")) == 8


def test_evaluation_filters_by_plan_policy_and_measure(client: TestClient, ids: Ids) -> None:
    assert codes_of(get_all(client, "/evaluations", plan_id=ids.plan)) == EVALUATED_CODES
    assert get_all(client, "/evaluations", plan_id=UNKNOWN_ID) == []
    for number, policy_id in ids.policies.items():
        expected = [c for c in EVALUATED_CODES if INITIATIVES[c]["policy"] == number]
        assert len(expected) == 3
        assert codes_of(get_all(client, "/evaluations", policy_id=policy_id)) == expected
    for (policy, measure), measure_id in ids.measures.items():
        expected = [
            c
            for c in EVALUATED_CODES
            if (INITIATIVES[c]["policy"], INITIATIVES[c]["measure"]) == (policy, measure)
        ]
        assert codes_of(get_all(client, "/evaluations", measure_id=measure_id)) == expected


@pytest.mark.slow
@pytest.mark.parametrize("code", ALL_CODES)
def test_evaluations_of_an_initiative(client: TestClient, ids: Ids, code: str) -> None:
    initiative_id = ids.initiatives[code]
    body = get_page(client, f"/initiatives/{initiative_id}/evaluations")
    seed = EVALUATIONS.get(code)
    assert body["total"] == (0 if seed is None else 1)
    assert [(i["code"], i["fiscal_year"]) for i in body["items"]] == (
        [] if seed is None else [(code, seed["fiscal_year"])]
    )
    response = client.get(f"{API}/initiatives/{initiative_id}/evaluations/2024")
    if seed is None:
        assert_problem(response, 404)
    else:
        assert ok(response)["status"] == seed.get("status")
    assert_problem(client.get(f"{API}/initiatives/{initiative_id}/evaluations/2025"), 404)


def test_latest_evaluation(client: TestClient) -> None:
    for item in get_all(client, "/initiatives"):
        seed = EVALUATIONS.get(item["code"])
        latest = item["latest_evaluation"]
        if seed is None:
            assert latest is None, item["code"]
            continue
        assert latest["code"] == item["code"]
        assert latest["initiative_id"] == item["id"]
        assert latest["fiscal_year"] == 2024
        assert latest["fiscal_year_label"] == "令和6年度"
        assert latest["status"] == seed.get("status")
        assert latest["result"] == seed["result"]
    r7 = get_all(client, "/initiatives", fiscal_year="R7")
    assert [item["latest_evaluation"] for item in r7] == [None] * 9


# --------------------------------------------------------------------------------------------
# 7. Reports
# --------------------------------------------------------------------------------------------


def test_report_of_2024(client: TestClient, ids: Ids) -> None:
    report = ok(client.get(f"{API}/reports/{ids.report}"))
    assert report["plan_id"] == ids.plan
    assert report["fiscal_year"] == 2024
    assert report["fiscal_year_label"] == "令和6年度"
    assert report["title"] == SEED["report"]["title"]
    assert report["source"] == SEED["report"]["source"]
    assert report["published_on"] is None
    lines = sorted(
        (line["policy_number"], line["items"], line["achieved"], line["unconfirmed"])
        for line in report["lines"]
    )
    assert lines == [(1, 39, 38, 0), (2, 45, 38, 0), (3, 40, 32, 2)]
    assert lines == [
        (line["policy"], line["items"], line["achieved"], line["unconfirmed"])
        for line in SEED["report"]["lines"]
    ]
    for line in report["lines"]:
        assert line["policy_id"] == ids.policies[line["policy_number"]]
    for section, codes in (("implemented", R6), ("added", R7)):
        named = [h for h in report["highlights"] if h["section"] == section]
        assert by_code(codes_of(named)) == codes
        for highlight in named:
            assert highlight["initiative_id"] == ids.initiatives[highlight["code"]]
    assert len(report["highlights"]) == 18


@pytest.mark.parametrize(
    ("fiscal_year", "count"), [("令和6年度", 1), ("R6", 1), ("2024", 1), ("2025", 0)]
)
def test_report_filter(client: TestClient, ids: Ids, fiscal_year: str, count: int) -> None:
    items = get_all(client, "/reports", fiscal_year=fiscal_year)
    assert [item["id"] for item in items] == [ids.report] * count
    assert len(get_all(client, "/reports", plan_id=ids.plan, fiscal_year=fiscal_year)) == count


# --------------------------------------------------------------------------------------------
# 8. Plans
# --------------------------------------------------------------------------------------------


def test_plan_fields(client: TestClient, ids: Ids) -> None:
    plan = ok(client.get(f"{API}/plans/{ids.plan}"))
    for key, value in SEED["plan"].items():
        assert plan[key] == value, key
    assert plan["municipality_code"] == "172014"
    assert plan["period_label"] == "令和5年度～令和8年度"


@pytest.mark.parametrize(
    ("params", "count"),
    [
        ({"slug": "kanazawa-2023-2026"}, 1),
        ({"slug": "kanazawa"}, 0),
        ({"municipality_code": "172014"}, 1),
        ({"municipality_code": "172015"}, 0),
        ({"slug": "kanazawa-2023-2026", "municipality_code": "172014"}, 1),
    ],
)
def test_plan_filters(client: TestClient, ids: Ids, params: dict[str, str], count: int) -> None:
    items = get_all(client, "/plans", **params)
    assert [item["id"] for item in items] == [ids.plan] * count


@pytest.mark.parametrize("code", ["17201", "1720140", "17201a", "172 14"])
def test_bad_municipality_code(client: TestClient, code: str) -> None:
    response = client.get(f"{API}/plans", params={"municipality_code": code})
    assert_invalid(response, ["query", "municipality_code"])


# --------------------------------------------------------------------------------------------
# 9. Timestamps
# --------------------------------------------------------------------------------------------

RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)")


def records(value: object) -> Iterator[Item]:
    """Every object with timestamps inside a response body."""
    if isinstance(value, dict):
        if "created_at" in value:
            yield value
        for inner in value.values():
            yield from records(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from records(inner)


def test_timestamps_are_rfc3339_utc(client: TestClient, ids: Ids) -> None:
    bodies = [get_page(client, path, limit=500) for path in COLLECTIONS]
    bodies.append(get_page(client, f"/initiatives/{ids.initiatives['R6-33']}"))
    bodies.append(get_page(client, f"/initiatives/{ids.initiatives['R6-33']}/evaluations/R6"))
    found = list(records(bodies))
    # 1 plan, 3 policies, 9 measures, 18 initiatives (9 with an evaluation), 9 evaluations,
    # 1 report, then one initiative with its evaluation and that evaluation alone.
    assert len(found) == 1 + 3 + 9 + 18 + 9 + 9 + 1 + 2 + 1
    now = datetime.now(UTC) + timedelta(minutes=1)
    for record in found:
        stamps = []
        for key in ("created_at", "updated_at"):
            text = record[key]
            assert isinstance(text, str) and RFC3339_UTC.fullmatch(text), text
            stamp = datetime.fromisoformat(text)
            assert stamp.utcoffset() == timedelta(0)
            stamps.append(stamp)
        assert stamps[0] <= stamps[1] <= now


# --------------------------------------------------------------------------------------------
# 10. OpenAPI
# --------------------------------------------------------------------------------------------

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def operations(schema: Item) -> Iterator[tuple[str, str, Item]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def examples(value: object) -> Iterator[object]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("example", "examples"):
                yield inner
            yield from examples(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from examples(inner)


@pytest.fixture
def openapi(client: TestClient) -> Item:
    schema: Item = ok(client.get("/openapi.json"))
    return schema


def test_openapi_operation_ids_and_tags(openapi: Item) -> None:
    ops = list(operations(openapi))
    assert len(ops) >= 13
    operation_ids = [operation.get("operationId") for _, _, operation in ops]
    assert all(isinstance(op_id, str) and op_id for op_id in operation_ids)
    assert len(set(operation_ids)) == len(operation_ids)
    for path, method, operation in ops:
        assert len(operation.get("tags", [])) == 1, (method, path)


def test_openapi_declares_problem_responses(openapi: Item) -> None:
    api_paths = [(p, m, op) for p, m, op in operations(openapi) if p.startswith(API + "/")]
    assert {p for p, _, _ in api_paths} >= {
        f"{API}/plans",
        f"{API}/plans/{{plan_id}}",
        f"{API}/initiatives/{{initiative_id}}/evaluations/{{fiscal_year}}",
        f"{API}/reports/{{report_id}}",
    }
    for path, method, operation in api_paths:
        responses = operation["responses"]
        takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
        wanted = (["422"] if takes_input else []) + (["404"] if "{" in path else [])
        for status in wanted:
            assert status in responses, (method, path, status)
            assert set(responses[status].get("content", {})) == {PROBLEM}, (path, status)
        if method == "get" and path.endswith("}"):
            assert "304" in responses, path


def test_openapi_refs_resolve(openapi: Item) -> None:
    text = json.dumps(openapi)
    for ref in set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text)):
        assert ref in openapi["components"]["schemas"], ref


def test_openapi_examples_are_from_the_kanazawa_plan(openapi: Item) -> None:
    text = json.dumps(list(examples(openapi)), ensure_ascii=False)
    assert INITIATIVES["R6-7"]["title"] == "公用車給油事務へのクレジットカードの導入"
    assert "公用車給油事務へのクレジットカードの導入" in text
    assert SEED["plan"]["municipality_name"] in text
    assert "令和6年度" in text


# --------------------------------------------------------------------------------------------
# 11. Operations: health, readiness, docs, CORS
# --------------------------------------------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    assert ok(client.get("/healthz"))["status"] == "ok"


def test_readyz(client: TestClient, engine: Engine) -> None:
    body = ok(client.get("/readyz"))
    head = ScriptDirectory(str(ROOT / "migrations")).get_current_head()
    assert head
    assert body["status"] == "ok"
    assert body["revision"] == head
    assert body["database"] == engine.dialect.name


class AssetLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append((tag, value))


def test_docs_work_offline(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parser = AssetLinks()
    parser.feed(response.text)
    tags = [tag for tag, _ in parser.urls]
    assert "script" in tags and "link" in tags
    for _, url in parser.urls:
        assert not re.match(r"(?i)(https?:)?//", url), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    assert not re.search(r"(?i)<(script|link)\b[^>]*\b(src|href)=[\"']?(https?:)?//", response.text)
    assert "/openapi.json" in response.text


def test_cors_exposes_the_headers_clients_read(client: TestClient, ids: Ids) -> None:
    response = client.get(
        f"{API}/initiatives/{ids.initiatives['R6-7']}", headers={"Origin": "https://example.org"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"etag", "link", "location", "content-disposition"} <= exposed


# --------------------------------------------------------------------------------------------
# 12. Unknown paths and methods
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/v2/plans", "/nope", "/api/v1/plans/1/nope", "/docs-static/x.js"]
)
def test_unknown_path_is_404(client: TestClient, path: str) -> None:
    assert_problem(client.get(path), 404)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/evaluations", "/initiatives/{}/evaluations"])
def test_read_only_collection_is_405(api: Api, ids: Ids, method: str, path: str) -> None:
    url = API + path.format(ids.initiatives["R6-7"])
    response = api.client.request(method, url, json={}, headers=api.editor)
    assert_problem(response, 405)
    assert "GET" in {m.strip() for m in response.headers["allow"].split(",")}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/plans", "GET, HEAD, POST"),
        ("PUT", "/plans", "GET, HEAD, POST"),
        ("POST", "/plans/{plan}", "GET, HEAD, PATCH, DELETE"),
        ("PATCH", "/initiatives/{initiative}/evaluations/R6", "GET, HEAD, PUT, DELETE"),
        ("DELETE", "/stats/achievement", "GET, HEAD"),
    ],
)
def test_405_allows_every_method_of_the_path(
    api: Api, ids: Ids, method: str, path: str, allowed: str
) -> None:
    """RFC 9110: Allow lists the methods of the resource, not those of the first route
    that matched its path (/plans has a GET route and a POST route)."""
    url = API + path.format(plan=ids.plan, initiative=ids.initiatives["R6-7"])
    response = api.client.request(method, url, headers=api.editor)
    assert_problem(response, 405)
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/healthz", "GET, HEAD"), ("/openapi.json", "GET, HEAD"), ("/docs-static/x.js", "GET, HEAD")],
)
def test_405_outside_the_api(client: TestClient, path: str, allowed: str) -> None:
    response = client.post(path)
    assert_problem(response, 405)
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize(
    ("path", "params", "name", "meant"),
    [
        ("/initiatives", {"plan_idd": "1"}, "plan_idd", "plan_id"),
        ("/initiatives", {"fiscal-year": "2024"}, "fiscal-year", "fiscal_year"),
        ("/stats/achievement", {"fiscal_yaer": "2024"}, "fiscal_yaer", "fiscal_year"),
        ("/stats/achievement.csv", {"encodng": "cp932"}, "encodng", "encoding"),
        ("/export/initiatives.csv", {"boom": "false"}, "boom", "bom"),
        ("/changes", {"sinse": "3"}, "sinse", "since"),
    ],
)
def test_a_misspelt_query_parameter_is_named_not_ignored(
    client: TestClient, path: str, params: dict[str, str], name: str, meant: str
) -> None:
    """A filter misspelt would otherwise answer every row, as if it were the answer asked for:
    422, naming the parameter, the one probably meant, and those the path takes."""
    for method in ("GET", "HEAD"):
        response = client.request(method, f"{API}{path}", params=params)
        assert response.status_code == 422, (method, response.text)
        assert response.headers["cache-control"] == "no-store"
    [error] = assert_problem(client.get(f"{API}{path}", params=params), 422)["errors"]
    assert (error["loc"], error["type"]) == (["query", name], "extra_forbidden")
    assert f"did you mean {meant}?" in error["msg"], error["msg"]
    assert meant in error["msg"].split("it takes: ")[1].split(", "), error["msg"]
    # The same request without it is answered (and an answer kept for that URL is not
    # handed to the misspelt one).
    assert client.get(f"{API}{path}").status_code == 200
    assert client.get(f"{API}{path}", params=params).status_code == 422


def test_a_path_without_query_parameters_says_so(client: TestClient, ids: Ids) -> None:
    url = f"{API}/initiatives/{ids.initiatives['R6-7']}"
    [error] = assert_problem(client.get(url, params={"expand": "evaluations"}), 422)["errors"]
    assert error["loc"] == ["query", "expand"]
    assert error["msg"].endswith("it takes: no query parameters"), error["msg"]
