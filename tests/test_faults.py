"""A database outage and a full disk, met as a client meets them (issue #15, items 2 and 3):
a short problem+json with Retry-After, never a 500 or a hung request, nothing partly
written, and the same request succeeding once the cause is gone."""

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url
from sqlmodel import Session

from app.auth.tokens import Role, create_token
from app.config import Settings
from app.main import create_app
from app.models import changes, evaluations, initiatives
from app.web.faults import READ_ONLY, STORAGE_FULL, UNAVAILABLE, classify
from tests.conftest import TEST_DATABASE_URL, wait_until_ready
from tests.helpers import Snapshot, child_env, free_port, snapshot

API = "/api/v1"
PROBLEM_JSON = "application/problem+json"


def _snapshot(url: str) -> Snapshot:
    """The rows of the tables a bulk upload writes (a database of its own: the app's is closed)."""
    engine = create_engine(url)
    try:
        return snapshot(engine, (initiatives, evaluations, changes))
    finally:
        engine.dispose()


# --- a full disk ----------------------------------------------------------------------------


@pytest.mark.only_on("sqlite")
def test_a_full_disk_is_507_writes_nothing_and_the_write_succeeds_once_space_is_back(
    fresh_url: str,
) -> None:
    """SQLite's max_page_count stands in for a full disk: the file may not grow."""
    engine = create_engine(fresh_url)
    with engine.connect() as connection:
        pages = int(connection.exec_driver_sql("PRAGMA page_count").scalar() or 0)
    with Session(engine) as session:
        token = create_token(session, name="editor", role=Role.editor)
    engine.dispose()
    body = "取組番号,年度,評価,実績\r\n" + "".join(
        f"{code},R7,達成,{'窓口で運用を開始した。' * 40}\r\n"
        for code in ("R7-1", "R7-10", "R7-11", "R7-14", "R7-18")
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    before = _snapshot(fresh_url)

    full = create_app(Settings(database_url=fresh_url, sqlite_max_page_count=pages))
    with TestClient(full) as client:
        answer = client.post(f"{API}/bulk/evaluations", content=body.encode(), headers=headers)
        assert answer.status_code == 507, answer.text
        assert answer.headers["content-type"] == PROBLEM_JSON
        problem = answer.json()
        assert problem["type"].endswith(":storage-full")
        assert "disk is full" in problem["detail"]
        assert client.get(f"{API}/plans/1").status_code == 200, "reads go on"
    full.state.engine.dispose()
    assert _snapshot(fresh_url) == before, "nothing partly written"

    roomy = create_app(Settings(database_url=fresh_url))
    with TestClient(roomy) as client:
        again = client.post(f"{API}/bulk/evaluations", content=body.encode(), headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["created"] == 5
    roomy.state.engine.dispose()


def test_the_causes_are_told_apart() -> None:
    import sqlite3

    import psycopg
    import psycopg.errors
    from sqlalchemy.exc import OperationalError

    from app.readpool import PoolTimeout

    full = sqlite3.OperationalError("database or disk is full")
    assert classify(OperationalError("INSERT", {}, full)) is STORAGE_FULL
    assert classify(PoolTimeout("couldn't get a connection after 3.00 sec")) is UNAVAILABLE
    assert classify(psycopg.OperationalError("connection refused")) is UNAVAILABLE
    assert classify(ValueError("not a database error")) is None
    disk_full = psycopg.errors.DiskFull("could not extend file: No space left on device")
    assert classify(OperationalError("INSERT", {}, disk_full)) is STORAGE_FULL
    read_only = psycopg.errors.ReadOnlySqlTransaction("cannot execute UPDATE")
    assert classify(OperationalError("UPDATE", {}, read_only)) is READ_ONLY
    locked = sqlite3.OperationalError("database is locked")
    assert classify(OperationalError("UPDATE", {}, locked)) is None  # app/web/faults.py's


@pytest.mark.only_on("postgresql")
def test_a_read_only_database_is_503_and_the_write_succeeds_once_it_takes_writes(
    fresh_url: str,
) -> None:
    """PostgreSQL made read-only (as a replica promoted late, or an operator's lock) refuses
    writes with SQLSTATE 25006: a 503 naming it, nothing written, reads going on."""
    engine = create_engine(fresh_url)
    with Session(engine) as session:
        token = create_token(session, name="editor", role=Role.editor)
    engine.dispose()
    name = make_url(fresh_url).database
    admin = create_engine(
        make_url(fresh_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    headers = {"Authorization": f"Bearer {token}"}
    write = {"philosophy": "読み取り専用の間に書こうとした"}

    def set_read_only(on: bool) -> None:
        with admin.connect() as connection:
            value = "on" if on else "off"
            connection.exec_driver_sql(
                f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}'
            )

    set_read_only(True)
    try:
        application = create_app(Settings(database_url=fresh_url))
        with TestClient(application) as client:
            refused = client.patch(f"{API}/plans/1", json=write, headers=headers)
            assert refused.status_code == 503, refused.text
            assert refused.json()["type"].endswith(":database-read-only")
            assert refused.headers["retry-after"].isdigit()
            assert client.get(f"{API}/plans/1").json()["philosophy"] != write["philosophy"]
        application.state.engine.dispose()
    finally:
        set_read_only(False)
    application = create_app(Settings(database_url=fresh_url))
    with TestClient(application) as client:
        written = client.patch(f"{API}/plans/1", json=write, headers=headers)
        assert written.status_code == 200, written.text
    application.state.engine.dispose()
    admin.dispose()


# --- a database outage, through a TCP proxy the test controls --------------------------------


class Proxy:
    """A TCP proxy in front of PostgreSQL that the test can cut, silence and restore. Cut, it
    closes every connection it carries and every new one at once, as a database that went
    away. Silenced, it keeps every connection open and takes what is sent, but passes nothing
    on either way, as a frozen server or a hung pooler would."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = False
        self.silent = False
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut:
                client.close()
                continue
            if self.silent:
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _swallow(self, client: socket.socket) -> None:
        with self.lock:
            self.open.append(client)
        try:
            while client.recv(65536):
                pass
        except OSError:
            pass

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.silent:
                    target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    def sever(self) -> None:
        self.cut = True
        with self.lock:
            connections, self.open = self.open, []
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def silence(self) -> None:
        self.silent = True

    def restore(self) -> None:
        self.cut = self.silent = False

    def close(self) -> None:
        self.sever()
        self.listener.close()


@pytest.fixture
def outage(fresh_url: str, tmp_path: Path) -> Iterator[tuple[str, str, Proxy]]:
    """`serve` (two workers) on PostgreSQL through the proxy, with nothing kept, so every
    read reaches the database; its base URL, a token, and the proxy."""
    url = make_url(fresh_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    engine = create_engine(fresh_url)
    with Session(engine) as session:
        token = create_token(session, name="outage", role=Role.editor)
    engine.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = child_env()
    env |= {
        "DATABASE_URL": through,
        "PORT": str(port),
        "ANSWER_CACHE_BYTES": "0",
        "STATS_CACHE_SIZE": "0",
        "DB_CONNECT_TIMEOUT": "1",
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
            yield base, token, proxy
        finally:
            server.terminate()
            server.wait(timeout=60)
            proxy.close()


def _requests(client: httpx.Client, token: str, n: int) -> list[httpx.Response]:
    """A mix of what clients do: uncached reads (sync and async paths), a statistic, a write."""
    answers = []
    for i in range(n):
        answers += [
            client.get(f"{API}/initiatives/1"),  # the async read path
            client.get(f"{API}/plans/1"),  # the sync read path
            client.get(f"{API}/stats/achievement", params={"fiscal_year": "R6"}),
            client.patch(
                f"{API}/plans/1",
                json={"philosophy": f"市民とともに {i}"},
                headers={"Authorization": f"Bearer {token}"},
            ),
        ]
    return answers


@pytest.mark.slow
@pytest.mark.only_on("postgresql")
def test_an_outage_is_a_quick_503_and_the_first_requests_after_it_succeed(
    outage: tuple[str, str, Proxy],
) -> None:
    base, token, proxy = outage
    assert TEST_DATABASE_URL
    with httpx.Client(base_url=base, timeout=30) as client:
        assert all(answer.status_code in (200,) for answer in _requests(client, token, 2))

        proxy.sever()
        started = time.monotonic()
        during: list[httpx.Response] = []
        while time.monotonic() - started < 5:
            during += _requests(client, token, 1)
            ready = client.get("/readyz")
            assert ready.status_code == 503, "/readyz tells the truth during the outage"
        statuses = {answer.status_code for answer in during}
        assert statuses == {503}, statuses
        for answer in during:
            assert answer.headers["content-type"] == PROBLEM_JSON
            assert answer.headers["retry-after"].isdigit()
            assert answer.json()["type"].endswith(":database-unavailable")
        slowest = max(answer.elapsed.total_seconds() for answer in during)
        assert slowest < 3, f"an outage answers within seconds, not {slowest:.1f} s"

        proxy.restore()
        time.sleep(0.5)
        after = _requests(client, token, 5)
        assert [a.status_code for a in after] == [200] * len(after), [
            (a.request.url.path, a.status_code, a.text[:100]) for a in after if a.status_code != 200
        ]
        assert client.get("/readyz").status_code == 200


@pytest.mark.slow
@pytest.mark.only_on("postgresql")
def test_connections_an_outage_killed_while_idle_serve_no_errors_after_it(
    outage: tuple[str, str, Proxy],
) -> None:
    """An outage no request saw: every pooled connection dies idle, and the first reads after
    the database is back must still succeed (no dead connection may answer them)."""
    base, _token, proxy = outage
    reads = [f"{API}/initiatives/1", f"{API}/initiatives?limit=5", f"{API}/plans/1"]
    with httpx.Client(base_url=base, timeout=30) as client:
        # Concurrent reads, so that each worker's pools hold several connections.
        with ThreadPoolExecutor(16) as pool:
            warm = list(pool.map(lambda i: client.get(reads[i % 2]), range(96)))
        assert {answer.status_code for answer in warm} == {200}

        proxy.sever()
        proxy.restore()
        time.sleep(0.5)
        after = [client.get(path) for _ in range(10) for path in reads]
        assert [a.status_code for a in after] == [200] * len(after), [
            (a.request.url.path, a.status_code, a.text[:100]) for a in after if a.status_code != 200
        ]


@pytest.mark.only_on("postgresql")
def test_a_read_that_finds_every_connection_busy_is_a_quick_503(fresh_url: str) -> None:
    """Reads wait for a connection no longer than DB_CONNECT_TIMEOUT: with both connections
    held by reads that wait for a lock, a third read answers 503 in about a second, and the
    two answer once the lock is gone."""
    application = create_app(
        Settings(database_url=fresh_url, answer_cache_bytes=0, db_pool_size=2, db_connect_timeout=1)
    )
    plain = make_url(fresh_url).set(drivername="postgresql").render_as_string(False)

    async def scenario() -> tuple[httpx.Response, float, list[httpx.Response]]:
        transport = httpx.ASGITransport(app=application)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
            await psycopg.AsyncConnection.connect(plain) as locker,
        ):
            await locker.execute("LOCK TABLE initiatives IN ACCESS EXCLUSIVE MODE")
            held = [asyncio.create_task(client.get(f"{API}/initiatives/{i}")) for i in (1, 2)]
            await asyncio.sleep(0.5)  # both have a connection, and wait for the lock
            started = time.monotonic()
            waiting = await client.get(f"{API}/initiatives/3")
            elapsed = time.monotonic() - started
            await locker.rollback()
            answers = await asyncio.gather(*held)
            await application.state.reader.close()
        return waiting, elapsed, answers

    try:
        waiting, elapsed, answers = asyncio.run(scenario())
    finally:
        application.state.engine.dispose()
    assert waiting.status_code == 503
    assert waiting.json()["type"].endswith(":database-unavailable")
    assert waiting.headers["retry-after"].isdigit()
    assert 0.5 < elapsed < 2.5, elapsed
    assert [answer.status_code for answer in answers] == [200, 200]


def _behind_proxy(fresh_url: str) -> tuple[Proxy, FastAPI]:
    """An app on fresh_url's database through a Proxy, with nothing kept and short bounds: a
    connect timeout of 1 s, a statement timeout of 1 s, so an answer timeout of 2 s."""
    url = make_url(fresh_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = Settings(
        database_url=through,
        answer_cache_bytes=0,
        db_connect_timeout=1,
        db_statement_timeout_ms=1000,
    )
    return proxy, create_app(settings)


@pytest.mark.only_on("postgresql")
def test_a_database_gone_silent_is_a_503_not_a_hung_request(fresh_url: str) -> None:
    """A connection that stays open but is never answered (a frozen server, a hung pooler):
    no TCP timeout fires, so the service must give up on its own. A read answers 503 once
    the server would have cancelled the statement itself (DB_STATEMENT_TIMEOUT_MS, plus
    DB_CONNECT_TIMEOUT), the probes within DB_CONNECT_TIMEOUT, and all is well once the
    database speaks again."""
    proxy, application = _behind_proxy(fresh_url)

    async def timed(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        answer = await client.get(path)
        return answer, time.monotonic() - started

    async def scenario() -> dict[str, tuple[httpx.Response, float]]:
        transport = httpx.ASGITransport(app=application)
        seen = {}
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            seen["before"] = await timed(client, f"{API}/initiatives/1")
            proxy.silence()
            # Reads on the connection the first one left in the pool, and on new ones.
            silenced = [timed(client, f"{API}/initiatives/{i}") for i in (2, 3, 4)]
            for i, answer in enumerate(await asyncio.gather(*silenced)):
                seen[f"silent {i}"] = answer
            seen["readyz"] = await timed(client, "/readyz")
            seen["metrics"] = await timed(client, "/metrics")
            proxy.restore()
            seen["after"] = await timed(client, f"{API}/initiatives/2")
            seen["readyz after"] = await timed(client, "/readyz")
        return seen

    seen: dict[str, tuple[httpx.Response, float]] = {}
    # In a thread of its own: should a read hang, the test fails rather than the run.
    running = threading.Thread(target=lambda: seen.update(asyncio.run(scenario())), daemon=True)
    running.start()
    running.join(60)
    hung = running.is_alive()
    proxy.close()
    application.state.engine.dispose()
    assert not hung, "a request hung on the silent database"
    assert seen["before"][0].status_code == 200
    for name in ("silent 0", "silent 1", "silent 2", "readyz"):
        answer, elapsed = seen[name]
        assert answer.status_code == 503, (name, answer.text)
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert answer.headers["retry-after"].isdigit(), name
        limit = 2 if name == "readyz" else 3  # the connect timeout; the answer timeout, 2 s
        assert elapsed < limit + 1.5, (name, elapsed)
    assert seen["silent 0"][0].json()["type"].endswith(":database-unavailable")
    metrics, elapsed = seen["metrics"]
    assert metrics.status_code == 200 and elapsed < 3.5, elapsed
    assert "plan_progress_database_up 0.0" in metrics.text
    assert seen["after"][0].status_code == 200, seen["after"][0].text
    assert seen["readyz after"][0].status_code == 200


@pytest.mark.only_on("postgresql")
def test_a_write_to_a_database_gone_silent_is_a_503_not_a_hung_request(fresh_url: str) -> None:
    """Writes go through SQLAlchemy's sync engine, which has no deadline of its own: on a
    silent connection a write waited until the database spoke again, holding a worker thread.
    Each wait is now bounded as a read's is (DB_STATEMENT_TIMEOUT_MS + DB_CONNECT_TIMEOUT):
    503, nothing written, and the same writes succeed once the database answers again."""
    engine = create_engine(fresh_url)
    with Session(engine) as session:
        token = create_token(session, name="editor", role=Role.editor)
    engine.dispose()
    proxy, application = _behind_proxy(fresh_url)
    editor = {"Authorization": f"Bearer {token}"}
    upload = {"items": [{"code": "R7-1", "fiscal_year": 2025, "status": "achieved"}]}
    seen: dict[str, tuple[httpx.Response, float]] = {}

    def timed(name: str, client: TestClient, method: str, path: str, **sent: Any) -> None:
        started = time.monotonic()
        seen[name] = client.request(method, f"{API}{path}", **sent), time.monotonic() - started

    def scenario() -> None:
        with TestClient(application) as client:
            timed("before", client, "PATCH", "/plans/1", json={"philosophy": "前"}, headers=editor)
            proxy.silence()
            # On the connection the first write left in the pool, then on a new one.
            timed("patch", client, "PATCH", "/plans/1", json={"philosophy": "後"}, headers=editor)
            timed("bulk", client, "POST", "/bulk/evaluations", json=upload, headers=editor)
            proxy.restore()
            timed("read back", client, "GET", "/plans/1")
            timed("again", client, "PATCH", "/plans/1", json={"philosophy": "後"}, headers=editor)
            timed("bulk again", client, "POST", "/bulk/evaluations", json=upload, headers=editor)

    # In a thread of its own: should a write hang, the test fails rather than the run.
    running = threading.Thread(target=scenario, daemon=True)
    running.start()
    running.join(60)
    hung = running.is_alive()
    proxy.close()
    application.state.engine.dispose()
    assert not hung, f"a write hung on the silent database (answered: {sorted(seen)})"
    assert seen["before"][0].status_code == 200, seen["before"][0].text
    for name in ("patch", "bulk"):
        answer, elapsed = seen[name]
        assert answer.status_code == 503, (name, answer.text)
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert answer.json()["type"].endswith(":database-unavailable"), answer.text
        assert answer.headers["retry-after"].isdigit(), name
        # The answer timeout (2 s) per wait, a connect timeout (1 s) for a new connection.
        assert elapsed < 3 + 1.5, (name, elapsed)
    assert seen["read back"][0].json()["philosophy"] == "前"  # the silenced write: not made
    assert seen["again"][0].status_code == 200, seen["again"][0].text
    assert seen["again"][0].json()["philosophy"] == "後"
    assert seen["bulk again"][0].json()["created"] == 1, seen["bulk again"][0].text


@pytest.mark.only_on("postgresql")
def test_a_write_that_waits_past_the_statement_timeout_is_a_503_and_changes_nothing(
    fresh_url: str,
) -> None:
    """A write waiting for another's lock longer than DB_STATEMENT_TIMEOUT_MS is cancelled by
    PostgreSQL (57014): busy, not broken. 503 with Retry-After; nothing changed; the same
    write succeeds once the lock is gone."""
    engine = create_engine(fresh_url)
    with Session(engine) as session:
        token = create_token(session, name="editor", role=Role.editor)
    engine.dispose()
    application = create_app(Settings(database_url=fresh_url, db_statement_timeout_ms=500))
    plain = make_url(fresh_url).set(drivername="postgresql").render_as_string(False)
    editor = {"Authorization": f"Bearer {token}"}
    write = {"json": {"philosophy": "市民とともに"}, "headers": editor}
    with TestClient(application) as client, psycopg.connect(plain) as locker:
        before = client.get(f"{API}/plans/1").json()
        # Every write takes the data version's row first (app/changes/recorder.py).
        locker.execute("SELECT * FROM data_version FOR UPDATE")
        waited = client.patch(f"{API}/plans/1", **write)
        locker.rollback()
        unchanged = client.get(f"{API}/plans/1").json()
        again = client.patch(f"{API}/plans/1", **write)
    application.state.engine.dispose()
    assert waited.status_code == 503, waited.text
    assert waited.headers["content-type"] == PROBLEM_JSON
    assert waited.headers["retry-after"].isdigit()
    assert waited.json()["type"].endswith(":database-timeout")
    assert unchanged == before
    assert again.status_code == 200, again.text
    assert again.json()["philosophy"] == "市民とともに"


def test_an_unexpected_error_is_a_500_problem_with_every_header_and_no_trace(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug answers 500 problem+json, from outside every middleware, yet with the headers
    they add to every answer, and without a line of the stack."""
    from app.initiatives import service

    async def broken(**_: Any) -> Any:
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(service, "read_initiative", broken)
    application = create_app(Settings(database_url=database_url, answer_cache_bytes=0))
    with TestClient(application, raise_server_exceptions=False) as client:
        answer = client.get("/api/v1/initiatives/1")
    application.state.engine.dispose()
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 500 and answer.json()["type"] == "about:blank"
    assert "secret detail" not in answer.text and "Traceback" not in answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
