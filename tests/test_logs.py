"""What an operator reads: one structured line per request, and the startup lines."""

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.web import logs
from tests.conftest import Api

API = "/api/v1"


class Lines(logging.Handler):
    """Keeps what the access and startup loggers write, formatted as the service writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.json = logs.JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def access(self) -> list[dict[str, object]]:
        return [
            json.loads(self.json.format(record))
            for record in self.records
            if record.name == "app.access"
        ]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    for logger in (logs.ACCESS, logs.STARTUP):
        logger.addHandler(handler)
    yield handler
    for logger in (logs.ACCESS, logs.STARTUP):
        logger.removeHandler(handler)


def test_one_line_per_request_with_the_route_template_status_and_size(
    client: TestClient, lines: Lines
) -> None:
    answer = client.get(f"{API}/plans/1", headers={"X-Request-ID": "kikaku-2026-12-04.1"})
    again = client.get(f"{API}/plans/1")  # a kept answer: no route runs, the template is kept
    first, second = lines.access()
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
    client: TestClient, lines: Lines, sent: str
) -> None:
    answer = client.get("/healthz", headers={"X-Request-ID": sent.encode("utf-8")})
    (line,) = lines.access()
    assert line["request_id"] == answer.headers["x-request-id"] != sent
    assert len(answer.headers["x-request-id"]) == 32


def test_a_write_names_its_token_never_the_secret_and_a_failure_its_problem(
    api: Api, lines: Lines
) -> None:
    api.client.patch(f"{API}/plans/1", json={"philosophy": "市民とともに"}, headers=api.editor)
    api.client.patch(f"{API}/plans/1", json={"title": ""}, headers=api.editor)
    api.client.patch(f"{API}/plans/1", json={"title": "x"})
    written, invalid, refused = lines.access()
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
    assert all(secret not in json.dumps(line) for line in lines.access())


def test_text_lines_read_as_a_person_reads(client: TestClient, lines: Lines) -> None:
    client.get(f"{API}/plans/1")
    text = logs.TextFormatter().format(lines.records[-1])
    assert " GET /api/v1/plans/{plan_id} 200 " in text
    assert "status=200" in text and "route=/api/v1/plans/{plan_id}" in text


def test_startup_says_the_settings_without_secrets_and_the_revision(
    database_url: str, lines: Lines
) -> None:
    secret_url = "postgresql+psycopg://planner:hunter2@db.example:5432/plans"
    shown = logs.settings_in_effect(Settings(database_url=secret_url))
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
    assert logs.timestamp(created) == expected


def test_a_line_s_time_is_when_its_request_was_answered(client: TestClient, lines: Lines) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    client.get(f"{API}/plans/1")
    after = datetime.now(UTC)
    (line,) = lines.access()
    assert isinstance(line["time"], str) and line["time"].endswith("+00:00")
    assert before <= datetime.fromisoformat(line["time"]) <= after
