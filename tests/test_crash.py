"""A crash mid-upload costs nothing but the resend (issue #15, item 1).

The workers are killed with SIGKILL while a 10,000-row upload with an Idempotency-Key is
being written: nothing of it stays, and after a restart the resend the README promises, with
the same key and body, is written exactly once and answered; a second resend replays that
answer. Before the kill, a resend is 409 (API.md: the first is still running); the claim that
says so dies with the worker. (Once the key was claimed by a row of its own, so after a crash
every resend answered 409 "still running" for 24 hours.)

Two servers on one database are two processes that share nothing but it: a resend to the
other server while the first runs is 409 too.
"""

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx
import pytest
from sqlalchemy import create_engine, func, make_url, select, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.auth.tokens import Role, create_token
from app.bulk import idempotency, inflight
from app.config import Settings
from app.db import begin_write, make_engine
from app.models import changes, data_version, idempotency_keys, initiatives
from tests.conftest import wait_until_ready
from tests.helpers import child_env, free_port

ROWS = 10_000
KEY = "r7-initiatives-crash-1"


def _writing(url: str) -> bool:
    """Whether a writer holds the write lock now (the upload is inside its transaction)."""
    if url.startswith("sqlite"):
        probe = sqlite3.connect(make_url(url).database or "", timeout=0)
        probe.isolation_level = None
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
        return False
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT version FROM data_version FOR UPDATE NOWAIT"))
    except OperationalError:  # 55P03 lock_not_available
        return True
    finally:
        engine.dispose()
    return False


def _claim_name(body: bytes) -> str:
    """The name an upload of body with KEY claims (app/bulk/inflight.py), by kikaku-ka's
    token, to /api/v1/bulk/initiatives with no query."""
    key = idempotency.key_of(
        KEY, "kikaku-ka", "/api/v1/bulk/initiatives", "", body, "application/json"
    )
    return f"{key.scope}\n{key.key}"


def _claimed(url: str, name: str) -> bool:
    """Whether a server holds the claim on name now: on PostgreSQL its advisory lock, on
    SQLite its byte of the lock file (this test is another process, so its own try fails
    while the server holds it)."""
    number = inflight.number_of(name)
    if url.startswith("sqlite"):
        path = os.path.abspath(make_url(url).database or "") + "-uploads.lock"
        if not os.path.exists(path):
            return False
        descriptor = os.open(path, os.O_RDWR)
        try:
            fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, number)
        except OSError:
            return True
        finally:
            os.close(descriptor)  # lets go of the byte if this process took it
        return False
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return bool(
                connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                        " AND ((classid::bigint << 32) | objid::bigint) = :number"
                    ),
                    {"number": number},
                )
            )
    finally:
        engine.dispose()


def _counts(url: str) -> tuple[int, int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return tuple(  # type: ignore[return-value]
                int(connection.scalar(select(func.count()).select_from(table)) or 0)
                for table in (initiatives, changes, idempotency_keys)
            )
    finally:
        engine.dispose()


def _upload(url: str, title: str, **fields: str) -> tuple[bytes, dict[str, str]]:
    """ROWS new initiatives (titles numbered after title) and the headers of kikaku-ka's
    upload of them with KEY, an editor's token made for it in url's database."""
    engine = create_engine(url)
    with Session(engine) as session:
        token = create_token(session, name="kikaku-ka", role=Role.editor)
    engine.dispose()
    items = [
        {
            "code": f"R7-{1000 + n}",
            "title": f"{title} {n}",
            **fields,
            "policy_number": n % 3 + 1,
            "measure_number": n // 3 % 3 + 1,
        }
        for n in range(ROWS)
    ]
    body = json.dumps({"items": items}, ensure_ascii=False).encode()
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Idempotency-Key": KEY,
    }
    return body, headers


def _serve(
    url: str, port: int, cwd: Path, log: IO[bytes], workers: int = 2
) -> "subprocess.Popen[bytes]":
    env = child_env()
    env |= {"DATABASE_URL": url, "PORT": str(port)}
    return subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--workers", str(workers)],
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the kill reaches every worker
    )


@pytest.mark.slow
def test_a_resend_after_kill_9_mid_upload_is_written_exactly_once(
    fresh_url: str, tmp_path: Path
) -> None:
    body, headers = _upload(fresh_url, "再送で一度だけ書かれる取組", description="説明" * 200)
    before = _counts(fresh_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/api/v1/bulk/initiatives"
    log = tmp_path / "serve.log"
    outcome: dict[str, object] = {}

    def upload() -> None:
        try:
            outcome["answer"] = httpx.post(url, content=body, headers=headers, timeout=120)
        except httpx.TransportError as error:
            outcome["error"] = error

    with log.open("ab") as output:
        server = _serve(fresh_url, port, tmp_path, output)
        try:
            wait_until_ready(server, base, log, 60)
            sender = threading.Thread(target=upload)
            sender.start()
            deadline = time.monotonic() + 60
            while not _writing(fresh_url):
                assert "answer" not in outcome, "the upload ended before it was seen writing"
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.02)
            time.sleep(0.1)  # well inside the writes
            # A resend now, whichever worker takes it, is told the first still runs.
            for _ in range(4):
                with httpx.Client(timeout=30) as client:  # a new connection each time
                    running = client.post(url, content=body, headers=headers)
                assert running.status_code == 409, running.text[:500]
                assert running.json()["type"].endswith(":idempotency-key-in-use")
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
            sender.join(timeout=30)
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)

        assert "error" in outcome, f"the upload was answered before the kill: {outcome}"
        assert _counts(fresh_url) == before  # nothing of it stayed, its key neither
        # ... and neither did its claim on the key: the resend below is not a 409.

        server = _serve(fresh_url, port, tmp_path, output)
        try:
            wait_until_ready(server, base, log, 60)
            resent = httpx.post(url, content=body, headers=headers, timeout=120)
            again = httpx.post(url, content=body, headers=headers, timeout=120)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)

    assert resent.status_code == 200, resent.text[:500]
    assert resent.json()["created"] == ROWS
    assert again.status_code == 200
    assert again.content == resent.content  # replayed, not run again ("unchanged")
    initiatives_before, changes_before, keys_before = before
    assert _counts(fresh_url) == (initiatives_before + ROWS, changes_before + ROWS, keys_before + 1)
    if fresh_url.startswith("sqlite"):
        database = sqlite3.connect(make_url(fresh_url).database or "")
        try:
            assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            database.close()


@pytest.mark.slow
def test_a_resend_to_another_server_while_the_first_runs_is_409(
    fresh_url: str, tmp_path: Path
) -> None:
    body, headers = _upload(fresh_url, "二つのサーバーに送られた取組")
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    urls = [f"{base}/api/v1/bulk/initiatives" for base in bases]
    log = tmp_path / "serve.log"
    outcome: dict[str, httpx.Response] = {}
    before = _counts(fresh_url)

    def upload() -> None:
        outcome["first"] = httpx.post(urls[0], content=body, headers=headers, timeout=120)

    # Another writer holds the write lock, so the first upload stays running until it lets go.
    holder = make_engine(Settings(database_url=fresh_url))  # BEGIN IMMEDIATE on SQLite
    with log.open("ab") as output:
        servers = [_serve(fresh_url, port, tmp_path, output, workers=1) for port in ports]
        try:
            for server, base in zip(servers, bases, strict=True):
                wait_until_ready(server, base, log, 60)
            with Session(holder) as session:
                begin_write(session)
                session.execute(select(data_version.c.version).with_for_update())
                sender = threading.Thread(target=upload)
                sender.start()
                # Parsed, its key claimed, waiting for the lock (however slow the machine).
                deadline = time.monotonic() + 60
                while not _claimed(fresh_url, _claim_name(body)):
                    assert "first" not in outcome, outcome
                    assert time.monotonic() < deadline, log.read_text()[-2000:]
                    time.sleep(0.02)
                resent = httpx.post(urls[1], content=body, headers=headers, timeout=30)
                session.rollback()
            sender.join(timeout=120)
            replayed = httpx.post(urls[1], content=body, headers=headers, timeout=120)
        finally:
            holder.dispose()
            for server in servers:
                server.send_signal(signal.SIGTERM)
            for server in servers:
                server.wait(timeout=60)

    assert resent.status_code == 409, resent.text[:500]
    assert resent.json()["type"] == "urn:plan-progress:problem:idempotency-key-in-use"
    assert resent.headers["retry-after"] == "1"
    first = outcome["first"]
    assert first.status_code == 200, first.text[:500]
    assert first.json()["created"] == ROWS
    assert replayed.status_code == 200
    assert replayed.content == first.content  # the other server replays the first's answer
    initiatives_before, changes_before, keys_before = before
    assert _counts(fresh_url) == (initiatives_before + ROWS, changes_before + ROWS, keys_before + 1)
