"""Slow and huge requests are bounded (issue #15, item 6), met over a real socket as a slow
or hostile client meets the server: a body that stops arriving, a write whose token is
checked before its body is read, oversized headers, and a token in a query string."""

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlmodel import Session

from app.auth.tokens import Role, create_token
from tests.conftest import Api, wait_until_ready
from tests.helpers import child_env, free_port

API = "/api/v1"


@pytest.fixture
def server(fresh_url: str, tmp_path: Path) -> Iterator[tuple[int, str, Path]]:
    """`serve` on a database of its own with BODY_TIMEOUT=1; its port, a token, its log."""
    engine = create_engine(fresh_url)
    with Session(engine) as session:
        token = create_token(session, name="slow-client", role=Role.editor)
    engine.dispose()
    port = free_port()
    log = tmp_path / "serve.log"
    env = child_env()
    env |= {"DATABASE_URL": fresh_url, "PORT": str(port), "BODY_TIMEOUT": "1", "LOG_FORMAT": "json"}
    with (
        log.open("w") as output,
        subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        ) as process,
    ):
        try:
            wait_until_ready(process, f"http://127.0.0.1:{port}", log, 60)
            yield port, token, log
        finally:
            process.terminate()
            process.wait(timeout=30)


def _exchange(port: int, head: bytes, body: bytes = b"", wait: float = 5) -> tuple[bytes, float]:
    """Send a request's head (and part of a body), then read what the server answers until
    it closes; return the answer and how long its first byte took."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as connection:
        started = time.monotonic()
        connection.sendall(head + body)
        answer = b""
        first = wait
        try:
            while chunk := connection.recv(65536):
                if not answer:
                    first = time.monotonic() - started
                answer += chunk
        except TimeoutError:
            pass
        return answer, first


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _body(answer: bytes) -> dict[str, object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    result: dict[str, object] = json.loads(body)
    return result


@pytest.mark.slow
def test_a_body_that_stops_arriving_answers_408_and_closes(
    server: tuple[int, str, Path],
) -> None:
    port, token, _ = server
    head = (
        f"PATCH {API}/initiatives/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()
    answer, took = _exchange(port, head, b'{"title": "', wait=10)
    assert _status(answer) == 408, answer
    assert b"application/problem+json" in answer
    assert "stopped arriving" in str(_body(answer)["detail"])
    assert 0.9 < took < 8, "the server waited BODY_TIMEOUT for the body, then gave up"
    assert b"connection: close" in answer.lower()


@pytest.mark.slow
def test_the_token_is_checked_before_the_body_is_read(server: tuple[int, str, Path]) -> None:
    """Without a token, a write is refused on its head alone: the server does not wait for
    a body (here, one that never comes)."""
    port, _, _ = server
    head = (
        f"POST {API}/bulk/evaluations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    answer, took = _exchange(port, head, wait=5)
    assert _status(answer) == 401, answer
    assert took < 0.9, "answered before the body timeout could have passed"
    assert b"connection: close" in answer.lower()


@pytest.mark.slow
def test_a_megabyte_of_headers_is_431_and_a_query_token_never_logged(
    server: tuple[int, str, Path],
) -> None:
    port, token, log = server
    huge = "x" * (1024 * 1024)
    head = f"GET {API}/plans HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {huge}\r\n\r\n".encode()
    answer, _ = _exchange(port, head)
    assert _status(answer) == 431, answer[:200]
    assert "headers" in str(_body(answer)["detail"])

    query = f"GET {API}/plans/1?access_token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    answer, _ = _exchange(port, (query + "Connection: close\r\n\r\n").encode())
    assert _status(answer) in (200, 422)  # never a way in: reads need no token
    write = f"PATCH {API}/plans/1?access_token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    answer, _ = _exchange(
        port, (write + "Content-Length: 2\r\nConnection: close\r\n\r\n{}").encode()
    )
    assert _status(answer) == 401, "a token in the query string opens nothing"
    time.sleep(0.3)
    assert token not in log.read_text()


def test_headers_over_the_limit_are_431_in_process_too(api: Api) -> None:
    answer = api.client.get(f"{API}/plans", headers={"X-Padding": "x" * 40_000})
    assert answer.status_code == 431
    assert answer.headers["content-type"] == "application/problem+json"
    assert api.client.get(f"{API}/plans", headers={"X-Padding": "x" * 20_000}).status_code == 200


def test_max_header_bytes_is_a_setting(fresh_url: str) -> None:
    from app.config import Settings
    from app.main import create_app

    application = create_app(Settings(database_url=fresh_url, max_header_bytes=2048))
    with TestClient(application) as client:
        assert client.get(f"{API}/plans", headers={"X-Padding": "x" * 3000}).status_code == 431
    application.state.engine.dispose()
