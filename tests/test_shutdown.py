"""A deployment stops the service with SIGTERM (docker compose stop, a rolling update): the
requests in flight finish and get their answers, new ones are no longer taken, and the
process ends within SHUTDOWN_TIMEOUT (issue #14, item 6)."""

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlmodel import Session

from app.auth.tokens import Role, create_token
from app.models import initiatives
from tests.conftest import wait_until_ready
from tests.helpers import child_env, free_port

ROWS = 10_000


@pytest.mark.slow
def test_sigterm_lets_an_upload_in_flight_finish(fresh_url: str, tmp_path: Path) -> None:
    engine = create_engine(fresh_url)
    with Session(engine) as session:
        token = create_token(session, name="deploy", role=Role.editor)
        before = int(session.scalar(select(func.count()).select_from(initiatives)) or 0)
    items = [
        {
            "code": f"R7-{1000 + n}",
            "title": f"停止中も書き終える取組 {n}",
            "description": "説明" * 200,
            "policy_number": n % 3 + 1,
            "measure_number": n // 3 % 3 + 1,
        }
        for n in range(ROWS)
    ]
    body = json.dumps({"items": items}, ensure_ascii=False).encode()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = child_env()
    env |= {"DATABASE_URL": fresh_url, "PORT": str(port), "SHUTDOWN_TIMEOUT": "60"}
    answer: dict[str, httpx.Response] = {}
    sent_at: dict[str, float] = {}

    def upload() -> None:
        answer["upload"] = httpx.post(
            f"{base}/api/v1/bulk/initiatives",
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=120,
        )
        sent_at["answered"] = time.monotonic()

    with (
        log.open("w") as output,
        subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        ) as server,
    ):
        wait_until_ready(server, base, log, 60)
        worker = threading.Thread(target=upload)
        worker.start()
        time.sleep(0.5)  # the body is in and the rows are being checked and written
        server.send_signal(signal.SIGTERM)
        sent_at["sigterm"] = time.monotonic()
        time.sleep(0.2)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/healthz", timeout=2)  # no longer taking requests
        worker.join(timeout=120)
        code = server.wait(timeout=90)

    assert sent_at["answered"] > sent_at["sigterm"], "the upload was still running at SIGTERM"
    response = answer["upload"]
    assert response.status_code == 200, response.text[:500]
    assert response.json()["created"] == ROWS
    # uvicorn ends by raising the signal it was stopped with again, as process managers expect.
    assert code in (0, -signal.SIGTERM), log.read_text()[-2000:]
    assert "Finished server process" in log.read_text()
    with engine.connect() as connection:
        after = int(connection.scalar(select(func.count()).select_from(initiatives)) or 0)
    engine.dispose()
    assert after == before + ROWS
