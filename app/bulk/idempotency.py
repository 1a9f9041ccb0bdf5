"""Idempotency-Key for bulk uploads: a retry of a request that succeeded replays its answer.

Keys are scoped to the token, method, path and query; kept 24 hours; stored in the database
so that any worker, after any restart, recognises a retry. Only a success is kept: a dry
run or an error is not, so a script can fix a row and send again with the same key.

The key and its answer are written in the upload's own transaction, after the write lock
that every writer takes first (app/bulk/service.py). So a key is stored exactly when its rows
are: a crash or an error mid-upload rolls both back, and the resend runs afresh. A resend
that comes while the first still runs is told so (409, with Retry-After) at once: the first
holds a claim on the key that ends with it, however it ends (app/bulk/inflight.py). Sent
again after that, it replays the first's answer, or runs if the first failed.
"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, insert, select
from sqlmodel import Session

from app.bulk import inflight
from app.db import begin_write
from app.errors import Conflict, InvalidInput
from app.models import idempotency_keys, utcnow

KEEP = timedelta(hours=24)


@dataclass(frozen=True)
class Replay:
    status: int
    body: str


@dataclass(frozen=True)
class Key:
    """A request's key, where it applies (token, method, path, query) and its body's digest."""

    scope: str
    key: str
    request_hash: str


def key_of(key: str, actor: str, path: str, query: str, body: bytes, content_type: str) -> Key:
    """The request's key, or 422 for a malformed one."""
    if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise InvalidInput.at(
            ["header", "Idempotency-Key"],
            "Idempotency-Key must be 1-255 printable ASCII characters",
        )
    scope = hashlib.sha256("\n".join([actor, "POST", path, query]).encode()).hexdigest()
    request_hash = hashlib.sha256(content_type.encode() + b"\n" + body).hexdigest()
    return Key(scope, key, request_hash)


KEY_IN_USE = (
    "an upload with this Idempotency-Key is still running: send it again in a moment, with"
    " the same key, to get its answer"
)


class KeyInUse(Conflict):
    slug = "idempotency-key-in-use"
    headers = {"Retry-After": "1"}  # noqa: RUF012 (read only; sent with the problem)


@contextmanager
def writing(session: Session, key: Key | None) -> Iterator[None]:
    """Begin the upload's write transaction, holding its key's claim until the upload ends;
    409 when an upload with the same key is running."""
    if key is None:
        begin_write(session)
        yield
        return
    with inflight.alone(session, f"{key.scope}\n{key.key}") as alone:
        if not alone:
            raise KeyInUse(KEY_IN_USE)
        yield


def earlier_answer(session: Session, key: Key) -> Replay | None:
    """The stored answer to replay for this key, or None to run the request. Call it inside
    `writing` and holding the write lock: an upload with the same key has then ended, and
    what it wrote is what this transaction reads."""
    earlier = (
        session.execute(
            select(idempotency_keys).where(
                idempotency_keys.c.scope == key.scope,
                idempotency_keys.c.key == key.key,
                idempotency_keys.c.expires_at >= utcnow(),
            )
        )
        .mappings()
        .one_or_none()
    )
    if earlier is None:
        return None
    if earlier["request_hash"] != key.request_hash:
        raise InvalidInput.at(
            ["header", "Idempotency-Key"],
            "this Idempotency-Key was used for another request body: use a new key",
        )
    return Replay(earlier["response_status"], earlier["response_body"])


def keep(session: Session, key: Key, status: int, body: str) -> None:
    """Store the answer, in the transaction of the writes it describes; forget expired keys."""
    now = utcnow()
    session.execute(delete(idempotency_keys).where(idempotency_keys.c.expires_at < now))
    session.execute(
        insert(idempotency_keys).values(
            scope=key.scope,
            key=key.key,
            request_hash=key.request_hash,
            response_status=status,
            response_body=body,
            created_at=now,
            expires_at=now + KEEP,
        )
    )
