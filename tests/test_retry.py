"""Writes the database aborted as transient are run again, a bounded number of times.

A serialization failure (SQLSTATE 40001), a deadlock (40P01) or SQLite's "database is locked"
rolls the whole transaction back; the service runs the request again (app/web/faults.py) and the
client sees one answer, as if nothing had happened, or after three aborted attempts a 503
with Retry-After, with nothing written. Most tests make the database's commit fail the way
a driver does, after the request's writes have reached the database (so a missing rollback
would show); two provoke the real thing: a lock held past SQLite's busy timeout, and a
deadlock PostgreSQL detects. The last says which errors count as transient.
"""

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg.errors
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, make_url, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from app.auth.tokens import Role, create_token
from app.config import Settings
from app.db import SQLITE_BEGIN
from app.main import create_app
from app.models import changes, data_version, idempotency_keys, initiatives
from app.web.faults import ATTEMPTS, BUSY_RETRY_AFTER, transient_reason
from tests.conftest import Api, etag
from tests.helpers import feed, snapshot

API = "/api/v1"
PROBLEM_JSON = "application/problem+json"


def _serialization_failure() -> Exception:
    driver = psycopg.errors.SerializationFailure(
        "could not serialize access due to concurrent update"
    )
    return OperationalError("COMMIT", None, driver)


def _deadlock() -> Exception:
    return OperationalError("UPDATE data_version", None, psycopg.errors.DeadlockDetected("x"))


def _sqlite_busy() -> Exception:
    driver = sqlite3.OperationalError("database is locked")
    driver.sqlite_errorcode = sqlite3.SQLITE_BUSY
    return OperationalError("COMMIT", None, driver)


def _connection_lost() -> Exception:
    driver = psycopg.OperationalError("server closed the connection unexpectedly")
    return OperationalError("COMMIT", None, driver)


TRANSIENT = {
    "serialization failure": _serialization_failure,
    "deadlock": _deadlock,
    "sqlite busy": _sqlite_busy,
}


@dataclass
class Aborts:
    """Make the next `remaining` writers' commits fail with `error`; count writer commits."""

    remaining: int
    error: Callable[[], Exception]
    commits: int = 0


@pytest.fixture
def abort_commits() -> Iterator[Callable[[int, Callable[[], Exception]], Aborts]]:
    listeners: list[Callable[[OrmSession], None]] = []

    def install(times: int, error: Callable[[], Exception]) -> Aborts:
        aborts = Aborts(times, error)

        def before_commit(session: OrmSession) -> None:
            # Only a request's write transaction (begun as a writer, app/db.py).
            options = session.connection().get_execution_options()
            if options.get(SQLITE_BEGIN) != "IMMEDIATE":
                return
            aborts.commits += 1
            if aborts.remaining > 0:
                aborts.remaining -= 1
                session.flush()  # the writes reach the database: the abort must undo them
                raise aborts.error()

        event.listen(OrmSession, "before_commit", before_commit)
        listeners.append(before_commit)
        return aborts

    yield install
    for listener in listeners:
        event.remove(OrmSession, "before_commit", listener)


def _last_change(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.max(changes.c.id))) or 0


def _initiative(engine: Engine, initiative_id: int = 1) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(select(initiatives).where(initiatives.c.id == initiative_id))
        return dict(row.mappings().one())


def _assert_busy_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers["retry-after"] == str(BUSY_RETRY_AFTER)
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == 503
    assert body["title"] == "Service Unavailable"
    assert "nothing was written" in body["detail"]
    assert "SQL" not in body["detail"] and "locked" not in body["detail"]


@pytest.mark.slow
@pytest.mark.parametrize("failures", range(1, ATTEMPTS))
@pytest.mark.parametrize("kind", TRANSIENT)
def test_a_write_aborted_as_transient_is_run_again_and_written_once(
    api: Api,
    abort_commits: Callable[[int, Callable[[], Exception]], Aborts],
    caplog: pytest.LogCaptureFixture,
    kind: str,
    failures: int,
) -> None:
    path = f"{API}/initiatives/1"
    before = api.client.get(path)
    version = before.json()["version"]
    since = _last_change(api.engine)
    aborts = abort_commits(failures, TRANSIENT[kind])

    with caplog.at_level(logging.WARNING, logger="app.web.faults"):
        response = api.client.patch(
            path,
            json={"title": "再試行した取組"},
            headers=api.editor | {"If-Match": before.headers["etag"]},
        )

    assert response.status_code == 200, response.text
    assert response.json()["title"] == "再試行した取組"
    assert response.json()["version"] == version + 1
    assert response.headers["etag"] == etag(1, version + 1)
    assert aborts.commits == failures + 1  # each aborted attempt, then the one that held
    stored = _initiative(api.engine)
    assert (stored["title"], stored["version"]) == ("再試行した取組", version + 1)
    (entry,) = feed(api.client, since)
    assert (entry["actor"], entry["action"], entry["entity"], entry["entity_id"]) == (
        "editor",
        "update",
        "initiative",
        1,
    )
    assert entry["changes"]["title"][1] == "再試行した取組"
    retried = [r for r in caplog.records if r.name == "app.web.faults"]
    assert len(retried) == failures
    assert all("running it again" in record.getMessage() for record in retried)


WRITES = [
    pytest.param(
        "POST",
        f"{API}/policies",
        {"plan_id": 1, "number": 4, "title": "新しい方針"},
        201,
        ("create", "policy"),
        id="POST policy",
    ),
    pytest.param(
        "PUT",
        f"{API}/initiatives/10/evaluations/R7",
        {"status": "achieved", "result": "避難所受付でデジタル市民パスポートの運用を開始"},
        201,  # created, not 200 "replaced": the first attempt's insert was rolled back
        ("create", "evaluation"),
        id="PUT evaluation",
    ),
    pytest.param("DELETE", f"{API}/reports/1", None, 204, None, id="DELETE report"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "logged"), WRITES)
def test_each_kind_of_write_is_answered_as_if_it_had_run_once(
    api: Api,
    abort_commits: Callable[[int, Callable[[], Exception]], Aborts],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    logged: tuple[str, str] | None,
) -> None:
    since = _last_change(api.engine)
    aborts = abort_commits(1, _serialization_failure)

    response = api.client.request(method, path, json=body, headers=api.editor)

    assert response.status_code == status, response.text
    assert aborts.commits == 2
    entries = feed(api.client, since)
    if logged is not None:
        (entry,) = entries
        assert (entry["action"], entry["entity"], entry["entity_id"]) == (
            *logged,
            response.json()["id"],
        )
    else:  # the report and its lines and highlights, each once
        assert {e["action"] for e in entries} == {"delete"}
        keys = [(e["entity"], e["entity_id"]) for e in entries]
        assert len(keys) == len(set(keys)) > 1
        assert ("report", 1) in keys
        assert api.client.get(f"{API}/reports/1").status_code == 404


def test_three_aborts_answer_503_with_retry_after_and_write_nothing(
    api: Api,
    abort_commits: Callable[[int, Callable[[], Exception]], Aborts],
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = snapshot(api.engine)
    since = _last_change(api.engine)
    aborts = abort_commits(ATTEMPTS + 5, _deadlock)

    with caplog.at_level(logging.WARNING, logger="app.web.faults"):
        response = api.client.patch(
            f"{API}/initiatives/1", json={"title": "書けない"}, headers=api.editor
        )

    _assert_busy_503(response)
    assert aborts.commits == ATTEMPTS  # bounded: no fourth attempt
    assert snapshot(api.engine) == before
    assert feed(api.client, since) == []
    assert "503" in [r for r in caplog.records if r.name == "app.web.faults"][-1].getMessage()
    # The next write, once the database lets it, goes through.
    aborts.remaining = 0
    again = api.client.patch(f"{API}/initiatives/1", json={"title": "書けた"}, headers=api.editor)
    assert again.status_code == 200, again.text


def test_a_bulk_upload_is_run_again_with_its_body_and_its_idempotency_key(
    api: Api, abort_commits: Callable[[int, Callable[[], Exception]], Aborts]
) -> None:
    since = _last_change(api.engine)
    aborts = abort_commits(1, _serialization_failure)
    headers = api.editor | {"Idempotency-Key": "r7-retry-1", "Content-Type": "text/csv"}
    body = "取組番号,年度,評価\r\nR7-1,R7,達成\r\n".encode()

    first = api.client.post(f"{API}/bulk/evaluations", content=body, headers=headers)

    assert first.status_code == 200, first.text
    assert first.json()["created"] == 1
    assert aborts.commits == 2
    (entry,) = feed(api.client, since)
    assert (entry["action"], entry["entity"]) == ("create", "evaluation")
    with api.engine.connect() as connection:
        keys = connection.execute(select(idempotency_keys.c.key)).scalars().all()
    assert keys == ["r7-retry-1"]
    # A client's own retry with the key replays the answer; nothing is written again.
    after = snapshot(api.engine)
    replay = api.client.post(f"{API}/bulk/evaluations", content=body, headers=headers)
    assert replay.status_code == 200
    assert replay.content == first.content
    assert snapshot(api.engine) == after


def test_other_database_errors_are_not_run_again(
    fresh_url: str,
    abort_commits: Callable[[int, Callable[[], Exception]], Aborts],
    caplog: pytest.LogCaptureFixture,
) -> None:
    application = create_app(Settings(database_url=fresh_url))
    engine: Engine = application.state.engine
    with Session(engine) as session:
        secret = create_token(session, name="editor", role=Role.editor)
    before = snapshot(engine)
    aborts = abort_commits(1, _connection_lost)
    try:
        with (
            caplog.at_level(logging.ERROR),
            TestClient(application, raise_server_exceptions=False) as client,
        ):
            response = client.patch(
                f"{API}/initiatives/1",
                json={"title": "一度だけ"},
                headers={"Authorization": f"Bearer {secret}"},
            )
        after = snapshot(engine)
    finally:
        engine.dispose()

    # Not run again (the COMMIT's outcome is unknown), but told as what it is: the database
    # could not be reached (app/web/faults.py), not an unexpected 500.
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["type"].endswith(":database-unavailable")
    assert aborts.commits == 1
    assert after == before
    assert not [r for r in caplog.records if r.name == "app.web.faults"]


@pytest.mark.only_on("sqlite")  # SQLite's lock; PostgreSQL has its own test below
def test_a_lock_held_past_sqlites_busy_timeout_is_a_503_then_the_write_goes_through(
    fresh_url: str,
) -> None:
    application = create_app(Settings(database_url=fresh_url, sqlite_busy_timeout_ms=50))
    engine: Engine = application.state.engine
    with Session(engine) as session:
        headers = {"Authorization": f"Bearer {create_token(session, name='e', role=Role.editor)}"}
    before = snapshot(engine)
    holder = sqlite3.connect(make_url(fresh_url).database or "", isolation_level=None)
    try:
        with TestClient(application) as client:
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            busy = client.patch(f"{API}/initiatives/1", json={"title": "待つ"}, headers=headers)
            holder.execute("ROLLBACK")
            assert snapshot(engine) == before
            done = client.patch(f"{API}/initiatives/1", json={"title": "待つ"}, headers=headers)
        title = _initiative(engine)["title"]
    finally:
        holder.close()
        engine.dispose()

    _assert_busy_503(busy)
    assert done.status_code == 200, done.text
    assert title == "待つ"


def _wait_until_blocked_by(engine: Engine, pid: int) -> None:
    """Wait until some backend waits for a lock the backend pid holds."""
    deadline = time.monotonic() + 30
    # A statement of its own each time: pg_stat_activity would show one transaction the
    # same snapshot over and over; pg_locks is read afresh.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
        while True:
            blocked = watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_locks"
                    " WHERE NOT granted AND :pid = ANY(pg_blocking_pids(pid))"
                ),
                {"pid": pid},
            )
            if blocked:
                return
            if time.monotonic() > deadline:
                pytest.fail("the request never waited for the lock")
            time.sleep(0.01)


@pytest.mark.only_on("postgresql")  # a deadlock PostgreSQL detects
def test_a_real_deadlock_is_resolved_by_running_the_write_again(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"{API}/initiatives/1"
    before = api.client.get(path)
    version = before.json()["version"]
    since = _last_change(api.engine)
    started = threading.Event()

    def write() -> httpx.Response:
        started.set()
        response: httpx.Response = api.client.patch(
            path,
            json={"title": "行き詰まりの後"},
            headers=api.editor | {"If-Match": before.headers["etag"]},
        )
        return response

    # The pool is left last: should this test fail half-way, `other` ends first and lets the
    # request finish, rather than the pool waiting for a request that waits for `other`.
    with (
        caplog.at_level(logging.WARNING, logger="app.web.faults"),
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        with api.engine.connect() as other:
            other.execute(text("SET LOCAL deadlock_timeout = '60s'"))  # the request detects it
            pid = other.scalar(text("SELECT pg_backend_pid()"))
            assert isinstance(pid, int)
            # Another transaction holds the initiative's row, as no writer of ours does...
            other.execute(select(initiatives.c.id).where(initiatives.c.id == 1).with_for_update())
            pending = pool.submit(write)
            started.wait()
            # ...the request takes data_version's lock, then waits for the row...
            _wait_until_blocked_by(api.engine, pid)
            # ...and waiting for data_version in turn closes the cycle: PostgreSQL aborts the
            # request's transaction (it waited first), so this statement gets its lock.
            other.execute(update(data_version).values(version=data_version.c.version + 1))
            other.commit()
        response = pending.result(timeout=60)

    assert response.status_code == 200, response.text
    assert response.json()["version"] == version + 1
    assert _initiative(api.engine)["title"] == "行き詰まりの後"
    (entry,) = feed(api.client, since)
    assert (entry["action"], entry["entity"], entry["entity_id"]) == ("update", "initiative", 1)
    messages = [r.getMessage() for r in caplog.records if r.name == "app.web.faults"]
    assert len(messages) == 1 and "deadlock (SQLSTATE 40P01)" in messages[0], messages


def _raised_from(cause: Exception) -> Exception:
    try:
        raise RuntimeError("while writing") from cause
    except RuntimeError as error:
        return error


def _raised_while_handling(first: Exception) -> Exception:
    try:
        try:
            raise first
        except OperationalError:
            raise _connection_lost() from None
    except OperationalError as error:
        return error


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_serialization_failure(), True),
        (_deadlock(), True),
        (_sqlite_busy(), True),
        (_connection_lost(), False),
        (OperationalError("COMMIT", None, sqlite3.OperationalError("disk I/O error")), False),
        (ValueError("not the database"), False),
        (_raised_from(_deadlock()), True),  # wrapped by code on the way out
        (_raised_while_handling(_deadlock()), False),  # cleaning up failed: not a deadlock
        (ExceptionGroup("task group", [_deadlock(), _sqlite_busy()]), True),
        (ExceptionGroup("task group", [_deadlock(), ValueError("x")]), False),
    ],
)
def test_which_errors_are_worth_running_again(error: Exception, transient: bool) -> None:
    assert (transient_reason(error) is not None) is transient
