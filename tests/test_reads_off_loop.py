"""The event loop runs only cheap statements (the rule in app/reads.py).

A statement runs on the loop until SQLite has taken `loop_steps` steps of its virtual machine
for it; one still running then is stopped and run again, from the start, in a worker thread.
Every statement SQLite runs is traced with the thread it runs on: a cheap one runs once, on
the loop; a costly one starts on the loop and runs to its end in a worker; a client sees the
same answers either way.
"""

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import literal_column, select, text

from app.config import Settings
from app.main import create_app
from app.reads import LOOP_STEPS, Prepared, SQLiteReader

pytestmark = pytest.mark.only_on("sqlite")

READS = [
    "/api/v1/initiatives",
    "/api/v1/initiatives?sort=-title",
    "/api/v1/initiatives?q=" + quote("窓口 デジタル"),
    "/api/v1/search?q=" + quote("連携 推進"),
    "/api/v1/measures?q=" + quote("dx"),
    "/api/v1/initiatives?plan_id=1&limit=5&offset=5",
    "/api/v1/initiatives?status=achieved&fiscal_year=R6",
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

# 200,000 rows made up by SQLite: far more steps than LOOP_STEPS, and a known answer.
COSTLY = Prepared(
    text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)"
        " SELECT count(*) AS rows_made FROM n"
    )
)
CHEAP = Prepared(select(literal_column("1").label("one")))
# Some 5,000 steps: cheap, but four runs of it take more than LOOP_STEPS.
FEW_ROWS = Prepared(
    text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)"
        " SELECT count(*) AS rows_made FROM n"
    )
)


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


Trace = list[tuple[bool, str]]


def traced(reader: SQLiteReader) -> Trace:
    """Note each statement the reader's connections run, and whether on an event loop."""
    ran: Trace = []
    connect: Callable[[], sqlite3.Connection] = reader.connect

    def tracing() -> sqlite3.Connection:
        connection = connect()
        connection.set_trace_callback(lambda sql: ran.append((_on_a_loop(), sql)))
        return connection

    reader.connect = tracing  # type: ignore[method-assign]
    return ran


def _selects(ran: Trace) -> Trace:
    # FTS5 reads its own settings (a few rows of ..._fts_config) when a statement that asks
    # a search's FTS5 table is first prepared on a connection: not a statement of ours.
    return [
        (loop, sql)
        for loop, sql in ran
        if sql.lstrip().upper().startswith(("SELECT", "WITH")) and "_fts_config'" not in sql
    ]


def test_a_cheap_statement_stays_on_the_loop_and_a_costly_one_moves_to_a_thread(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reads.db"
    sqlite3.connect(path).close()
    reader = SQLiteReader(path=str(path), busy_timeout_ms=1000)
    ran = traced(reader)

    async def read() -> tuple[object, object, list[list[dict[str, object]]], object]:
        try:
            cheap = await reader.scalar(CHEAP)
            costly = await reader.all(COSTLY)
            both = await reader.batch((CHEAP, {}), (COSTLY, {}), (CHEAP, {}))
            scalar = await reader.scalar(COSTLY)
            return cheap, costly, both, scalar
        finally:
            await reader.close()

    cheap, costly, both, scalar = asyncio.run(read())
    assert cheap == 1
    assert costly == [{"rows_made": 200000}]
    assert both == [[{"one": 1}], [{"rows_made": 200000}], [{"one": 1}]]
    assert scalar == 200000
    where = [(loop, "WITH" if sql.startswith("WITH") else "one") for loop, sql in _selects(ran)]
    assert where == [
        (True, "one"),  # scalar(CHEAP): on the loop, once
        (True, "WITH"),  # all(COSTLY): stopped on the loop ...
        (False, "WITH"),  # ... and run to its end in a worker
        (True, "one"),  # batch: the first on the loop,
        (True, "WITH"),  # the second stopped there,
        (False, "WITH"),  # and from it on, everything in a worker
        (False, "one"),
        (True, "WITH"),  # scalar(COSTLY) the same way
        (False, "WITH"),
    ]


def test_each_run_of_a_statement_has_the_whole_budget(tmp_path: Path) -> None:
    """SQLite counts a cached statement's steps over all its runs: the budget is per run."""
    path = tmp_path / "reads.db"
    sqlite3.connect(path).close()
    reader = SQLiteReader(path=str(path), busy_timeout_ms=1000)
    ran = traced(reader)

    async def read() -> list[object]:
        try:
            return [await reader.all(FEW_ROWS) for _ in range(20)]
        finally:
            await reader.close()

    assert asyncio.run(read()) == [[{"rows_made": 300}]] * 20
    assert [loop for loop, _ in _selects(ran)] == [True] * 20


def _open_files(path: Path) -> int:
    return sum(
        1 for fd in Path("/proc/self/fd").iterdir() if str(path) in str(fd.resolve(strict=False))
    )


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
def test_statements_stopped_on_the_loop_leave_no_connection_open(tmp_path: Path) -> None:
    # After a stop the loop's connection is replaced (app/reads.py): the old one is closed.
    path = tmp_path / "reads.db"
    sqlite3.connect(path).close()
    reader = SQLiteReader(path=str(path), busy_timeout_ms=1000, workers=1)
    ran = traced(reader)

    async def read() -> tuple[list[object], int]:
        try:
            answers: list[object] = []
            for _ in range(10):
                answers.append(await reader.all(COSTLY))
                answers.append(await reader.scalar(CHEAP))
            return answers, _open_files(path)
        finally:
            await reader.close()

    answers, open_files = asyncio.run(read())
    assert answers == [[{"rows_made": 200000}], 1] * 10
    assert [loop for loop, _ in _selects(ran)] == [True, False, True] * 10
    assert open_files <= 2  # the loop's connection and the worker's
    assert _open_files(path) == 0


def _answers(fresh_url: str, loop_steps: int) -> tuple[dict[str, tuple[int, bytes]], Trace]:
    settings = Settings(database_url=fresh_url, answer_cache_bytes=0, stats_cache_size=0)
    application = create_app(settings)
    reader = application.state.reader
    assert isinstance(reader, SQLiteReader)
    reader.loop_steps = loop_steps
    ran = traced(reader)
    with TestClient(application) as client:
        answers = {}
        for path in READS:
            answer = client.get(path)
            answers[path] = (answer.status_code, answer.content)
    application.state.engine.dispose()
    return answers, _selects(ran)


def test_every_read_answers_the_same_whether_its_statements_run_on_the_loop_or_not(
    fresh_url: str,
) -> None:
    usual, ran = _answers(fresh_url, LOOP_STEPS)
    # With a budget of 100 steps nearly every statement is stopped and run again in a
    # worker thread: the answers must not change.
    moved, ran_moved = _answers(fresh_url, 100)
    assert {path: status for path, (status, _) in usual.items()} == dict.fromkeys(READS, 200)
    assert moved == usual
    assert sum(not loop for loop, _ in ran_moved) >= len(READS) // 2
    # On the seeded plan every read is cheap: a list's page and its count, the statistics
    # and the searches all run on the loop, none in a worker.
    assert ran and all(loop for loop, _ in ran), [sql for loop, sql in ran if not loop]
