"""API tokens: made by the CLI, shown once, stored as a SHA-256 digest, looked up by it.

The secret is 256 random bits, so a fast digest is enough: there is nothing to brute-force,
and equal digests can be found with an index instead of comparing every row.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlmodel import Session

from app.models import ApiToken, api_tokens, utcnow

PREFIX = "ppa_"


class Role(StrEnum):
    editor = "editor"  # create, update and delete content; bulk uploads
    admin = "admin"  # also delete plans


@dataclass(frozen=True)
class Actor:
    """Who is writing: the token's name goes into the change log, never the secret."""

    name: str
    role: Role

    def may(self, role: Role) -> bool:
        return self.role is Role.admin or role is Role.editor


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenNameTaken(ValueError):
    pass


def create_token(
    session: Session, *, name: str, role: Role, expires_at: datetime | None = None
) -> str:
    """Store a new token and return its secret, which is not kept anywhere. A name is
    taken while a token of that name is in force (not revoked; an expired one still is,
    until revoked)."""
    in_force = select(api_tokens.c.id).where(
        api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None)
    )
    if session.scalar(in_force) is not None:
        raise TokenNameTaken(
            f"a token named {name!r} is in force; revoke it first to give the name again"
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, role=role.value, digest=digest(secret), expires_at=expires_at))
    session.commit()
    return secret


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def revoke_token(session: Session, *, name: str) -> bool:
    """Revoke the token called name; return whether there was one still in force."""
    result = session.execute(
        update(api_tokens)
        .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow(), version=api_tokens.c.version + 1, updated_at=utcnow())
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def find_actor(session: Session, secret: str) -> Actor | None:
    """Return who holds this secret, or None when it is unknown, expired or revoked."""
    row = session.execute(
        select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.expires_at).where(
            api_tokens.c.digest == digest(secret), api_tokens.c.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    expires_at = row.expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:  # SQLite gives naive datetimes back; they are UTC
            expires_at = expires_at.replace(tzinfo=utcnow().tzinfo)
        if expires_at <= utcnow():
            return None
    return Actor(name=row.name, role=Role(row.role))
