"""Fixtures: a migrated and seeded database (SQLite, or PostgreSQL via TEST_DATABASE_URL).

Run the suite against PostgreSQL with
    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make test
"""

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, make_url, text
from sqlmodel import Session

from app import migrate
from app.auth.tokens import Role, create_token
from app.config import Settings
from app.main import create_app
from app.seed import seed

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
DATABASE = "postgresql" if TEST_DATABASE_URL else "sqlite"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests marked only_on another database than this run's."""
    elsewhere = [
        item
        for item in items
        if (marker := item.get_closest_marker("only_on")) and marker.args[0] != DATABASE
    ]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if item not in elsewhere]


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _migrate_and_seed(url: str) -> None:
    migrate.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as session:
        seed(session)
    engine.dispose()


def _admin_engine() -> Engine:
    assert TEST_DATABASE_URL
    base = make_url(TEST_DATABASE_URL)
    return create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")


def _pg_database(name: str) -> str:
    assert TEST_DATABASE_URL
    return make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database the read-only tests share: migrated to head and seeded once per run."""
    if TEST_DATABASE_URL:
        _reset_postgres(TEST_DATABASE_URL)
        url = TEST_DATABASE_URL
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    _migrate_and_seed(url)
    return url


@pytest.fixture(scope="session")
def template_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated and seeded database that each writing test gets a copy of."""
    if not TEST_DATABASE_URL:
        url = f"sqlite:///{tmp_path_factory.mktemp('template') / 'template.db'}"
        _migrate_and_seed(url)
        yield url
        return
    name = f"{make_url(TEST_DATABASE_URL).database}_template"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    _migrate_and_seed(_pg_database(name))
    yield _pg_database(name)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def fresh_url(template_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own for one test, seeded like the shared one."""
    if not TEST_DATABASE_URL:
        path = tmp_path / "fresh.db"
        shutil.copy(make_url(template_url).database or "", path)
        yield f"sqlite:///{path}"
        return
    name = f"fresh_{uuid.uuid4().hex[:12]}"
    template = make_url(template_url).database
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _pg_database(name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Api:
    """A client on a database of the test's own, with tokens of each role."""

    client: TestClient
    engine: Engine
    editor: dict[str, str]
    admin: dict[str, str]


@pytest.fixture
def api(fresh_url: str) -> Iterator[Api]:
    application = create_app(Settings(database_url=fresh_url))
    engine: Engine = application.state.engine
    with Session(engine) as session:
        editor = create_token(session, name="editor", role=Role.editor)
        admin = create_token(session, name="admin", role=Role.admin)
    with TestClient(application) as client:
        yield Api(
            client=client,
            engine=engine,
            editor={"Authorization": f"Bearer {editor}"},
            admin={"Authorization": f"Bearer {admin}"},
        )
    engine.dispose()


@pytest.fixture
def openapi(api: Api) -> dict[str, Any]:
    """The OpenAPI schema the write side's app serves (tests/test_writes_*.py)."""
    schema: dict[str, Any] = api.client.get("/openapi.json").json()
    return schema


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[FastAPI]:
    application = create_app(Settings(database_url=database_url))
    yield application
    application.state.engine.dispose()


@pytest.fixture(scope="module")
def nothing_kept_app(database_url: str) -> Iterator[FastAPI]:
    """An app that keeps no answer between requests, nor statistics: each answer is computed
    by its route (tests/test_plain_read.py, tests/test_lane.py)."""
    application = create_app(
        Settings(database_url=database_url, answer_cache_bytes=0, stats_cache_size=0)
    )
    yield application
    application.state.engine.dispose()


@pytest.fixture(scope="session")
def engine(app: FastAPI) -> Engine:
    result: Engine = app.state.engine
    return result


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as the suite's, dropped afterwards."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_database(name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class StartedClient(TestClient):
    """A client started when made: its app's lifespan has run and every request shares one
    event loop, as under a server. (A TestClient used without `with` runs each request on
    a loop of its own, and an async PostgreSQL pool opened on one can hang that loop's
    shutdown.) `with` closes it at the block's end; else the fixture does."""

    def start(self) -> "StartedClient":
        super().__enter__()
        self.started = True
        return self

    def __enter__(self) -> "StartedClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            self.started = False
            super().__exit__(*exc)


@pytest.fixture
def make_client() -> Iterator[Callable[[str], TestClient]]:
    """Build a started client for an app on another database (closed afterwards)."""
    clients: list[StartedClient] = []

    def build(url: str) -> TestClient:
        client = StartedClient(create_app(Settings(database_url=url))).start()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)
        client.app.state.engine.dispose()  # type: ignore[attr-defined]


def etag(row_id: int, version: int) -> str:
    """The ETag of one resource at a version, as the service writes it (app/web/caching.py)."""
    return f'"{row_id}.{version}"'


def wait_until_ready(server: "subprocess.Popen[Any]", base: str, log: Path, seconds: float) -> None:
    """Wait for a server we started to answer 200 on /readyz; fail with its log otherwise."""
    deadline = time.monotonic() + seconds
    while True:
        if server.poll() is not None:
            pytest.fail(f"the server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the server was not ready within {seconds:g} s:\n{log.read_text()}")
        time.sleep(0.2)
