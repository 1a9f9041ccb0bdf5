"""The plain reads' lane (app/web/lane.py) picks the route FastAPI picks, and runs it.

For every path each GET route of the app can be asked (each path parameter filled with a
value of each kind: an id, a year, a word, a file name), and for paths no route has, the
route that answered and its path parameters are read from the scope after the request:
once as the app serves it, once with FastAPI routing it (an entry in
`dependency_overrides`, which the lane steps aside for). They must be the same, and so must
the answers. tests/test_plain_read.py compares the answers of every read on top of this.
"""

import itertools
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, _IncludedRouter
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from app.web.jsonbody import StrictJsonRoute
from app.web.lane import PlainReadLane
from tests.bad_input_table import API

VALUES = ("1", "2024", "R6", "abc", "initiatives.csv", "report.pdf")
ELSEWHERE = (  # paths no GET route has, or only a route that is not FastAPI's
    "/",
    f"{API}",
    f"{API}/",
    f"{API}/initiatives/",
    f"{API}/initiatives/1/",
    f"{API}/nothing",
    f"{API}/plans/import",
    "/docs",
    "/docs/static/nothing.js",
    "/dashboard/static/nothing.css",
    "/healthz",
    "/readyz",
)
SAME_REQUEST = {"X-Request-Id": "0123456789abcdef0123456789abcdef"}
CHANGING = {"/metrics"}  # counts every request: its answers differ from one to the next


def _fastapi_only() -> None:
    """Never called: an override of it makes the lane step aside."""


def get_paths(app: FastAPI) -> list[str]:
    """Each GET route's path with its parameters filled in every way VALUES allow."""
    paths = set()
    for entry in app.router.routes:
        contexts = entry.effective_route_contexts() if isinstance(entry, _IncludedRouter) else ()
        for context in contexts:
            route = context.original_route
            if not isinstance(route, APIRoute) or "GET" not in (context.methods or ()):
                continue
            names = re.findall(r"\{([^}:]+)[^}]*\}", context.path_format)
            for values in itertools.product(VALUES, repeat=len(names)):
                path = context.path_format
                for name, value in zip(names, values, strict=True):
                    path = path.replace("{" + name + "}", value, 1)
                paths.add(path)
    return sorted(paths)


class Recorder:
    """The app, noting the route each request was answered by and its path parameters."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.seen: tuple[Any, Any] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.seen = (scope.get("route"), scope.get("path_params"))


@pytest.fixture(scope="module")
def app(nothing_kept_app: FastAPI) -> FastAPI:
    return nothing_kept_app


@pytest.fixture(scope="module")
def recorder(app: FastAPI) -> Recorder:
    return Recorder(app)


@pytest.fixture(scope="module")
def client(recorder: Recorder) -> Iterator[TestClient]:
    with TestClient(recorder, raise_server_exceptions=False) as made:
        yield made


def answer_and_route(
    client: TestClient, recorder: Recorder, path: str
) -> tuple[tuple[int, bytes, str | None], Any]:
    recorder.seen = None
    response = client.get(path, headers=SAME_REQUEST)
    return (response.status_code, response.content, response.headers.get("etag")), recorder.seen


def test_the_paths_cover_the_plain_reads(app: FastAPI) -> None:
    """The paths below reach every plain read of the app (a route left out would go
    unchecked), and the lane is the app's innermost middleware."""
    paths = get_paths(app)
    assert len(paths) > 100
    plain = {
        route.path
        for entry in app.router.routes
        if isinstance(entry, _IncludedRouter)
        for route in (context.original_route for context in entry.effective_route_contexts())
        if isinstance(route, StrictJsonRoute) and route.plain is not None
    }
    assert len(plain) > 20
    assert [middleware.cls for middleware in app.user_middleware][-1] == PlainReadLane  # type: ignore[comparison-overlap]


def test_the_lane_picks_fastapis_route(
    app: FastAPI, client: TestClient, recorder: Recorder
) -> None:
    for path in [*get_paths(app), *ELSEWHERE]:
        laned, by_lane = answer_and_route(client, recorder, path)
        app.dependency_overrides[_fastapi_only] = _fastapi_only
        try:
            routed, by_fastapi = answer_and_route(client, recorder, path)
        finally:
            app.dependency_overrides.clear()
        assert laned[0] < 500, (path, laned)
        assert by_lane == by_fastapi, path
        if path not in CHANGING:
            assert laned == routed, path


def test_plain_reads_do_not_walk_fastapis_routes(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    """With FastAPI's route walk broken, the plain reads still answer, their 404 and 422 too,
    while a route that is not a plain read fails: the lane routes them, and the comparison
    above is about something."""

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("FastAPI's route walk was used")

    monkeypatch.setattr(fastapi.routing._IncludedRouter, "_handle_selected", broken)
    for path, status in (
        (f"{API}/initiatives/1", 200),
        (f"{API}/initiatives?limit=2", 200),
        (f"{API}/plans/1", 200),
        (f"{API}/initiatives/999999", 404),
        (f"{API}/initiatives/abc", 422),
        (f"{API}/initiatives?plan_idd=1", 422),
    ):
        answer = client.get(path)
        assert answer.status_code == status, (path, answer.text)
        if status != 200:
            assert answer.headers["content-type"] == "application/problem+json"
    assert client.get("/readyz").status_code == 500  # not a plain read: FastAPI's walk
    assert client.head(f"{API}/initiatives/1").status_code == 200  # HEAD goes as GET


def test_a_route_before_a_plain_read_keeps_its_paths() -> None:
    """A path that an earlier route takes, one that is not a plain read (here: it reads a
    header), stays that route's, even though a plain read later on matches it too; and a
    route for other methods only does not stop the walk."""
    from fastapi import APIRouter, Header, Response
    from starlette.middleware import Middleware

    router = APIRouter(route_class=StrictJsonRoute)

    @router.post("/things/latest")
    async def post_latest() -> Response:
        return Response("posted")

    @router.get("/things/special")
    async def special(x_thing: str = Header("none")) -> Response:
        return Response(f"special {x_thing}")

    @router.get("/things/{thing_id}")
    async def thing(thing_id: int) -> Response:
        return Response(f"thing {thing_id}")

    application = FastAPI(middleware=[Middleware(PlainReadLane)])
    # What a plain read asks of the app's reader: whether its reads wait (app/reads.py).
    application.state.reader = SimpleNamespace(suspends=True)
    application.include_router(router, prefix="/api")
    recorder = Recorder(application)
    with TestClient(recorder) as client:
        assert client.get("/api/things/special").text == "special none"
        assert recorder.seen is not None and recorder.seen[0].name == "special"
        assert client.get("/api/things/7").text == "thing 7"
        assert recorder.seen[0].name == "thing" and recorder.seen[1] == {"thing_id": "7"}
        assert client.get("/api/things/latest").status_code == 422  # not an int: the read's
        assert recorder.seen[0].name == "thing"


def test_a_request_fastapis_telemetry_observes_is_left_to_its_walk(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI names its spans after the route it picks as it walks. With OPENTELEMETRY=on
    and an SDK's providers set up, its telemetry middleware puts its record of the request
    in the scope under "fastapi.telemetry": the lane then leaves the request to that walk,
    and the answer is the same. (No SDK is installed here: the key is put in by hand.)"""
    walked: list[str] = []
    handle_selected = fastapi.routing._IncludedRouter._handle_selected

    async def counting(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        walked.append(scope["path"])
        await handle_selected(self, scope, receive, send)

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["fastapi.telemetry"] = None
        await app(scope, receive, send)

    monkeypatch.setattr(fastapi.routing._IncludedRouter, "_handle_selected", counting)
    path = f"{API}/initiatives/1"
    answers = []
    for application, walks in ((app, []), (observed, [path])):
        walked.clear()
        with TestClient(application) as client:
            answer = client.get(path, headers=SAME_REQUEST)
        assert answer.status_code == 200
        answers.append((answer.content, answer.headers["etag"]))
        assert walked == walks
    assert answers[0] == answers[1]
