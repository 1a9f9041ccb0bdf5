"""What an operator reads: one structured line per request, and the startup lines."""

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from starlette.types import Message, Receive, Scope, Send

from app.auth.tokens import Role, create_token
from app.config import Settings
from app.main import create_app
from app.web import monitoring
from tests.conftest import Api

API = "/api/v1"


class Lines(logging.Handler):
    """Keeps what the startup logger writes."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    monitoring.STARTUP.addHandler(handler)
    yield handler
    monitoring.STARTUP.removeHandler(handler)


def access(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    """The access lines written to stderr since the last call, as JSON objects."""
    written = capsys.readouterr().err.splitlines()
    found = [json.loads(line) for line in written if line.startswith("{")]
    return [line for line in found if line["logger"] == "app.access"]


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """A client of the service with LOG_FORMAT=json, the image's."""
    application = create_app(Settings(database_url=database_url, log_format="json"))
    with TestClient(application) as test_client:
        yield test_client
    application.state.engine.dispose()


@pytest.fixture
def api(fresh_url: str) -> Iterator[Api]:
    application = create_app(Settings(database_url=fresh_url, log_format="json"))
    with Session(application.state.engine) as session:
        editor = create_token(session, name="editor", role=Role.editor)
    with TestClient(application) as test_client:
        yield Api(
            client=test_client,
            engine=application.state.engine,
            editor={"Authorization": f"Bearer {editor}"},
            admin={},
        )
    application.state.engine.dispose()


def test_one_line_per_request_with_the_route_template_status_and_size(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = client.get(f"{API}/plans/1", headers={"X-Request-ID": "kikaku-2026-12-04.1"})
    again = client.get(f"{API}/plans/1")  # a kept answer: no route runs, the template is kept
    first, second = access(capsys)
    assert first["route"] == second["route"] == "/api/v1/plans/{plan_id}"
    assert (first["method"], first["status"], first["bytes"]) == ("GET", 200, len(answer.content))
    assert first["request_id"] == answer.headers["x-request-id"] == "kikaku-2026-12-04.1"
    assert second["request_id"] == again.headers["x-request-id"] != first["request_id"]
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert first["client"] == "testclient"
    assert first["token"] is None
    assert first["time"] and first["level"] == "info"


@pytest.mark.parametrize("sent", ["", "a b", "x" * 129, "<script>", "改行\n"])
def test_a_request_id_that_is_not_a_plain_token_is_replaced(
    client: TestClient, capsys: pytest.CaptureFixture[str], sent: str
) -> None:
    answer = client.get("/healthz", headers={"X-Request-ID": sent.encode("utf-8")})
    (line,) = access(capsys)
    assert line["request_id"] == answer.headers["x-request-id"] != sent
    assert len(answer.headers["x-request-id"]) == 32


def test_a_write_names_its_token_never_the_secret_and_a_failure_its_problem(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    api.client.patch(f"{API}/plans/1", json={"philosophy": "市民とともに"}, headers=api.editor)
    api.client.patch(f"{API}/plans/1", json={"title": ""}, headers=api.editor)
    api.client.patch(f"{API}/plans/1", json={"title": "x"})
    logged = access(capsys)
    written, invalid, refused = logged
    assert (written["status"], written["token"]) == (200, "editor")
    assert written["route"] == invalid["route"] == "/api/v1/plans/{plan_id}"
    assert (invalid["status"], invalid["problem"]) == (
        422,
        "urn:plan-progress:problem:validation-error",
    )
    assert (refused["status"], refused["problem"], refused["route"], refused["path"]) == (
        401,
        "urn:plan-progress:problem:unauthorized",
        "(no route)",
        "/api/v1/plans/1",
    )
    secret = api.editor["Authorization"].removeprefix("Bearer ")
    assert all(secret not in json.dumps(line) for line in logged)


def test_text_lines_read_as_a_person_reads(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    application = create_app(Settings(database_url=database_url, log_format="text"))
    with TestClient(application) as client:
        capsys.readouterr()
        answer = client.get(f"{API}/plans/1")
    application.state.engine.dispose()
    (text,) = [line for line in capsys.readouterr().err.splitlines() if " GET " in line]
    stamp, level, rest = text.split(maxsplit=2)
    assert datetime.fromisoformat(stamp).tzinfo is not None and level == "INFO"
    assert rest.startswith("GET /api/v1/plans/{plan_id} 200 ")
    assert "status=200" in text and "route=/api/v1/plans/{plan_id}" in text
    assert f"request_id={answer.headers['x-request-id']}" in text
    assert "token=" not in text  # a field with no value is left out


def test_startup_says_the_settings_without_secrets_and_the_revision(
    database_url: str, lines: Lines
) -> None:
    secret_url = "postgresql+psycopg://planner:hunter2@db.example:5432/plans"
    shown = monitoring.settings_in_effect(Settings(database_url=secret_url))
    assert "hunter2" not in json.dumps(shown)
    assert shown["database_url"] == "postgresql+psycopg://planner:***@db.example:5432/plans"

    application = create_app(Settings(database_url=database_url))
    with TestClient(application):
        pass
    application.state.engine.dispose()
    messages = [record.getMessage() for record in lines.records if record.name == "app.startup"]
    assert messages == ["settings in effect", "database at its latest migration"]
    revision = lines.records[-1].__dict__["fields"]
    assert revision["revision"] == revision["head"] == application.state.head_revision


@pytest.mark.parametrize(
    "created",
    [0.0, 1733400000.0, 1803601165.3799994, 1733400000.9999996, 1733400059.0005, 4102444799.999],
)
def test_the_time_is_iso_8601_utc_to_the_millisecond_as_datetime_writes_it(
    created: float,
) -> None:
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert monitoring.timestamp(created) == expected


def test_a_line_s_time_is_when_its_request_was_answered(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    client.get(f"{API}/plans/1")
    after = datetime.now(UTC)
    (line,) = access(capsys)
    assert isinstance(line["time"], str) and line["time"].endswith("+00:00")
    assert before <= datetime.fromisoformat(line["time"]) <= after


def test_requests_answered_together_have_a_line_each_written_together(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load the lines of the requests that finish in one turn of the event loop go out
    in one write (a system call each cost more than anything else in the layer); every
    request still has its line, whole, and they are all written once the process is idle."""
    application = create_app(Settings(database_url=database_url, log_format="json"))
    writes: list[str] = []
    write = monitoring.write_line

    def counted(line: str) -> None:
        writes.append(line)
        write(line)

    monkeypatch.setattr(monitoring, "write_line", counted)
    paths = [f"{API}/initiatives/{i}" for i in range(1, 11)] * 3

    async def together() -> list[int]:
        transport = httpx.ASGITransport(app=application)
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            capsys.readouterr()
            writes.clear()
            answers = await asyncio.gather(*(client.get(path) for path in paths))
        return [answer.status_code for answer in answers]

    try:
        statuses = asyncio.run(together())
    finally:
        application.state.engine.dispose()
    assert statuses == [200] * len(paths)
    logged = access(capsys)
    assert [line["route"] for line in logged] == [f"{API}/initiatives/{{initiative_id}}"] * 30
    assert len({line["request_id"] for line in logged}) == 30
    assert 1 <= len(writes) < 30, len(writes)


def test_a_request_still_in_flight_does_not_hold_back_the_lines_of_those_done(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The lines of requests that finished go out at the end of the event loop's turn even
    while another request goes on (a long upload, say), not when it ends."""
    held = asyncio.Event()

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/held":
            await held.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    class Reader:
        def in_use(self) -> int:
            return 0

    class State:  # what the access log reads of the app: its pools, for the gauge
        engine = type("Engine", (), {"pool": None})()
        reader = Reader()

    class App:
        state = State()

    middleware = monitoring.AccessLogMiddleware(inner, prefix=API, log_format="json")

    async def request(path: str) -> None:
        scope = {"type": "http", "method": "GET", "path": path, "headers": [], "app": App()}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            return None

        await middleware(scope, receive, send)

    async def scenario() -> tuple[list[str], list[str]]:
        capsys.readouterr()
        long = asyncio.create_task(request("/held"))
        await asyncio.gather(request("/a"), request("/b"))
        await asyncio.sleep(0)  # the end of the turn in which they finished
        while_held = [str(line["path"]) for line in access(capsys)]
        held.set()
        await long
        return while_held, [str(line["path"]) for line in access(capsys)]

    while_held, after = asyncio.run(scenario())
    assert sorted(while_held) == ["/a", "/b"]
    assert after == ["/held"]
