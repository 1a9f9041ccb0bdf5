"""The reads' connection pool on PostgreSQL (app/readpool.py), through PostgresReader as the
routes use it, and on its own where a race must be set up exactly. What clients see of it
(a 503 in an outage, the first reads after it answered) is in tests/test_faults.py."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy import func, make_url, select

from app.readpool import PoolTimeout, ReadPool
from app.reads import PostgresReader, Prepared
from tests.conftest import TEST_DATABASE_URL

pytestmark = pytest.mark.only_on("postgresql")

T = TypeVar("T")
PID = Prepared(select(func.pg_backend_pid().label("pid")))
SLEEP = Prepared(select(func.pg_sleep(0.05).label("slept")))
LONG_SLEEP = Prepared(select(func.pg_sleep(5).label("slept")))


def _conninfo() -> str:
    assert TEST_DATABASE_URL
    plain = make_url(TEST_DATABASE_URL).set(drivername="postgresql")
    return plain.render_as_string(hide_password=False)


def _run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(scenario(), 60))


def _reader(size: int, **settings: Any) -> tuple[PostgresReader, str]:
    """A reader whose connections carry a name of their own, to be found on the server."""
    name = f"readpool-{uuid.uuid4().hex[:12]}"
    connect_args = {"application_name": name, "connect_timeout": 2}
    reader = PostgresReader(_conninfo(), size, connect_args=connect_args, **settings)
    return reader, name


async def _backends(name: str) -> list[int]:
    """The server's backends of the connections named name."""
    async with await psycopg.AsyncConnection.connect(_conninfo(), autocommit=True) as admin:
        cursor = await admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [name]
        )
        return [pid for (pid,) in await cursor.fetchall()]


async def _terminate(pids: list[int]) -> None:
    async with await psycopg.AsyncConnection.connect(_conninfo(), autocommit=True) as admin:
        for pid in pids:
            await admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_many_reads_at_once_share_at_most_the_pools_connections() -> None:
    reader, name = _reader(3)

    async def scenario() -> tuple[list[Any], int, int, int, list[int]]:
        most = 0
        reads = [asyncio.create_task(reader.all(SLEEP)) for _ in range(40)]
        while not all(read.done() for read in reads):
            most = max(most, len(await _backends(name)))
        answers = [read.result() for read in reads]
        pool = reader._pool
        assert pool is not None
        out, opened = pool.out, pool.opened
        still = await _backends(name)
        await reader.close()
        return answers, most, out, opened, still

    answers, most, out, opened, still = _run(scenario)
    assert len(answers) == 40 and all(answer == [{"slept": ""}] for answer in answers)
    assert 1 <= most <= 3, most
    assert (out, opened, len(still)) == (0, 3, 3)


def test_a_read_waiting_past_its_deadline_fails_quickly_and_the_next_read_is_served() -> None:
    reader, _name = _reader(1, wait_timeout=0.3)

    async def scenario() -> tuple[float, BaseException | None, list[Any]]:
        holding = asyncio.create_task(reader.all(Prepared(select(func.pg_sleep(0.8)))))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        failed = None
        try:
            await reader.all(PID)
        except PoolTimeout as error:
            failed = error
        waited = time.monotonic() - started
        await holding
        after = await reader.all(PID)
        await reader.close()
        return waited, failed, after

    waited, failed, after = _run(scenario)
    assert isinstance(failed, PoolTimeout)
    assert 0.25 < waited < 0.6, waited
    assert len(after) == 1


def test_after_a_lost_connection_no_dead_connection_answers_a_read() -> None:
    """Every pooled connection dies while idle (a restart of the server): each later read
    still answers, from a new backend, the first by running once more."""
    reader, name = _reader(3)

    async def scenario() -> tuple[list[int], list[int]]:
        await asyncio.gather(*(reader.all(SLEEP) for _ in range(3)))
        before = await _backends(name)
        await _terminate(before)
        await asyncio.sleep(0.1)
        after = [(await reader.all(PID))[0]["pid"] for _ in range(4)]
        await reader.close()
        return before, after

    before, after = _run(scenario)
    assert len(before) == 3
    assert not set(after) & set(before), (before, after)


def test_a_read_cancelled_mid_statement_gives_its_connection_back_ready() -> None:
    """The client went away while its statement ran: the next read is answered at once, on
    the one connection of the pool, not after the cancelled statement's 5 seconds (psycopg
    cancels the statement on the server; a connection still busy would be closed)."""
    reader, _name = _reader(1)

    async def scenario() -> tuple[float, int, int]:
        cancelled = asyncio.create_task(reader.all(LONG_SLEEP))
        await asyncio.sleep(0.2)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        started = time.monotonic()
        await reader.all(PID)
        took = time.monotonic() - started
        pool = reader._pool
        assert pool is not None
        opened, out = pool.opened, pool.out
        await reader.close()
        return took, opened, out

    took, opened, out = _run(scenario)
    assert took < 2, took
    assert (opened, out) == (1, 0)


def test_a_read_cancelled_as_a_connection_is_handed_to_it_does_not_lose_it() -> None:
    pool = ReadPool(_conninfo(), 1)

    async def scenario() -> tuple[bool, bool, int, int]:
        loop = asyncio.get_running_loop()
        held = await pool.take(loop.time() + 5)
        waiting = asyncio.create_task(pool.take(loop.time() + 5))
        await asyncio.sleep(0.05)  # it waits in the queue
        pool.give(held)  # handed to the waiting read...
        waiting.cancel()  # ...which is cancelled before it runs again
        with pytest.raises(asyncio.CancelledError):
            await waiting
        started = loop.time()
        again = await pool.take(started + 1)
        at_once = loop.time() - started < 0.1
        same = again is held
        pool.give(again)
        out, opened = pool.out, pool.opened
        await pool.close()
        return same, at_once, out, opened

    same, at_once, out, opened = _run(scenario)
    assert same and at_once
    assert (out, opened) == (0, 1)


def test_a_connection_retires_after_its_lifetime() -> None:
    async def pids(pool: ReadPool) -> list[int]:
        loop = asyncio.get_running_loop()
        seen = []
        for _ in range(3):
            connection = await pool.take(loop.time() + 5)
            seen.append(connection.info.backend_pid)
            pool.give(connection)
        await pool.close()
        return seen

    kept = _run(lambda: pids(ReadPool(_conninfo(), 2)))
    retired = _run(lambda: pids(ReadPool(_conninfo(), 2, max_lifetime=0)))
    assert len(set(kept)) == 1
    assert len(set(retired)) == 3


def test_closing_the_pool_fails_the_waiting_reads_and_closes_what_comes_back() -> None:
    pool = ReadPool(_conninfo(), 1)

    async def scenario() -> tuple[BaseException | None, bool, int]:
        loop = asyncio.get_running_loop()
        held = await pool.take(loop.time() + 5)
        waiting = asyncio.create_task(pool.take(loop.time() + 5))
        await asyncio.sleep(0.05)
        await pool.close()
        failed = None
        try:
            await waiting
        except PoolTimeout as error:
            failed = error
        pool.give(held)
        return failed, held.closed, pool.opened

    failed, closed, opened = _run(scenario)
    assert isinstance(failed, PoolTimeout)
    assert closed
    assert opened == 0


def test_a_pool_left_behind_by_its_event_loop_closes_its_connections() -> None:
    """Each test client runs its own event loop, and a reader's pool belongs to one: the
    reader opens a new pool on the next loop and closes the idle connections of the old,
    whose loop is gone."""
    reader, name = _reader(2)

    async def read() -> None:
        await asyncio.gather(reader.all(SLEEP), reader.all(SLEEP))

    _run(read)
    first = reader._pool
    before = _run(lambda: _backends(name))
    _run(read)
    after = _run(lambda: _backends(name))
    _run(reader.close)
    assert first is not None and first.closed and first.opened == 0
    assert len(before) == 2 and len(after) == 2
    assert not set(after) & set(before), (before, after)
