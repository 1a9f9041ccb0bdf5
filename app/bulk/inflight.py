"""Which uploads are running now, across every worker, so that a resend of one that is still
running can be told so (409, API.md) instead of waiting for it or running it twice.

A claim must end when its upload ends, however it ends: a commit, an error, or a worker killed
mid-write. (A key once stayed "running" for a day after a crash, because a row said so.) So no
row says "running"; a lock that ends with its holder does:

- PostgreSQL: a transaction-level advisory lock, taken in the upload's own transaction. Its
  commit or rollback lets go of it, and so does the server when the connection ends.
- SQLite: one byte of a lock file beside the database (`<database>-uploads.lock`), locked
  with fcntl while the upload runs. The kernel lets go when the process ends. Such locks
  belong to the process, not the thread, so a set in the process stands in for its threads.
  An in-memory database, or a system without fcntl, has the set alone: one process is all
  that can open it anyway.
"""

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select
from sqlmodel import Session

from app.db import begin_write

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


def number_of(name: str) -> int:
    """63 bits of the name's digest: a PostgreSQL bigint, or a byte offset in the lock file."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


@contextmanager
def alone(session: Session, name: str) -> Iterator[bool]:
    """Begin the session's write transaction as the only upload named name, and yield True;
    yield False when another such upload is running (on SQLite having begun nothing, as
    BEGIN IMMEDIATE could wait; on PostgreSQL the caller's rollback ends the transaction)."""
    number = number_of(name)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        begin_write(session)
        yield bool(session.execute(select(func.pg_try_advisory_xact_lock(number))).scalar_one())
        return
    claims = _claims_of(bind.engine.url.database)
    if not claims.claim(number):
        yield False
        return
    try:
        begin_write(session)  # BEGIN IMMEDIATE: after the claim, as it may wait for a writer
        yield True
    finally:
        claims.release(number)


class _LockFile:
    """The claims of one process on one SQLite database."""

    def __init__(self, path: str | None) -> None:
        self._path = path
        self._fd: int | None = None
        self._held: set[int] = set()
        self._guard = threading.Lock()

    def claim(self, number: int) -> bool:
        with self._guard:
            if number in self._held:
                return False
            fd = self._file()
            if fd is not None:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, number)
                except OSError:  # EAGAIN or EACCES: another process holds that byte
                    return False
            self._held.add(number)
            return True

    def release(self, number: int) -> None:
        with self._guard:
            self._held.discard(number)
            if self._fd is not None:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, number)

    def _file(self) -> int | None:
        """The lock file, opened once and never closed: closing any descriptor of a file
        drops every fcntl lock the process holds on it."""
        if self._fd is None and self._path is not None and fcntl is not None:
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                log.warning(
                    "cannot open %s (%s): uploads are told apart in this process only",
                    self._path,
                    error.strerror,
                )
                self._path = None
        return self._fd


_files: dict[tuple[int, str | None], _LockFile] = {}
_files_guard = threading.Lock()


def _claims_of(database: str | None) -> _LockFile:
    path = None
    if database and database != ":memory:" and not database.startswith("file:"):
        path = os.path.abspath(database) + "-uploads.lock"
    with _files_guard:  # per process: a forked child holds none of its parent's locks
        return _files.setdefault((os.getpid(), path), _LockFile(path))
