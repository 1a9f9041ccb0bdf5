"""The command line as a script or a person uses it: migrate, seed, and serve."""

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from app.config import Settings
from tests.conftest import TEST_DATABASE_URL
from tests.helpers import child_env, free_port, run_app

pytestmark = pytest.mark.slow


def test_migrate_then_seed_twice(scratch_url: str, tmp_path: Path) -> None:
    env = child_env(DATABASE_URL=scratch_url)
    migrated = run_app("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "database migrated to" in migrated.stdout

    first = run_app("seed", env=env, cwd=tmp_path)
    second = run_app("seed", env=env, cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "62 rows added, 0 already present" in first.stdout
    assert "0 rows added, 62 already present" in second.stdout


def test_an_unknown_command_fails_with_usage(tmp_path: Path) -> None:
    result = run_app("frobnicate", env=child_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def _wait_until_ready(server: "subprocess.Popen[str]", base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output, _ = server.communicate()
            pytest.fail(f"the server exited early:\n{output}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("the server did not become ready within 60 s")


@pytest.mark.slow
def test_serve_creates_migrates_and_seeds_a_local_sqlite_database(tmp_path: Path) -> None:
    """What the README's first command does, on a fresh working directory."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with subprocess.Popen(
        [sys.executable, "-m", "app", "serve"],
        env=child_env(PORT=str(port)),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as server:
        try:
            _wait_until_ready(server, base)
            response = httpx.get(f"{base}/api/v1/initiatives", params={"fiscal_year": "令和６年度"})
            docs = httpx.get(f"{base}/docs")
        finally:
            server.terminate()
            output, _ = server.communicate(timeout=30)
    assert "database migrated to" in output
    assert "62 rows added" in output
    assert (tmp_path / "plan_progress.db").exists()
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 9
    assert {item["fiscal_year_label"] for item in body["items"]} == {"令和6年度"}
    assert docs.status_code == 200


# --- what a newcomer tripped on ---------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgres://", "postgresql://"])
def test_a_hosting_platforms_postgres_url_is_read_as_psycopg(scheme: str) -> None:
    settings = Settings(database_url=f"{scheme}planner:pw@db.example:5432/plans")
    assert settings.database_url == "postgresql+psycopg://planner:pw@db.example:5432/plans"


@pytest.mark.only_on("postgresql")
def test_migrate_takes_a_postgres_url_as_platforms_give_it(
    scratch_url: str, tmp_path: Path
) -> None:
    plain = scratch_url.replace("postgresql+psycopg://", "postgres://", 1)
    migrated = run_app("migrate", env=child_env(DATABASE_URL=plain), cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "database migrated to" in migrated.stdout


@pytest.mark.only_on("postgresql")
def test_a_missing_database_is_one_line_naming_createdb(tmp_path: Path) -> None:
    assert TEST_DATABASE_URL
    missing = make_url(TEST_DATABASE_URL).set(database="no_such_plans_db")
    url = missing.render_as_string(hide_password=False)
    for command in (["migrate"], ["serve"], ["tokens", "list"]):
        result = run_app(*command, env=child_env(DATABASE_URL=url), cwd=tmp_path)
        assert result.returncode == 1, command
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert 'the database "no_such_plans_db" does not exist' in lines[0]
        assert "createdb -h" in lines[0] and lines[0].endswith(" no_such_plans_db")
