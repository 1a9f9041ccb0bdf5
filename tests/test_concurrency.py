"""Fifty writers against the real server: no lost update, no 5xx, one log entry per write.

The server runs as it is deployed: `python -m app serve --workers 2` (which migrates and seeds
once, before uvicorn starts its two worker processes) on a database of the test's own, of the
suite's kind (SQLite, or PostgreSQL with TEST_DATABASE_URL). Every writer reads the same
initiative, appends its own mark to the description and sends it back with If-Match; on 412
it reads again and retries. The marks make lost updates visible: the final description must
hold every mark whose write succeeded, once, in the order the change log gives.
"""

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlmodel import Session

from app.auth.tokens import Role, create_token
from app.models import changes, initiatives
from tests.conftest import etag, wait_until_ready
from tests.helpers import child_env, feed, free_port

API = "/api/v1"
PROBLEM_JSON = "application/problem+json"
TARGET = 1  # the initiative every writer changes
WRITERS = 50
WRITES_EACH = 2  # successful writes each writer makes
ATTEMPTS_EACH = 400  # PATCHes a writer may send before it gives up (bounds the run)
READERS = 6
READS_EACH = 300  # at most; readers stop when the writers are done
TOKEN_NAME = "concurrency"


def _env(url: str, port: int) -> dict[str, str]:
    return child_env(DATABASE_URL=url, HOST="127.0.0.1", PORT=str(port), PYTHONUNBUFFERED="1")


def _stop(server: "subprocess.Popen[bytes]") -> None:
    """SIGTERM (uvicorn's graceful stop, workers included); the whole group is killed if it
    has not ended within 30 s, so no worker outlives the test."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(server.pid, signal.SIGKILL)  # workers left behind, if any
    except ProcessLookupError:
        pass
    server.wait(timeout=30)


@contextmanager
def _serving(url: str, cwd: Path, log: Path) -> Iterator[str]:
    """Run `python -m app serve --workers 2` until the block ends; its output goes to log."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--workers", "2"],
            env=_env(url, port),
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, workers included
        )
        try:
            wait_until_ready(server, base, log, 90)
            yield base
        finally:
            _stop(server)


@dataclass
class Seen:
    """Every answer a thread got: (method, path, status, content type, body)."""

    answers: list[tuple[str, str, int, str, str]] = field(default_factory=list)

    def add(self, response: httpx.Response) -> httpx.Response:
        self.answers.append(
            (
                response.request.method,
                response.request.url.path,
                response.status_code,
                response.headers.get("content-type", ""),
                response.text,
            )
        )
        return response


@dataclass
class Writer:
    marks: list[str] = field(default_factory=list)  # the marks of its successful writes
    seen: Seen = field(default_factory=Seen)


def _write(base: str, headers: dict[str, str], number: int, start: threading.Barrier) -> Writer:
    """Read, append a mark, write back with If-Match; on 412 read again (bounded attempts)."""
    writer = Writer()
    path = f"{API}/initiatives/{TARGET}"
    with httpx.Client(base_url=base, timeout=60) as client:
        start.wait()
        for _attempt in range(ATTEMPTS_EACH):
            if len(writer.marks) == WRITES_EACH:
                break
            current = writer.seen.add(client.get(path))
            if current.status_code != 200:
                continue
            mark = f"[w{number}-{len(writer.marks)}]"
            response = writer.seen.add(
                client.patch(
                    path,
                    json={"description": (current.json()["description"] or "") + mark},
                    headers=headers | {"If-Match": current.headers["etag"]},
                )
            )
            if response.status_code == 200:
                writer.marks.append(mark)
            elif response.status_code == 412:
                time.sleep(random.uniform(0, 0.1))  # jitter, as a polite client would
            else:
                break  # anything else is a failure the test reports
    return writer


def _read(base: str, number: int, start: threading.Barrier, done: threading.Event) -> Seen:
    """Read what the writers change (and what depends on it) while they write."""
    seen = Seen()
    paths = [
        f"{API}/initiatives/{TARGET}",
        f"{API}/initiatives?q=%E9%80%9A%E5%AD%A6",  # 通学
        f"{API}/changes?since=0&limit=500",
        f"{API}/stats/achievement",
    ]
    with httpx.Client(base_url=base, timeout=60) as client:
        start.wait()
        for index in range(READS_EACH):
            if done.is_set():
                break
            seen.add(client.get(paths[(number + index) % len(paths)]))
            time.sleep(0.02)
    return seen


@pytest.mark.slow
def test_fifty_writers_lose_no_update_and_get_only_200_or_412(
    scratch_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    engine = create_engine(scratch_url)
    try:
        with _serving(scratch_url, tmp_path, log) as base:
            with Session(engine) as session:  # the server has migrated and seeded by now
                secret = create_token(session, name=TOKEN_NAME, role=Role.editor)
            headers = {"Authorization": f"Bearer {secret}"}
            before = httpx.get(f"{base}{API}/initiatives/{TARGET}").json()
            before["description"] = before["description"] or ""
            with httpx.Client(base_url=base) as reader:
                since = feed(reader, 0)[-1]["id"]  # the seed's entries

            start, done = threading.Barrier(WRITERS + READERS, timeout=60), threading.Event()
            with ThreadPoolExecutor(max_workers=WRITERS + READERS) as pool:
                writing = [
                    pool.submit(_write, base, headers, number, start) for number in range(WRITERS)
                ]
                reading = [
                    pool.submit(_read, base, number, start, done) for number in range(READERS)
                ]
                try:
                    writers = [future.result() for future in writing]
                finally:
                    done.set()
                readers = [future.result() for future in reading]

            after = httpx.get(f"{base}{API}/initiatives/{TARGET}")
            with httpx.Client(base_url=base) as reader:
                entries = feed(reader, since)
        with engine.connect() as connection:
            stored = (
                connection.execute(
                    select(initiatives.c.version, initiatives.c.description).where(
                        initiatives.c.id == TARGET
                    )
                )
                .mappings()
                .one()
            )
            logged = connection.scalar(
                select(func.count()).select_from(changes).where(changes.c.id > since)
            )
    finally:
        engine.dispose()

    answers = [answer for seen in (*[w.seen for w in writers], *readers) for answer in seen.answers]
    # No server error, and no SQLite message leaked to a client, whatever the status.
    assert [a for a in answers if a[2] >= 500] == []
    assert [a for a in answers if "database is locked" in a[4]] == []
    # A write either succeeded or was refused as stale (problem+json); reads all succeeded.
    writes = [a for a in answers if a[0] == "PATCH"]
    assert {a[2] for a in writes} <= {200, 412}
    refused = [a for a in writes if a[2] == 412]
    assert all(a[3].startswith(PROBLEM_JSON) and '"status":412' in a[4] for a in refused)
    assert {a[2] for a in answers if a[0] == "GET"} == {200}
    # Every writer got its writes through within its attempts.
    assert [len(w.marks) for w in writers] == [WRITES_EACH] * WRITERS
    marks = [mark for w in writers for mark in w.marks]
    successes = len(marks)
    assert successes == sum(1 for a in writes if a[2] == 200)

    # The version moved on once per successful write, over HTTP and in the database.
    assert after.status_code == 200
    assert after.json()["version"] == before["version"] + successes
    assert after.headers["etag"] == etag(before["id"], before["version"] + successes)
    assert stored["version"] == before["version"] + successes
    # No update was lost: every successful write's mark is in the description, once.
    description: str = after.json()["description"]
    assert description == stored["description"]
    assert description.startswith(before["description"])
    appended = re.findall(r"\[w\d+-\d+\]", description[len(before["description"]) :])
    assert sorted(appended) == sorted(marks)
    assert "".join(appended) == description[len(before["description"]) :]

    # One change-log entry per successful write, by the token's name, and they chain: each
    # entry's old description is the previous entry's new one.
    assert logged == successes
    assert [(e["actor"], e["action"], e["entity"], e["entity_id"]) for e in entries] == [
        (TOKEN_NAME, "update", "initiative", TARGET)
    ] * successes
    chain = [before["description"]] + [e["changes"]["description"][1] for e in entries]
    assert [e["changes"]["description"][0] or "" for e in entries] == chain[:-1]
    assert chain[-1] == description

    # The secret never reached the server's output, though its requests were logged.
    output = log.read_text(errors="replace")
    assert f"PATCH {API}/initiatives/{{initiative_id}} 200" in output  # app/web/monitoring.py
    assert secret not in output
    assert secret.removeprefix("ppa_") not in output
