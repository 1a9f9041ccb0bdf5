"""/metrics in Prometheus' text format, as a scraper reads it, in one process and over workers."""

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import make_url, select
from starlette.types import Message

from app.config import Settings
from app.main import create_app
from app.models import data_version
from app.web.monitoring import exposition
from tests.conftest import Api, wait_until_ready
from tests.helpers import child_env, free_port

API = "/api/v1"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_a_request_just_made(api: Api) -> None:
    route = {"route": "/api/v1/plans/{plan_id}", "method": "GET", "status": "200"}
    before = api.client.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain; version=")
    assert before.headers["cache-control"] == "no-store"
    api.client.get(f"{API}/plans/1")
    api.client.get(f"{API}/plans/1")  # the second is a kept answer: still counted
    after = api.client.get("/metrics").text
    total = "plan_progress_requests_total"
    assert value(after, total, **route) == value(before.text, total, **route) + 2
    duration = "plan_progress_request_duration_seconds_count"
    assert value(after, duration, route=route["route"], method="GET") >= 2
    assert value(after, "plan_progress_kept_answers_total", result="hit") >= 1
    with api.engine.connect() as connection:
        version = connection.scalar(select(data_version.c.version))
    assert value(after, "plan_progress_data_version") == version
    assert ("plan_progress_requests_in_flight", ()) in samples(after)
    assert ("plan_progress_db_connections_in_use", ()) in samples(after)


def test_metrics_count_the_rows_a_bulk_upload_wrote(api: Api) -> None:
    name = "plan_progress_bulk_rows_written_total"
    before = api.client.get("/metrics").text
    csv = "取組番号,年度,評価\r\nR7-1,R7,達成\r\nR7-10,R7,未達成\r\n"
    dry = api.client.post(
        f"{API}/bulk/evaluations?dry_run=true",
        content=csv.encode(),
        headers=api.editor | {"Content-Type": "text/csv"},
    )
    assert dry.status_code == 200, dry.text
    written = api.client.post(
        f"{API}/bulk/evaluations",
        content=csv.encode(),
        headers=api.editor | {"Content-Type": "text/csv"},
    )
    assert written.json()["created"] == 2
    after = api.client.get("/metrics").text
    created = {"entity": "evaluation", "action": "created"}
    assert value(after, name, **created) == value(before, name, **created) + 2


def test_metrics_can_be_turned_off_or_need_the_operators_token(database_url: str) -> None:
    off = create_app(Settings(database_url=database_url, metrics="off"))
    with TestClient(off) as client:
        assert client.get("/metrics").status_code == 404
    guarded = create_app(Settings(database_url=database_url, metrics_token="s3cret-scraper"))
    with TestClient(guarded) as client:
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        allowed = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scraper"})
        assert allowed.status_code == 200
    for application in (off, guarded):
        application.state.engine.dispose()


@pytest.mark.slow
def test_two_workers_add_their_requests_up_and_log_json_lines(
    fresh_url: str, tmp_path: Path
) -> None:
    """`serve --workers 2` as deployed: every scrape, whichever worker answers it, counts
    every request made to either worker; each request is one JSON line in the log."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = child_env()
    env |= {
        "DATABASE_URL": fresh_url,
        "PORT": str(port),
        "LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    with (
        log.open("w") as output,
        subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--workers", "2"],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        ) as server,
    ):
        try:
            wait_until_ready(server, base, log, 60)
            requests = 40
            pids = set()
            for _ in range(requests):
                # A new connection each time, so that both workers take some.
                answer = httpx.get(f"{base}{API}/plans/1", headers={"Connection": "close"})
                assert answer.status_code == 200
            for _ in range(6):
                scrape = httpx.get(f"{base}/metrics", headers={"Connection": "close"}).text
                counted = value(
                    scrape,
                    "plan_progress_requests_total",
                    route="/api/v1/plans/{plan_id}",
                    method="GET",
                    status="200",
                )
                assert counted == requests
        finally:
            server.terminate()
            server.wait(timeout=60)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "app.access"]
    plans = [line for line in access if line["route"] == "/api/v1/plans/{plan_id}"]
    assert len(plans) == requests
    assert all(re.fullmatch(r"[0-9a-f]{32}", line["request_id"]) for line in plans)
    pids = {pid for pid in re.findall(r"Started server process \[(\d+)\]", log.read_text())}
    assert len(pids) == 2, "two workers served"
    assert any(line["message"] == "settings in effect" for line in lines)


def test_a_dead_workers_live_gauges_are_forgotten_and_its_counts_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed (or restarted by uvicorn) never says it is gone. Its requests in flight
    must not stay in the sum for good; the requests it answered still count."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    worker = (
        "import os, signal\n"
        "from app.web import monitoring\n"
        "monitoring.IN_FLIGHT.inc(3)\n"
        "monitoring.count_request('/api/v1/plans/{plan_id}', 'GET', 200, 0.01)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"  # as kill -9: no goodbye of any kind
    )
    env = child_env() | {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    died = subprocess.run([sys.executable, "-c", worker], env=env, cwd=Path.cwd(), check=False)
    assert died.returncode == -9
    assert any(name.startswith("gauge_livesum_") for name in os.listdir(directory))

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    scrape = exposition(12).decode()
    assert value(scrape, "plan_progress_requests_in_flight") == 0
    assert not any(name.startswith("gauge_livesum_") for name in os.listdir(directory))
    route = {"route": "/api/v1/plans/{plan_id}", "method": "GET"}
    assert value(scrape, "plan_progress_requests_total", **route, status="200") == 1
    assert value(scrape, "plan_progress_data_version") == 12
    assert value(scrape, "plan_progress_database_up") == 1


@pytest.mark.only_on("postgresql")
def test_metrics_answer_while_the_database_does_not(fresh_url: str) -> None:
    """A scrape in an outage is when an operator needs one: it answers, and says so."""
    unreachable = make_url(fresh_url).set(port=free_port()).render_as_string(False)
    application = create_app(Settings(database_url=unreachable, db_connect_timeout=1))
    with TestClient(application) as client:
        scrape = client.get("/metrics")
    application.state.engine.dispose()
    assert scrape.status_code == 200
    assert value(scrape.text, "plan_progress_database_up") == 0
    assert "plan_progress_data_version" not in scrape.text


def test_a_lone_long_request_is_in_flight_while_it_runs(database_url: str) -> None:
    """The in-flight gauge is set when a process goes busy, so a long request that starts
    right after another ended shows while it runs (here: its client is slow to take the
    answer), and 0 once it is done."""
    application = create_app(Settings(database_url=database_url))

    async def request(gate: asyncio.Event | None = None) -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"{API}/plans/1",
            "raw_path": f"{API}/plans/1".encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            if gate is not None:
                await gate.wait()

        await application(scope, receive, send)

    async def scenario() -> tuple[float, float]:
        async with application.router.lifespan_context(application):
            await request()  # the gauges were set a moment ago, as it ended
            gate = asyncio.Event()
            long = asyncio.create_task(request(gate))
            await asyncio.sleep(0.05)
            during = value(exposition(1).decode(), "plan_progress_requests_in_flight")
            gate.set()
            await long
            after = value(exposition(1).decode(), "plan_progress_requests_in_flight")
        return during, after

    try:
        during, after = asyncio.run(scenario())
    finally:
        application.state.engine.dispose()
    assert (during, after) == (1, 0)
