"""Every bad body is a 4xx (issue 15, item 4): a number too long to read, and whatever else a
fuzzer can make of a bulk body, is answered with a problem+json, and nothing is written.

Python's int() refuses more than 4,300 digits with a ValueError (its guard against quadratic
conversion); the bulk parsers let it through as a 500. The property tests below send generated
bodies over HTTP (random bytes, JSON structures, CSV with the real headers and hostile cells, in
UTF-8 and CP932) and check what any client would: the status is never 5xx, every 4xx is a
problem+json whose `status` is the HTTP status, and the database is unchanged on any non-2xx.
(The test client raises an unhandled server error instead of returning its 500, which fails
the example just the same.) Example counts are bounded: CI runs the suite twice.
"""

import json
from collections.abc import Callable
from typing import Any

import pytest
from httpx import Response
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.bulk_helpers import EVERYTHING
from tests.conftest import Api
from tests.helpers import snapshot

API = "/api/v1"
PROBLEM = "application/problem+json"
LONG = "9" * 5000  # Python reads at most 4,300 digits
LONG_JSON = f'{{"items": [{{"code": "R6-7", "target_value": {LONG}}}]}}'.encode()
LONG_CSV = f"取組番号,基本方針番号\r\nR6-7,{LONG}\r\n".encode()
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# API.md's CSV columns, Japanese and English, per route (施策ID is import only).
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "initiatives": [
        ("全国地方公共団体コード", "municipality_code"),
        ("地方公共団体名", "municipality_name"),
        ("計画", "plan_slug"),
        ("基本方針番号", "policy_number"),
        ("施策番号", "measure_number"),
        ("取組番号", "code"),
        ("施策ID", "measure_id"),
        ("取組事項", "title"),
        ("内容", "description"),
        ("掲載ページ", "plan_page"),
        ("年度", "fiscal_year"),
        ("年度（和暦）", "fiscal_year_label"),
        ("数値目標", "numeric_target"),
        ("目標値", "target_value"),
        ("単位", "target_unit"),
    ],
    "evaluations": [
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
    ],
}


def post(
    api: Api, route: str, body: bytes, content_type: str, *, dry_run: bool = True, **headers: str
) -> Response:
    response: Response = api.client.post(
        f"{API}/bulk/{route}",
        params={"dry_run": "true"} if dry_run else None,
        content=body,
        headers={**api.editor, "Content-Type": content_type, **headers},
    )
    return response


def assert_refused_or_fine(api: Api, send: Callable[[], Response]) -> Response:
    """Send; the answer is never 5xx, a 4xx is problem+json, a non-2xx writes nothing."""
    before = snapshot(api.engine, EVERYTHING)
    response = send()
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["status"] == response.status_code
        assert isinstance(problem["detail"], str) and problem["detail"]
    if not 200 <= response.status_code < 300:
        assert snapshot(api.engine, EVERYTHING) == before
    return response


def errors_of(response: Response, row: int | None = None) -> list[dict[str, Any]]:
    """The 422 problem's errors (of one bulk row, when given)."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 422
    errors: list[dict[str, Any]] = problem["errors"]
    return [error for error in errors if row is None or error.get("row") == row]


# --------------------------------------------------------------------------------------------
# A number too long to read
# --------------------------------------------------------------------------------------------

LONG_FIELDS = [
    ("initiatives", "policy_number", {"code": "R6-7"}),
    ("initiatives", "measure_id", {"code": "R6-7"}),
    ("initiatives", "target_value", {"code": "R6-7"}),
    ("initiatives", "fiscal_year", {"code": "X-1"}),
    ("evaluations", "fiscal_year", {"code": "R6-7"}),
    ("evaluations", "actual_value", {"code": "R6-7", "fiscal_year": 2024}),
]


@pytest.mark.slow
@pytest.mark.parametrize("dry_run", [True, False])
@pytest.mark.parametrize(("route", "field", "rest"), LONG_FIELDS)
def test_a_5000_digit_integer_in_bulk_json_names_its_row_and_field(
    api: Api, route: str, field: str, rest: dict[str, Any], dry_run: bool
) -> None:
    good = json.dumps({**rest, field: 1}, ensure_ascii=False)
    bad = json.dumps(rest, ensure_ascii=False)[:-1] + f', "{field}": -{LONG}}}'
    body = f'{{"items": [{good}, {bad}]}}'.encode()
    before = snapshot(api.engine, EVERYTHING)
    response = post(api, route, body, "application/json", dry_run=dry_run)
    assert errors_of(response, row=1) == [
        {
            "loc": [1, field],
            "msg": "a number of 5,000 digits: no field takes a number that long",
            "type": "number_too_long",
            "row": 1,
        }
    ]
    assert snapshot(api.engine, EVERYTHING) == before


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
@pytest.mark.parametrize(("route", "field", "rest"), LONG_FIELDS)
def test_a_5000_digit_csv_cell_names_its_row_line_and_field(
    api: Api, route: str, field: str, rest: dict[str, Any], encoding: str
) -> None:
    names = dict((en, ja) for ja, en in COLUMNS[route])
    header = [names[name] for name in rest] + [names[field]]
    cells = [str(value) for value in rest.values()]
    text = ",".join(header) + "\r\n" + ",".join([*cells, "1"]) + "\r\n"
    text += ",".join([*cells, LONG]) + "\r\n"
    before = snapshot(api.engine, EVERYTHING)
    response = post(
        api,
        route,
        text.encode(encoding),
        f"text/csv; charset={encoding}",
        dry_run=False,
        **{"Accept-Language": "ja"},
    )
    assert errors_of(response, row=1) == [
        {
            "loc": [1, field],
            "msg": "5,000 桁の数値です。これほど長い数値を取る項目はありません",
            "type": "number_too_long",
            "row": 1,
            "line": 3,
        }
    ]
    assert snapshot(api.engine, EVERYTHING) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("PATCH", "/initiatives/1", f'{{"target_value": {LONG}}}', ["body", "target_value"]),
        ("POST", "/policies", f'{{"plan_id": 1, "number": {LONG}, "title": "t"}}', None),
        (
            "POST",
            "/reports",
            f'{{"plan_id": 1, "fiscal_year": 2025, "title": "t",'
            f' "lines": [{{"policy_id": 1, "items": {LONG}, "achieved": 0, "unconfirmed": 0}}]}}',
            ["body", "lines", 0, "items"],
        ),
    ],
)
def test_a_5000_digit_integer_in_an_ordinary_write_names_its_field(
    api: Api, method: str, path: str, body: str, loc: list[str | int] | None
) -> None:
    before = snapshot(api.engine, EVERYTHING)
    response = api.client.request(
        method,
        f"{API}{path}",
        content=body.encode(),
        headers={**api.editor, "Content-Type": "application/json"},
    )
    (error,) = errors_of(response)
    assert error["loc"] == (loc or ["body", "number"])
    assert error["type"] == "number_too_long"
    assert "5,000 digits" in error["msg"]
    assert "5,000 digits" in response.json()["detail"]
    assert snapshot(api.engine, EVERYTHING) == before


# --------------------------------------------------------------------------------------------
# Fuzzing the bulk parsers
# --------------------------------------------------------------------------------------------

ROUTES = st.sampled_from(["initiatives", "evaluations"])
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "text/csv",
        "text/csv; charset=utf-8",
        "text/csv; charset=cp932",
        "text/csv; charset=Shift_JIS",
    ]
)


@pytest.mark.slow
@FUZZ
@given(route=ROUTES, content_type=CONTENT_TYPES, body=st.binary(max_size=2000))
# What the fault probe found, so that this test cannot miss it by chance.
@example(route="initiatives", content_type="application/json", body=LONG_JSON)
@example(route="initiatives", content_type="text/csv", body=LONG_CSV)
def test_random_bytes_are_never_a_server_error(
    api: Api, route: str, content_type: str, body: bytes
) -> None:
    assert_refused_or_fine(api, lambda: post(api, route, body, content_type))


def hostile_numbers() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(min_value=4290, max_value=6000).map(lambda n: "9" * n),
        st.integers(min_value=4290, max_value=6000).map(lambda n: "-" + "1" * n),
        st.integers(min_value=300, max_value=5000).map(lambda n: "1" * n + ".5"),
        st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "-0"]),
        st.integers().map(str),
        st.floats().map(repr).filter(lambda text: text not in ("nan", "inf", "-inf")),
    )


# JSON text, not values: json.dumps cannot write a 5,000-digit integer Python will not read.
JSON_SCALARS = st.one_of(
    hostile_numbers(),
    st.sampled_from(["null", "true", "false", '""', '"R6-7"', '"令和6年度"', '"達成"']),
    st.text(max_size=50).map(lambda text: json.dumps(text, ensure_ascii=False)),
    st.text(max_size=50).map(json.dumps),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
        st.dictionaries(st.text(max_size=12), inner, max_size=4).map(
            lambda members: (
                "{"
                + ",".join(f"{json.dumps(name)}:{value}" for name, value in members.items())
                + "}"
            )
        ),
    ),
    max_leaves=12,
)


@st.composite
def json_bodies(draw: st.DrawFn, route: str) -> bytes:
    """{"items": [...]} with rows of the route's real fields (and a stray one), or any JSON."""
    fields = [en for _, en in COLUMNS[route]] + ["unknown"]
    row = st.dictionaries(st.sampled_from(fields), JSON_VALUES, max_size=6).map(
        lambda members: (
            "{" + ",".join(f"{json.dumps(name)}:{value}" for name, value in members.items()) + "}"
        )
    )
    rows = ",".join(draw(st.lists(st.one_of(row, JSON_VALUES), max_size=4)))
    text = draw(
        st.sampled_from(
            [f'{{"items": [{rows}]}}', f'{{"items": [{rows}], "x": 1}}', f"[{rows}]", rows]
        )
    )
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf"])) + text.encode()


@pytest.mark.slow
@FUZZ
@given(data=st.data(), route=ROUTES, dry_run=st.booleans())
def test_random_json_is_never_a_server_error(
    api: Api, data: st.DataObject, route: str, dry_run: bool
) -> None:
    body = data.draw(json_bodies(route))
    assert_refused_or_fine(api, lambda: post(api, route, body, "application/json", dry_run=dry_run))


HOSTILE_CELLS = st.one_of(
    hostile_numbers(),
    hostile_numbers(),  # twice: numbers are what the parser reads, the rest is text
    st.sampled_from(
        [
            "",
            " ",
            "R6-7",
            "Ｒ６－７",
            "令和6年度",
            "R6",
            "2024",
            "達成",
            "true",
            "○",
            "=1+1",
            '"',
            '""',
            "\x00",
            "\t",
            "\ufeff",
            "\u3000",
            "\ud7ff",
            "髙",
            "①",
            "x" * 100_000,
        ]
    ),
    st.text(max_size=40),
    # Characters CP932 encodes but decodes as others (〜 becomes ～) are worth sending too.
    st.text(
        alphabet=st.characters(codec="cp932", include_characters="\xa2\xa3\xac\u2016\u2212\u301c"),
        max_size=40,
    ),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=10),
)
LINE_ENDS = st.sampled_from(["\r\n", "\n", "\r", "\r\n\r\n"])


def csv_cell(cell: str, quoting: str) -> str:
    if quoting == "quoted":
        return '"' + cell.replace('"', '""') + '"'
    if quoting == "broken":
        return '"' + cell  # an opening quote that never closes, or closes mid-cell
    return cell


@st.composite
def csv_bodies(draw: st.DrawFn, route: str) -> tuple[bytes, str]:
    """A CSV with the route's real headers (Japanese or English, maybe a stray one) and
    hostile cells; UTF-8 (with or without BOM) or CP932, with bytes CP932 cannot decode."""
    columns = draw(st.lists(st.sampled_from(COLUMNS[route]), min_size=1, max_size=6, unique=True))
    names = [ja if draw(st.booleans()) else en for ja, en in columns]
    if draw(st.integers(0, 9)) == 0:
        names.append(draw(st.sampled_from(["不明", "code", "取組番号 ", ""])))
    quoting = st.sampled_from(["plain"] * 6 + ["quoted"] * 3 + ["broken"])
    lines = [",".join(names)]
    for _ in range(draw(st.integers(0, 4))):
        width = len(names) + draw(st.sampled_from([0] * 8 + [-1, 1]))
        cells = [csv_cell(draw(HOSTILE_CELLS), draw(quoting)) for _ in range(max(width, 0))]
        lines.append(",".join(cells))
    text = lines[0]
    for line in lines[1:]:
        text += draw(LINE_ENDS) + line
    text += draw(st.sampled_from(["", "\r\n", "\n"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp932"]))
    body = text.encode(encoding, errors="replace" if encoding == "cp932" else "strict")
    if draw(st.booleans()):
        # Bytes no CP932 decoder accepts (0x80, 0xA0, 0xFD-0xFF; a lead byte with no trail).
        spot = draw(st.integers(0, len(body)))
        body = (
            body[:spot] + draw(st.sampled_from([b"\x80", b"\xa0", b"\xfd", b"\x81"])) + body[spot:]
        )
    declared = draw(
        st.sampled_from(["", "", "", "; charset=utf-8", "; charset=cp932", "; charset=latin1"])
    )
    return body, f"text/csv{declared}"


@pytest.mark.slow
@FUZZ
@given(data=st.data(), route=ROUTES, dry_run=st.booleans())
def test_random_csv_is_never_a_server_error(
    api: Api, data: st.DataObject, route: str, dry_run: bool
) -> None:
    body, content_type = data.draw(csv_bodies(route))
    assert_refused_or_fine(api, lambda: post(api, route, body, content_type, dry_run=dry_run))
