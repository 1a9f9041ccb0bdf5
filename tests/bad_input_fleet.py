"""The databases the bad-input cases run on (see Fleet), and sending and judging one case."""

import hashlib
import json
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, MetaData, Table, make_url, select, text
from sqlmodel import Session

from app.auth.tokens import Role, create_token
from app.config import Settings
from app.main import create_app
from app.models import initiatives, measures, plans, policies, reports
from tests.bad_input_table import (
    API,
    LEAKS,
    MISSING,
    OTHER_PLAN,
    PROBLEM,
    ROUTES,
    SEED_PLAN,
    Case,
    Env,
)
from tests.conftest import TEST_DATABASE_URL, Api, _admin_engine, _pg_database

# ============================================================================================
# Databases: one per write route, one for the reads; a fresh copy after a case changed one
# ============================================================================================


def table_digests(engine: Engine, tables: Sequence[Table]) -> dict[str, str]:
    """A digest of each table's rows, in primary-key order (every column when it has none).

    Plain SQL through the driver: the rows as the database holds them, and cheap enough to
    take around every case."""
    quoted = engine.dialect.identifier_preparer.quote
    digests = {}
    with engine.connect() as connection:
        for table in tables:
            order = ", ".join(
                quoted(column.name)
                for column in (list(table.primary_key.columns) or list(table.columns))
            )
            found = connection.exec_driver_sql(
                f"SELECT * FROM {quoted(table.name)} ORDER BY {order}"
            ).fetchall()
            plain = repr([tuple(values) for values in found])  # (a Row's repr is slow)
            digests[table.name] = hashlib.sha256(plain.encode()).hexdigest()
    return digests


# Search's FTS5 tables on SQLite (and FTS5's own behind them): triggers write them with their
# tables, and a row written into one directly would break the index.
SEARCH_INDEXES = ("initiatives_fts", "evaluations_fts")


def reflect(engine: Engine) -> list[Table]:
    """Every table the database has (the migrations' bookkeeping included), parents first;
    not search's indexes, which follow their tables."""
    metadata = MetaData()
    metadata.reflect(bind=engine, only=lambda name, _: not name.startswith(SEARCH_INDEXES))
    return list(metadata.sorted_tables)


def checksum(engine: Engine) -> str:
    """A digest of every table's rows: the same before and after a refused request."""
    digests = table_digests(engine, reflect(engine))
    return hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()


Snapshot = dict[str, list[dict[str, Any]]]


def take_snapshot(engine: Engine, tables: Sequence[Table]) -> Snapshot:
    with engine.connect() as connection:
        return {t.name: [dict(r) for r in connection.execute(select(t)).mappings()] for t in tables}


def put_back(engine: Engine, tables: Sequence[Table], snapshot: Snapshot) -> None:
    """Make every table hold the snapshot's rows again (children emptied first)."""
    with engine.begin() as connection:
        for table in reversed(tables):
            connection.execute(table.delete())
        for table in tables:
            if snapshot[table.name]:
                connection.execute(table.insert(), snapshot[table.name])


@dataclass
class Source:
    """A prepared database that environments are copies of, with what they need to know."""

    url: str
    ids: dict[str, int]
    editor: str = ""
    admin: str = ""


class Fleet:
    """The databases the cases run on, made as the `api` fixture makes its own: copies.

    The reads share a copy of the seeded template; the writes share a copy of a template of
    their own made from it (the seed, tokens, and a second plan for cross-plan references).
    A case that changed its database spoils it: before the next case, every table gets the
    rows it had back, and the digest must then be the one it started with (if it is not, the
    database is replaced by a fresh copy). So every case starts from the same rows, as with
    a copy per case, at the cost of a few statements only when a case wrote something.
    """

    def __init__(self, template_url: str, workdir: Path) -> None:
        self.template_url = template_url
        self.workdir = workdir
        self.envs: dict[str, Env] = {}
        self.sources: dict[str, Source] = {}
        self.copies = self.restores = 0
        self._admin = _admin_engine() if TEST_DATABASE_URL else None
        self._dropped: list[str] = []  # PostgreSQL databases to drop at the end
        self._close: list[Callable[[], None]] = []

    def get(self, group: str) -> Env:
        env = self.envs.get(group)
        if env is not None and env.spoiled:
            self.restores += 1
            put_back(env.api.engine, env.tables, env.snapshot)
            env.spoiled = table_digests(env.api.engine, env.tables) != env.baseline
        if env is None or env.spoiled:
            env = self.envs[group] = self._make(self._source(group))
        return env

    def close(self) -> None:
        while self._close:
            self._close.pop()()
        if self._admin is not None:
            with self._admin.connect() as connection:
                for name in self._dropped:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            self._admin.dispose()

    def _copy(self, url: str) -> str:
        self.copies += 1
        if self._admin is None:
            path = self.workdir / f"bad-input-{self.copies}.db"
            shutil.copy(make_url(url).database or "", path)
            return f"sqlite:///{path}"
        name = f"badinput_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as connection:
            template = make_url(url).database
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        self._dropped.append(name)
        return _pg_database(name)

    def _source(self, group: str) -> Source:
        if group not in self.sources:
            url = self._copy(self.template_url)
            application = create_app(Settings(database_url=url))
            engine: Engine = application.state.engine
            source = Source(url, seeded_ids(engine))
            if group == "writes":
                with Session(engine) as session:
                    source.editor = create_token(session, name="editor", role=Role.editor)
                    source.admin = create_token(session, name="admin", role=Role.admin)
                with TestClient(application) as client:
                    source.ids |= other_plan(client, {"Authorization": f"Bearer {source.editor}"})
            engine.dispose()  # a PostgreSQL template must have no session open
            self.sources[group] = source
        return self.sources[group]

    def _make(self, source: Source) -> Env:
        application = create_app(Settings(database_url=self._copy(source.url)))
        engine: Engine = application.state.engine
        self._close.append(engine.dispose)
        client = TestClient(application, raise_server_exceptions=False)
        client.__enter__()
        self._close.append(lambda: client.__exit__(None, None, None))
        api = Api(
            client=client,
            engine=engine,
            editor={"Authorization": f"Bearer {source.editor}"},
            admin={"Authorization": f"Bearer {source.admin}"},
        )
        tables = reflect(engine)
        return Env(
            api=api,
            ids=dict(source.ids),
            tables=tables,
            baseline=table_digests(engine, tables),
            snapshot=take_snapshot(engine, tables),
        )


def seeded_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        plan = connection.scalar(select(plans.c.id).where(plans.c.slug == SEED_PLAN))
        numbered = dict(
            connection.execute(
                select(policies.c.number, policies.c.id).where(policies.c.plan_id == plan)
            ).all()
        )
        in_first = dict(
            connection.execute(
                select(measures.c.number, measures.c.id).where(measures.c.policy_id == numbered[1])
            ).all()
        )
        codes = dict(
            connection.execute(
                select(initiatives.c.code, initiatives.c.id).where(initiatives.c.plan_id == plan)
            ).all()
        )
        report = connection.scalar(select(reports.c.id).where(reports.c.plan_id == plan))
    assert plan and report, "the seeded plan and its report"
    return {
        "plan": plan,
        "policy": numbered[1],
        "measure": in_first[1],
        "initiative": codes["R6-7"],
        "report": report,
        "missing": MISSING,
    }


def other_plan(client: TestClient, editor: dict[str, str]) -> dict[str, int]:
    """A second plan with a policy, a measure and an initiative, for cross-plan references."""

    def create(path: str, body: dict[str, Any]) -> int:
        response = client.post(f"{API}/{path}", json=body, headers=editor)
        assert response.status_code == 201, response.text
        created: int = response.json()["id"]
        return created

    plan = create(
        "plans",
        {
            "slug": OTHER_PLAN,
            "title": "別の市の行政経営プラン",
            "municipality_code": "172065",
            "municipality_name": "白山市",
            "start_fiscal_year": 2023,
            "end_fiscal_year": 2026,
        },
    )
    policy = create("policies", {"plan_id": plan, "number": 1, "title": "別の基本方針"})
    measure = create("measures", {"policy_id": policy, "number": 1, "title": "別の施策"})
    initiative = create("initiatives", {"measure_id": measure, "code": "R6-1", "title": "別の取組"})
    return {
        "other_plan": plan,
        "other_policy": policy,
        "other_measure": measure,
        "other_initiative": initiative,
    }


def send(env: Env, case: Case) -> httpx.Response:
    headers = dict(case.headers)
    if case.method != "GET":
        role = next(r.role for r in ROUTES if r.key == case.route)
        headers |= env.api.admin if role == "admin" else env.api.editor
    content = None
    if case.body is not None:
        content = case.body.render(env.ids)
        if case.content_type:
            headers["Content-Type"] = case.content_type
    response: httpx.Response = env.api.client.request(
        case.method, case.url.format(**env.ids), content=content, headers=headers
    )
    return response


def judge(case: Case, response: httpx.Response) -> list[str]:
    """What is wrong with the answer (nothing: an empty list)."""
    wrong = []
    if response.status_code != case.status:
        wrong.append(f"status {response.status_code}, expected {case.status}")
    if response.status_code >= 400:
        media = response.headers.get("content-type", "")
        if not media.startswith(PROBLEM):
            wrong.append(f"Content-Type {media!r}, expected {PROBLEM}")
        try:
            body = response.json()
        except ValueError:
            wrong.append("the problem body is not JSON")
        else:
            if not isinstance(body, dict) or body.get("status") != response.status_code:
                wrong.append("the problem's `status` is not the HTTP status")
        text = response.text.lower()
        wrong += [f"the problem shows {leak!r}" for leak in LEAKS if leak.lower() in text]
    return wrong
