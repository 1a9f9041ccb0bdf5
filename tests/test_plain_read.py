"""The plain reads' lean handler (app/web/plainread.py) answers as FastAPI's own would.

Every GET of the bad-input table (each read parameter's bad values: ids, years, limits,
sorts, flags, injection strings) and a set of good reads are sent twice to one app: once
as it serves them (through the lane, app/web/lane.py), once with FastAPI's routing and
handler forced (an entry in `dependency_overrides`, which the lane and the lean handler
step aside for). Status, headers and body must be the same.
"""

from collections.abc import Iterator
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.bad_input_fleet import seeded_ids
from tests.bad_input_table import API, CASES

GOOD = (  # each answers 200
    "{api}/plans",
    "{api}/plans/{plan}",
    "{api}/policies?plan_id={plan}",
    "{api}/policies/{policy}",
    "{api}/measures/{measure}",
    "{api}/initiatives/{initiative}",
    "{api}/initiatives/{initiative}/evaluations",
    "{api}/initiatives/{initiative}/evaluations/2024",
    "{api}/initiatives?plan_id={plan}&limit=5&offset=3",
    "{api}/initiatives?plan_id={plan}&limit=50&sort=-code",
    "{api}/initiatives?plan_id={plan}&policy_id={policy}&status=achieved",
    "{api}/initiatives?plan_id={plan}&q=%E3%83%87%E3%82%B8%E3%82%BF%E3%83%AB",
    "{api}/evaluations?plan_id={plan}&fiscal_year=R6&limit=3",
    "{api}/reports/{report}",
    "{api}/stats/achievement?plan_id={plan}&fiscal_year=2024",
    "{api}/stats/achievement?plan_id={plan}&fiscal_year=R6&format=csv",
    "{api}/stats/trend?plan_id={plan}",
    "{api}/export/initiatives.csv?plan_id={plan}&encoding=cp932",
    "{api}/export/evaluations.json?plan_id={plan}",
    "{api}/changes?since=0&limit=2",
)
# Errors in the path, the query and a dependency's parameters at once: their order in the
# 422 is FastAPI's (a dependency's first, then the path, then the query).
ERRORS = (
    "{api}/initiatives/abc/evaluations?sort=nope&limit=-1&offset=x",
    "{api}/initiatives?plan_id=x&limit=0&sort=nope&status=zz&numeric_target=perhaps",
    "{api}/export/nope.xml?plan_id=abc&bom=maybe&encoding=latin1",
)
READS = sorted({case.url for case in CASES if case.method == "GET"} | {*GOOD, *ERRORS})
SAME_REQUEST = {"X-Request-Id": "0123456789abcdef0123456789abcdef"}
VARYING = {"date"}


def _fastapi_only() -> None:
    """Never called: an override of it only makes each request take FastAPI's handler."""


@pytest.fixture(scope="module")
def app(nothing_kept_app: FastAPI) -> FastAPI:
    return nothing_kept_app


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as made:
        yield made


@pytest.fixture(scope="module")
def ids(app: FastAPI) -> dict[str, Any]:
    return {"api": API} | seeded_ids(app.state.engine)


def through_fastapi(app: FastAPI, client: TestClient, path: str) -> httpx.Response:
    """GET path with FastAPI's own handler, which the lean one steps aside for while
    `dependency_overrides` holds anything."""
    app.dependency_overrides[_fastapi_only] = _fastapi_only
    try:
        answer: httpx.Response = client.get(path, headers=SAME_REQUEST)
        return answer
    finally:
        app.dependency_overrides.clear()


def _seen(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in VARYING}
    return response.status_code, headers, response.content


@pytest.mark.parametrize("url", READS)
def test_lean_and_fastapi_answer_alike(
    url: str, app: FastAPI, client: TestClient, ids: dict[str, Any]
) -> None:
    path = url.format(**ids)
    lean = client.get(path, headers=SAME_REQUEST)
    general = through_fastapi(app, client, path)
    assert lean.status_code < 500, lean.text
    if url in GOOD:
        assert lean.status_code == 200, lean.text
    if url in ERRORS:
        assert lean.status_code == 422 and len(lean.json()["errors"]) > 1, lean.text
    assert _seen(lean) == _seen(general)


LEAN = (
    "{api}/initiatives/{initiative}",
    "{api}/initiatives?plan_id={plan}&limit=50",
    "{api}/stats/achievement?plan_id={plan}&fiscal_year=2024",
    "{api}/export/initiatives.csv?plan_id={plan}",
)


def test_reads_do_not_go_through_fastapis_solver(
    app: FastAPI, client: TestClient, ids: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With FastAPI's dependency solver broken, the plain reads still answer (they do not use
    it), while FastAPI's handler fails: the comparison above is about something."""

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("FastAPI's solver was called")

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", broken)
    for url in LEAN:
        answer = client.get(url.format(**ids))
        assert answer.status_code == 200, (url, answer.text)
    refused = client.get(f"{API}/initiatives/abc")
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    general = through_fastapi(app, client, LEAN[0].format(**ids))
    assert general.status_code == 500  # FastAPI's handler does call it
    assert general.headers["content-type"] == "application/problem+json"
