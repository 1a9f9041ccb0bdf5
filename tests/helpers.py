"""Helpers the test modules share: one definition each (fixtures live in conftest.py)."""

import os
import re
import socket
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, Table, select

from app.models import metadata

ROOT = Path(__file__).resolve().parent.parent
SEED: dict[str, Any] = tomllib.loads(
    (ROOT / "seed" / "kanazawa-2023-2026.toml").read_text(encoding="utf-8")
)
API = "/api/v1"
PROBLEM = "application/problem+json"
PLAN_SLUG: str = SEED["plan"]["slug"]
SEED_INITIATIVES: dict[str, dict[str, Any]] = {item["code"]: item for item in SEED["initiatives"]}
LABELS = {2023: "令和5年度", 2024: "令和6年度", 2025: "令和7年度", 2026: "令和8年度"}

Item = dict[str, Any]
Snapshot = dict[str, list[tuple[Any, ...]]]


# --- codes ----------------------------------------------------------------------------------


def natural(code: str) -> list[tuple[int, int, str]]:
    """Sort key for codes in natural order: R6-7 before R6-10, R6-* before R7-*."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
        for part in re.split(r"(\d+)", code)
        if part
    ]


def by_code(codes: list[str]) -> list[str]:
    return sorted(codes, key=natural)


# --- HTTP answers ---------------------------------------------------------------------------


def media_type(response: httpx.Response) -> str:
    """The media type of the answer's Content-Type, without its parameters."""
    return str(response.headers.get("content-type", "")).split(";")[0].strip()


def assert_problem(response: httpx.Response, status: int) -> Item:
    """An answer of `status` as application/problem+json that shows nothing of the inside:
    no traceback, no SQL."""
    assert response.status_code == status, response.text
    assert media_type(response) == PROBLEM
    body: Item = response.json()
    assert body["status"] == status
    for key in ("type", "title", "detail"):
        assert isinstance(body[key], str) and body[key], key
    assert "Traceback" not in response.text
    assert "SELECT" not in response.text.upper()
    assert "INSERT" not in response.text.upper()
    return body


def feed(client: httpx.Client, since: int = 0) -> list[Item]:
    """Every change after `since` (GET /changes, page by page): with a TestClient, or an
    httpx.Client whose base_url is a server we started."""
    items: list[Item] = []
    while True:
        response = client.get(f"{API}/changes", params={"since": since, "limit": 500})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if not page["items"]:
            return items
        since = page["next"]


# --- the database ---------------------------------------------------------------------------


def snapshot(engine: Engine, tables: Sequence[Table] = tuple(metadata.sorted_tables)) -> Snapshot:
    """Every row of each table (all of them unless told), in primary-key order, to compare."""
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in tables
        }


# --- processes we start ---------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_app(*args: str, env: dict[str, str], cwd: Path) -> "subprocess.CompletedProcess[str]":
    """`python -m app ARGS` as a person runs it, in cwd with env; its exit and output."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child, without the database URLs of the suite's own
    run (so the child uses only what `extra` gives it), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    return env | extra
