"""Nothing that can scan runs on the event loop (the rule in app/reads.py).

Every statement SQLite runs is traced with the thread it runs on. After a round of public
reads (searches, sorts, counts, statistics, exports), each statement that ran on an event
loop's thread must be one SQLite's planner answers without a scan; and the scanning ones
this round asks for must have run, elsewhere. A route that reads with a scanning statement on
the loop, through the reader or a session, fails here.
"""

import asyncio
import sqlite3
from collections.abc import Callable
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, make_url

from app.config import Settings
from app.main import create_app
from app.reads import SQLiteReader

pytestmark = pytest.mark.only_on("sqlite")

READS = [
    "/api/v1/initiatives",
    "/api/v1/initiatives?sort=-title",
    "/api/v1/initiatives?q=" + quote("窓口 デジタル"),
    "/api/v1/search?q=" + quote("連携 推進"),
    "/api/v1/measures?q=" + quote("dx"),
    "/api/v1/initiatives?plan_id=1&limit=5&offset=5",
    "/api/v1/initiatives/3",
    "/api/v1/plans",
    "/api/v1/plans/1",
    "/api/v1/policies?plan_id=1",
    "/api/v1/measures?sort=-updated_at",
    "/api/v1/evaluations?fiscal_year=R6",
    "/api/v1/reports",
    "/api/v1/changes",
    "/api/v1/stats/achievement",
    "/api/v1/stats/achievement?plan_id=1&fiscal_year=2023",
    "/api/v1/stats/trend",
    "/api/v1/stats/summary",
    "/api/v1/stats/targets",
    "/api/v1/stats/plans",
    "/api/v1/export/initiatives.csv",
    "/api/v1/catalog",
]


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _scans(plan: list[str]) -> list[str]:
    return [
        step
        for step in plan
        if (step.startswith("SCAN ") and step != "SCAN CONSTANT ROW") or "TEMP B-TREE" in step
    ]


def test_statements_that_can_scan_run_off_the_event_loop(fresh_url: str) -> None:
    settings = Settings(database_url=fresh_url, answer_cache_bytes=0, stats_cache_size=0)
    application = create_app(settings)
    ran: list[tuple[bool, str]] = []

    def trace(connection: sqlite3.Connection) -> sqlite3.Connection:
        connection.set_trace_callback(lambda sql: ran.append((_on_a_loop(), sql)))
        return connection

    event.listen(application.state.engine, "connect", lambda dbapi, _: trace(dbapi))
    reader = application.state.reader
    assert isinstance(reader, SQLiteReader)
    connect: Callable[[], sqlite3.Connection] = reader.connect
    reader.connect = lambda: trace(connect())  # type: ignore[method-assign]

    with TestClient(application) as client:
        for path in READS:
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.text[:200])

    plans = sqlite3.connect(str(make_url(fresh_url).database))

    def plan_of(sql: str) -> list[str]:
        return [str(step[3]) for step in plans.execute(f"EXPLAIN QUERY PLAN {sql}")]

    # FTS5 reads its own settings (a few rows of ..._fts_config) when a statement that asks
    # a search's FTS5 table is first prepared on a connection: that is no scan of the data.
    selects = [
        (on_loop, sql)
        for on_loop, sql in ran
        if sql.lstrip().upper().startswith("SELECT") and "_fts_config'" not in sql
    ]
    on_loop = [(sql, _scans(plan_of(sql))) for loop, sql in selects if loop]
    off_loop = [sql for loop, sql in selects if not loop]
    assert [(sql, scans) for sql, scans in on_loop if scans] == []
    assert on_loop, "the point reads still run on the loop"
    # The round did ask for scans: a text search and a count ran, off the loop.
    assert any("LIKE" in sql for sql in off_loop)
    assert any("count(" in sql.lower() and _scans(plan_of(sql)) for sql in off_loop)
    application.state.engine.dispose()
