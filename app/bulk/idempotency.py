"""Idempotency-Key for bulk uploads: a retry of a request that succeeded replays its answer.

Keys are scoped to the token, method, path and query; kept 24 hours; stored in the database
so that any worker, after any restart, recognises a retry. Only a success is kept: a dry
run or an error is not, so a script can fix a row and send again with the same key.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.errors import Conflict, InvalidInput
from app.models import IdempotencyKey, idempotency_keys, utcnow

KEEP = timedelta(hours=24)


@dataclass(frozen=True)
class Replay:
    status: int
    body: str


def scope_of(actor: str, method: str, path: str, query: str) -> str:
    return hashlib.sha256("\n".join([actor, method, path, query]).encode()).hexdigest()


def digest(body: bytes, content_type: str) -> str:
    return hashlib.sha256(content_type.encode() + b"\n" + body).hexdigest()


def check_key(key: str) -> None:
    if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise InvalidInput.at(
            ["header", "Idempotency-Key"],
            "Idempotency-Key must be 1-255 printable ASCII characters",
        )


def claim(engine: Engine, scope: str, key: str, request_hash: str) -> Replay | int:
    """Claim the key for this request (its own committed transaction); return the claim's id,
    or the stored answer of the earlier request to replay. 409 while the first still runs."""
    now = utcnow()
    with Session(engine) as session:
        session.execute(delete(idempotency_keys).where(idempotency_keys.c.expires_at < now))
        session.commit()
        record = IdempotencyKey(
            scope=scope, key=key, request_hash=request_hash, state="running", expires_at=now + KEEP
        )
        session.add(record)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
        else:
            assert record.id is not None
            return record.id
        earlier = (
            session.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
                )
            )
            .mappings()
            .one()
        )
    if earlier["request_hash"] != request_hash:
        raise InvalidInput.at(
            ["header", "Idempotency-Key"],
            "this Idempotency-Key was used for another request body: use a new key",
        )
    if earlier["state"] != "done":
        raise Conflict("a request with this Idempotency-Key is still running: retry later")
    return Replay(earlier["response_status"], earlier["response_body"])


def complete(session: Session, claim_id: int, status: int, body: str) -> None:
    """Store the answer, in the transaction of the writes it describes."""
    session.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.id == claim_id)
        .values(state="done", response_status=status, response_body=body)
    )


def release(engine: Engine, claim_id: int) -> None:
    """Forget a claim whose request failed, so the same key may be sent again."""
    with Session(engine) as session:
        session.execute(delete(idempotency_keys).where(idempotency_keys.c.id == claim_id))
        session.commit()
