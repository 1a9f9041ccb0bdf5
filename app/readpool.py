"""The connections of the reads on PostgreSQL (app/reads.py, PostgresReader).

Why not psycopg_pool: a read of one initiative costs some 700,000 instructions in the
process, and taking a connection from psycopg_pool's AsyncConnectionPool and giving it back
cost 94,000 of them (13 %; callgrind, 2026-12-07, bench/README.md). Its getconn and putconn
take an asyncio lock each, keep statistics, run a reset check and, when every connection is
out, queue the request behind a condition with a timer of its own; a pool that cannot connect
also waits ever longer between its attempts (1, 2, 4... s), which the reader had to work
around by opening a new pool. What the reads need is less:

- at most `size` connections, opened when a read needs one and none is idle, in the read's
  own time: a read that cannot get one by its deadline fails with PoolTimeout (a 503,
  app/web/faults.py), whatever the database is doing;
- a connection is given back idle, or it is closed: one that was lost, that a cancelled read
  left in the middle of a statement, or that has lived `max_lifetime` seconds;
- `discard_idle()`, for a read that found its connection lost: the outage that killed it
  most likely killed the idle ones too, so they are closed rather than handed to the next
  reads (new ones are opened on demand; each is some milliseconds, once).

The reads waiting for a connection form a queue in arrival order, so with one timeout for
all their deadlines are in the same order: one timer, set for the first deadline, serves
the whole queue, instead of one timer per waiting read.

One event loop: a pool belongs to the loop it first ran on (PostgresReader makes one per loop).
"""

import asyncio
import random
import time
from collections import deque
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus

Connection = AsyncConnection[Any]


class PoolTimeout(psycopg.OperationalError):
    """No connection for a read by its deadline: every one was busy, or the database could
    not be reached (a 503, app/web/faults.py)."""


# A connection is closed after about an hour (psycopg_pool's default), a little sooner or later
# for each so that a pool's connections, opened together, are not all closed together.
MAX_LIFETIME = 3600.0
LIFETIME_JITTER = 0.05


class ReadPool:
    """Connections for reads, handed to one read at a time (see the module's docstring)."""

    def __init__(
        self,
        conninfo: str,
        size: int,
        connect_args: dict[str, Any] | None = None,
        max_lifetime: float = MAX_LIFETIME,
    ) -> None:
        self.conninfo = conninfo
        self.size = size
        self.connect_args = {"autocommit": True, **(connect_args or {})}
        self.max_lifetime = max_lifetime
        self.out = 0  # connections handed to reads now
        self.opened = 0  # connections open or being opened (at most size)
        self.closed = False
        self._idle: list[Connection] = []  # a stack: the most recently used is taken first
        self._expires: dict[Connection, float] = {}  # when each open connection retires
        # Reads waiting for a connection: (deadline, future) in arrival order, so in order of
        # deadline. A future's result is a connection, or None: "open one yourself".
        self._waiting: deque[tuple[float, asyncio.Future[Connection | None]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    async def take(self, deadline: float) -> Connection:
        """A connection for one read, by deadline (the loop's time) or PoolTimeout."""
        if self.closed:
            raise PoolTimeout("the pool is closed")
        if self._idle:
            self.out += 1
            return self._idle.pop()
        if self.opened < self.size:
            self.opened += 1
            return await self._open(deadline)
        connection = await self._wait(deadline)
        if connection is None:  # a connection was closed, and its place passed to this read
            return await self._open(deadline)
        self.out += 1
        return connection

    def give(self, connection: Connection) -> None:
        """Take back a connection from a read: to the next waiting read, or idle, or closed."""
        self.out -= 1
        if (
            self.closed
            or connection.closed
            or connection.pgconn.transaction_status != TransactionStatus.IDLE
            or time.monotonic() >= self._expires.get(connection, 0.0)
        ):
            self._close(connection)
            return
        while self._waiting:
            _deadline, waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def discard_idle(self) -> None:
        """Close every idle connection (see the module's docstring)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            self._close(connection)

    def abandon(self) -> None:
        """Close the idle connections now, and each one given back from now on: for a pool
        left behind because its event loop is gone, which close() cannot run on."""
        self.closed = True
        self.discard_idle()

    async def close(self) -> None:
        """Close the idle connections, and each one given back from now on; the waiting
        reads fail with PoolTimeout."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiting:
            _deadline, waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(PoolTimeout("the pool is closed"))
        self.discard_idle()

    async def _open(self, deadline: float) -> Connection:
        """A new connection, in a place already counted in `opened` (so that no more than
        size are ever open or opening); the place is passed on if it cannot connect."""
        try:
            async with asyncio.timeout_at(deadline):
                connection = await AsyncConnection.connect(self.conninfo, **self.connect_args)
        except BaseException as error:
            self._free_place()
            if isinstance(error, TimeoutError):
                raise PoolTimeout("no connection to the database by the deadline") from None
            raise
        if self.closed:  # closed while this one was connecting
            self.opened -= 1
            await connection.close()
            raise PoolTimeout("the pool is closed")
        # What psycopg_pool marks its connections with: psycopg then takes one collected
        # while open (a pool never closed, in a test) for a pool's, and does not warn.
        connection._pool = self
        lifetime = self.max_lifetime * (1 + random.uniform(-LIFETIME_JITTER, LIFETIME_JITTER))
        self._expires[connection] = time.monotonic() + lifetime
        self.out += 1
        return connection

    async def _wait(self, deadline: float) -> Connection | None:
        """Wait in the queue for a connection given back (or for a place to open one)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Connection | None] = loop.create_future()
        self._waiting.append((deadline, waiter))
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Cancelled (the client went away) just as a connection was handed over: it must
            # not be lost with the read.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()
                if handed is None:
                    self._free_place()
                else:
                    self.out += 1  # counted as this read's, then given back
                    self.give(handed)
            raise

    def _expire(self) -> None:
        """The timer: fail the waiting reads whose deadline has come, and set the timer for
        the next one's."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._waiting and (self._waiting[0][1].done() or self._waiting[0][0] <= now):
            _deadline, waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(
                    PoolTimeout(f"no connection free by the deadline ({self.size} in use)")
                )
        if self._waiting:
            self._timer = loop.call_at(self._waiting[0][0], self._expire)

    def _close(self, connection: Connection) -> None:
        """Close a connection, and free its place. Closing needs no answer from the server:
        it is what AsyncConnection.close does, without a coroutine (no waiting here)."""
        self._expires.pop(connection, None)
        if not connection.closed:
            connection.pgconn.finish()
        self._free_place()

    def _free_place(self) -> None:
        """A place came free: it passes to the first waiting read, which opens a connection
        in it; with no read waiting, there is one connection fewer."""
        if not self.closed:
            while self._waiting:
                _deadline, waiter = self._waiting.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self.opened -= 1
