"""Fixtures: a migrated and seeded database (SQLite, or PostgreSQL via TEST_DATABASE_URL).

Run the suite against PostgreSQL with
    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make test
"""

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, make_url, text
from sqlmodel import Session

from app import migrate
from app.config import Settings
from app.main import create_app
from app.seed import seed

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database the API tests share: migrated to head and seeded once per run."""
    if TEST_DATABASE_URL:
        _reset_postgres(TEST_DATABASE_URL)
        url = TEST_DATABASE_URL
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as session:
        seed(session)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[FastAPI]:
    application = create_app(Settings(database_url=database_url))
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
    base = make_url(TEST_DATABASE_URL)
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def make_client() -> Iterator[Callable[[str], TestClient]]:
    """Build a client for an app on another database (closed afterwards)."""
    apps: list[FastAPI] = []

    def build(url: str) -> TestClient:
        application = create_app(Settings(database_url=url))
        apps.append(application)
        return TestClient(application)

    yield build
    for application in apps:
        application.state.engine.dispose()
